"""Each model against the first one: training step (fast paths) and torch.compile'd inference, with the ratio.

    python -m tools.benchmarks.ratios --weights ../shared/weights/yolov5n.pt \
        ../shared/weights/yolov5n-ghostdyn-seedpatch.pt --imgsz 640 --threads 1 --clock cpu

Rows: the training step at the training batch size (forward, loss, backward, SGD; AMP on CUDA), and fused inference
eager and compiled (torch.compile, inductor) at each inference batch size; compile seconds are the first call's wall
time. All models of a row run in turns. Runs unchanged with --device 0.
"""

from __future__ import annotations

import time
from copy import deepcopy

import pandas as pd
import torch

from tools.benchmarks.cli import Settings, main
from tools.benchmarks.timing import measure
from tools.benchmarks.variants import TrainStep, predictions, quiet, synthetic_batch
from utils.torch_compile import missing_toolchain

TITLE = "Training step and torch.compile at {imgsz}, ms/image; ratio = model / first model"


def _row(label: str, b: int, t: dict[str, float], first: str, extra: dict | None = None) -> dict:
    row = {"what": label, "batch": b}
    for name, v in t.items():
        row[f"{name} ms/img"] = v / b * 1e3
        row[f"{name} ratio"] = v / t[first]
    return {**row, **(extra or {})}


def train_rows(s: Settings) -> list[dict]:
    steps = {}
    for name, m in s.models.items():
        imgs, targets = synthetic_batch(s.train_batch, s.imgsz, m.model[-1].nc, s.device)
        step = TrainStep(m, s.device)
        steps[name] = lambda step=step, imgs=imgs, targets=targets: step(imgs, targets)
    return [_row("training step", s.train_batch, measure(steps, s.runs, clock=s.clock), next(iter(steps)))]


def compile_rows(s: Settings) -> list[dict]:
    """Fused eager and compiled inference per batch size; the compiled sides' largest difference from eager."""
    missing = missing_toolchain(s.device)
    with quiet(), torch.no_grad():
        fused = {name: deepcopy(m).fuse().eval() for name, m in s.models.items()}
    compiled = {name: torch.compile(m) for name, m in fused.items()} if not missing else {}
    rows, first = [], next(iter(fused))
    for b in s.inference_batches:
        x = torch.rand(b, 3, s.imgsz, s.imgsz, device=s.device)
        rows.append(_row("fused, eager", b, measure({n: lambda m=m: predictions(m, x) for n, m in fused.items()},
                                                     s.runs, clock=s.clock), first))
        if missing:
            rows.append({"what": f"torch.compile unavailable: {missing}", "batch": b})
            continue
        extra = {}
        for name, m in compiled.items():
            t0 = time.perf_counter()
            y = predictions(m, x)
            extra[f"{name} compile s"] = time.perf_counter() - t0
            extra[f"{name} diff vs eager"] = (y - predictions(fused[name], x)).abs().max().item()
        t = measure({n: lambda m=m: predictions(m, x) for n, m in compiled.items()}, s.runs, clock=s.clock)
        rows.append(_row("fused, torch.compile", b, t, first, extra))
    return rows


def table(s: Settings) -> pd.DataFrame:
    torch.backends.cudnn.benchmark = s.device.type == "cuda"
    return pd.DataFrame(train_rows(s) + compile_rows(s))


if __name__ == "__main__":
    main(("ratios",))
