"""The user's whole path on the in-repo sample set: train until the loss falls, then val, detect, export, run it.

Every step is the real script in its own process, as a user types it. Training is tiny (64 px, yolov5n from scratch,
20 one-batch epochs). YOLOv5 warms up for at least 100 iterations, so with one batch per epoch the weights' learning
rate is still ramping at the end; Adam with a high lr0 makes the fall clear within that ramp.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from tests.fault_helpers import coco8_yaml

ROOT = Path(__file__).resolve().parents[1]
EPOCHS = 20


def _run(script: str, *args: str) -> str:
    """stdout + stderr of `python <script>.py args` run from the repo root; fails the test on a non-zero exit."""
    p = subprocess.run([sys.executable, f"{script}.py", *args], cwd=ROOT, capture_output=True, text=True, timeout=1800)
    out = p.stdout + p.stderr
    assert p.returncode == 0, f"{script}.py exited {p.returncode}:\n{out[-4000:]}"
    return out


def _train_losses(results_csv: Path) -> list[float]:
    """Total train loss (box + obj + cls) of each epoch, from the run's results.csv."""
    with open(results_csv) as f:
        rows = [{k.strip(): v for k, v in row.items()} for row in csv.DictReader(f)]
    return [sum(float(r[f"train/{k}_loss"]) for k in ("box", "obj", "cls")) for r in rows]


def _label_rows(folder: Path) -> np.ndarray:
    """All rows (cls, x, y, w, h, conf) of a detect.py --save-txt --save-conf labels folder."""
    rows = [np.loadtxt(f, ndmin=2) for f in sorted(folder.glob("*.txt"))]
    return np.concatenate(rows, 0) if rows else np.zeros((0, 6))


def test_train_val_detect_export_on_coco8(tmp_path):
    data = coco8_yaml(tmp_path)
    hyp = yaml.safe_load((ROOT / "data/hyps/hyp.no-augmentation.yaml").read_text())
    hyp["lr0"] = 0.1
    (tmp_path / "hyp.yaml").write_text(yaml.safe_dump(hyp))
    runs = tmp_path / "runs"
    _run("train", "--data", str(data), "--cfg", "yolov5n.yaml", "--weights", "", "--img", "64", "--batch", "64",
         "--epochs", str(EPOCHS), "--optimizer", "Adam", "--hyp", str(tmp_path / "hyp.yaml"), "--seed", "0",
         "--workers", "0", "--noplots", "--noval", "--nosave", "--noautoanchor", "--project", str(runs),
         "--name", "train")
    losses = _train_losses(runs / "train/results.csv")
    assert len(losses) == EPOCHS
    assert losses[-1] < 0.8 * losses[0], f"training did not learn: train loss per epoch {losses}"
    weights = runs / "train/weights/best.pt"

    out = _run("val", "--weights", str(weights), "--data", str(data), "--img", "64", "--batch", "4",
               "--project", str(runs), "--name", "val")
    assert any(line.split()[:3] == ["all", "4", "44"] for line in out.splitlines()), out[-2000:]

    images = str(data.parent / "coco8/images/val")
    detect = ("--source", images, "--img", "64", "--conf-thres", "0.001", "--save-txt", "--save-conf", "--nosave",
              "--project", str(runs))
    _run("detect", "--weights", str(weights), *detect, "--name", "detect_pt")
    pt_rows = _label_rows(runs / "detect_pt/labels")
    assert len(pt_rows) > 0

    _run("export", "--weights", str(weights), "--include", "onnx", "--img", "64")
    onnx_file = weights.with_suffix(".onnx")
    assert onnx_file.stat().st_size > 1_000_000
    _run("detect", "--weights", str(onnx_file), *detect, "--name", "detect_onnx")
    onnx_rows = _label_rows(runs / "detect_onnx/labels")
    assert len(onnx_rows) > 0 and ((onnx_rows[:, 1:] >= 0) & (onnx_rows[:, 1:] <= 1)).all()
    assert np.isin(onnx_rows[:, 0], np.arange(80)).all()
    _assert_onnx_matches_checkpoint(weights, onnx_file)


def _assert_onnx_matches_checkpoint(weights: Path, onnx_file: Path) -> None:
    """The exported graph gives the checkpoint's raw output on the same 64x64 input."""
    ort = pytest.importorskip("onnxruntime")
    from models.loading import attempt_load

    model = attempt_load(weights, device=torch.device("cpu"), fuse=True)
    x = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = model(x)[0].numpy()
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-3)
