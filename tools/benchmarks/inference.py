"""Whole-model inference: ms/image of each model's variants (timm reference, fast unfused, fast fused).

    python -m tools.benchmarks.inference --weights yolov5n.pt yolov5n-ghostdyn.yaml --imgsz 640 --threads 1
"""

from __future__ import annotations

import pandas as pd
import torch

from tools.benchmarks.cli import Settings, main
from tools.benchmarks.timing import measure
from tools.benchmarks.variants import diff_scale, inference_variants, predictions

TITLE = "Model inference at {imgsz}, ms/image (max abs diff: boxes / image size, confidences)"
REFERENCE = "timm reference, unfused"


def table(s: Settings) -> pd.DataFrame:
    """ms/image on random images of every model variant (Ghost models: timm reference unfused, fast unfused, fast
    fused by model.fuse(); others unfused and fused) at each inference batch size, and the largest difference of its
    predictions from the model's first variant (boxes as fractions of the image size, confidences as they are)."""
    variants = {(name, v): m for name, model in s.models.items() for v, m in inference_variants(model).items()}
    rows = {key: {"model": key[0], "variant": key[1]} for key in variants}
    for b in s.inference_batches:
        x = torch.rand(b, 3, s.imgsz, s.imgsz, device=s.device)
        t = measure({key: lambda m=m: predictions(m, x) for key, m in variants.items()}, s.runs, clock=s.clock)
        for key in variants:
            rows[key][f"b{b} ms/img"] = t[key] / b * 1e3
            ref = t.get((key[0], REFERENCE))
            rows[key][f"b{b} x vs ref"] = ref / t[key] if ref else float("nan")
    x = torch.rand(s.inference_batches[-1], 3, s.imgsz, s.imgsz, device=s.device)
    for name in s.models:
        keys = [k for k in variants if k[0] == name]
        y0 = predictions(variants[keys[0]], x)
        scale = torch.tensor(diff_scale(y0, s.imgsz), device=s.device)
        for key in keys:
            rows[key]["max abs diff"] = ((predictions(variants[key], x) - y0).abs() / scale).max().item()
    return pd.DataFrame(list(rows.values()))


if __name__ == "__main__":
    main(("inference",))
