"""Training step: forward + YOLOv5 loss + backward + SGD step, timm reference vs fast DynamicConv.

    python -m tools.benchmarks.train_step --weights yolov5n.pt yolov5n-ghostdyn.yaml --imgsz 640 --threads 1
"""

from __future__ import annotations

import pandas as pd

from tools.benchmarks.cli import Settings, main
from tools.benchmarks.timing import measure
from tools.benchmarks.variants import TrainStep, synthetic_batch, train_variants

TITLE = "Training step at {imgsz} (forward + loss + backward + SGD), ms/image"


def table(s: Settings) -> pd.DataFrame:
    """ms/image of a training step (forward, YOLOv5 loss, backward, SGD step; AMP on CUDA) at the training batch size
    on one synthetic batch (random images, 4 random boxes each); the sides' losses on that batch compared first."""
    rows, steps = [], {}
    for name, m in s.models.items():
        imgs, targets = synthetic_batch(s.train_batch, s.imgsz, m.model[-1].nc, s.device)
        sides = {v: TrainStep(variant, s.device) for v, variant in train_variants(m).items()}
        items = {v: step.loss(imgs, targets)[1] for v, step in sides.items()}
        first = next(iter(items.values()))
        for v, step in sides.items():
            steps[(name, v)] = lambda step=step, imgs=imgs, targets=targets: step(imgs, targets)
            rows.append({"model": name, "variant": v, "loss abs diff": (items[v] - first).abs().max().item()})
    t = measure(steps, s.runs, clock=s.clock)
    for row, key in zip(rows, steps):
        row[f"b{s.train_batch} ms/img"] = t[key] / s.train_batch * 1e3
        ref = t.get((key[0], "timm reference"))
        row["x vs ref"] = ref / t[key] if ref else float("nan")
    return pd.DataFrame(rows)[["model", "variant", f"b{s.train_batch} ms/img", "x vs ref", "loss abs diff"]]


if __name__ == "__main__":
    main(("train_step",))
