"""A training killed with SIGKILL and resumed with --resume ends where the uninterrupted run ends: the same last.pt
weights and results.csv, bit for bit (CPU, --seed 0, --workers 0, from scratch so no ../shared is needed)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Callable

import pytest
import torch

from models.checkpoints import load_checkpoint

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["--cfg", "models/yolov5n.yaml", "--weights", "", "--data", "data/coco8.yaml", "--img", "64", "--epochs", "3",
        "--batch-size", "2", "--workers", "0", "--seed", "0", "--device", "cpu", "--noplots"]  # 2 batches an epoch


class Run:
    """train.py in a child process whose output is collected as it comes, to be killed when a condition holds."""

    def __init__(self, args: list[str]):
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        self.p = subprocess.Popen([sys.executable, "train.py", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        self.out = b""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for chunk in iter(lambda: self.p.stdout.read1(4096), b""):
            self.out += chunk

    def kill_when(self, condition: Callable[[str], bool], timeout: float = 300) -> None:
        """SIGKILL as soon as condition(output so far) holds; fail if the run ends or times out first."""
        end = time.time() + timeout
        while not condition(self.out.decode(errors="replace")):
            assert self.p.poll() is None, f"train.py ended before the kill point:\n{self.tail()}"
            assert time.time() < end, f"no kill point within {timeout}s:\n{self.tail()}"
            time.sleep(0.02)
        self.p.send_signal(signal.SIGKILL)
        self.p.wait()
        self.reader.join()

    def finish(self, timeout: float = 300) -> None:
        self.p.wait(timeout)
        self.reader.join()
        assert self.p.returncode == 0, self.tail()

    def tail(self) -> str:
        return self.out.decode(errors="replace").replace("\r", "\n")[-3000:]


def first_batch_done(epoch: int) -> Callable[[str], bool]:
    """True once the progress line of epoch's first batch (of 2) is out: the kill lands mid-epoch."""
    pattern = re.compile(rf"\s{epoch}/2\s[^\r\n]*\s1/2 \[")
    return lambda out: bool(pattern.search(out))


def _weights(last: Path) -> dict[str, torch.Tensor]:
    """Every tensor of the final last.pt's model (YOLOv5 strips the optimizer and keeps the EMA as the model)."""
    ckpt = load_checkpoint(last)
    return dict(ckpt["model"].float().state_dict())


class ResumeDiffers(AssertionError):
    """The resumed run's results or weights differ (a crash or a missed kill point is a plain failure, not this)."""


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_killed_twice_and_resumed_ends_with_the_same_weights_and_results(tmp_path):
    full = Run([*ARGS, "--project", str(tmp_path), "--name", "full"])
    full.finish()

    run, last = tmp_path / "killed", tmp_path / "killed" / "weights" / "last.pt"
    first = Run([*ARGS, "--project", str(tmp_path), "--name", "killed"])
    first.kill_when(lambda out: last.exists())  # epoch 0 saved: killed at once, wherever the run is
    second = Run(["--resume", str(last)])
    second.kill_when(first_batch_done(1))
    third = Run(["--resume", str(last)])
    third.finish()

    rows = (run / "results.csv").read_text().splitlines()
    expected = (tmp_path / "full" / "results.csv").read_text().splitlines()
    a, b = _weights(last), _weights(tmp_path / "full" / "weights" / "last.pt")
    assert a.keys() == b.keys() and len(rows) == len(expected) == 4, "not one results.csv row per epoch"
    differ = [k for k in a if not torch.equal(a[k], b[k])]
    if rows != expected or differ:
        row = next((i for i, (x, y) in enumerate(zip(rows, expected)) if x != y), None)
        raise ResumeDiffers(f"results.csv differs from row {row} (0 = header); {len(differ)}/{len(a)} tensors of "
                            f"last.pt differ, first {differ[:3]}")
