"""Peak memory of inference and of a training step, each figure from a fresh process.

    python -m tools.benchmarks.memory --weights yolov5n.pt yolov5n-ghostdyn.yaml --imgsz 640 --threads 1
"""

from __future__ import annotations

import pandas as pd
import torch

from tools.benchmarks.cli import Settings, main
from tools.benchmarks.timing import in_fresh_process, peak_rss, reset_peak_rss
from tools.benchmarks.variants import (TrainStep, inference_variants, load_float_model, predictions, synthetic_batch,
                                       train_variants)

TITLE = "Peak memory, one fresh process per figure ({imgsz})"


def job(weights: str, variant: str, mode: str, batch: int, imgsz: int, threads: int,
        device: str) -> tuple[float, float]:
    """(peak MB, MB before the measured call) of one inference or training call; meant for a fresh process."""
    torch.set_num_threads(threads)
    dev = torch.device(device)
    model = load_float_model(weights, dev)
    if mode == "inference":
        m = inference_variants(model)[variant]
        x = torch.rand(batch, 3, imgsz, imgsz, device=dev)
        call = lambda: predictions(m, x)  # noqa: E731
    else:
        step = TrainStep(train_variants(model)[variant], dev)
        imgs, targets = synthetic_batch(batch, imgsz, model.model[-1].nc, dev)
        call = lambda: step(imgs, targets)  # noqa: E731
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev) / 2 ** 20
        call()
        return torch.cuda.max_memory_allocated(dev) / 2 ** 20, before
    before = reset_peak_rss()
    call()
    return peak_rss(), before


def table(s: Settings) -> pd.DataFrame:
    """Peak memory of one inference call per variant (largest inference batch) and one training step per side, each
    in a fresh process: RSS peak from /proc (VmHWM, reset just before the call) on CPU, allocator peak on CUDA."""
    rows = []
    unit = "CUDA MB" if s.device.type == "cuda" else "RSS MB"
    for w, (name, m) in zip(s.weights, s.models.items()):
        jobs = [("inference", v, s.inference_batches[-1]) for v in inference_variants(m)]
        jobs += [("train", v, s.train_batch) for v in train_variants(m)]
        for mode, v, b in jobs:
            peak, before = in_fresh_process(job, w, v, mode, b, s.imgsz, s.threads, str(s.device))
            rows.append({"model": name, "mode": f"{mode} b{b}", "variant": v, f"peak {unit}": peak,
                         f"peak - before call {unit}": peak - before})
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main(("memory",))
