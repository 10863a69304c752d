"""Running exported TF.js graph models in Node.js (@tensorflow/tfjs), where the tests can: .ci/run installs it."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import ROOT

RUNNER = Path(__file__).with_name("tfjs_run.js")


def node_modules() -> str | None:
    """The node_modules folder holding @tensorflow/tfjs: NODE_PATH's, or .ci/node's (where .ci/run installs it)."""
    folders = [*os.environ.get("NODE_PATH", "").split(os.pathsep), str(ROOT / ".ci/node/node_modules")]
    return next((f for f in folders if f and (Path(f) / "@tensorflow/tfjs").is_dir()), None)


needs_tfjs_node = pytest.mark.skipif(
    shutil.which("node") is None or node_modules() is None,
    reason="needs node and @tensorflow/tfjs (npm install --prefix .ci/node @tensorflow/tfjs@4)")


def run_tfjs(folder: str | Path, x: np.ndarray, tmp: Path) -> np.ndarray:
    """The graph model's first output for one NHWC float32 image x (1, H, W, 3)."""
    inp, out = tmp / "tfjs_in.bin", tmp / "tfjs_out.bin"
    np.ascontiguousarray(x, np.float32).tofile(inp)
    r = subprocess.run(["node", str(RUNNER), str(folder), str(inp), str(x.shape[1]), str(x.shape[2]), str(out)],
                       capture_output=True, text=True, env={**os.environ, "NODE_PATH": node_modules()}, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    shape = [int(v) for v in r.stdout.strip().splitlines()[-1].strip("[]").split(",")]
    return np.fromfile(out, np.float32).reshape(shape)
