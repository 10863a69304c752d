"""Training data loader: images/s over one epoch with mosaic on, and peak memory of the process and its workers.

    python -m tools.benchmarks.loader --data coco128.yaml --imgsz 640 --workers 2
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import psutil

from tools.benchmarks.cli import Settings, main
from tools.benchmarks.variants import HYP, quiet
from utils.files import yaml_load
from utils.logger import colorstr
from utils.torch_utils import time_sync

TITLE = "Data loader, training mode with mosaic at {imgsz}"


def _memory_mb(me: psutil.Process) -> float:
    """RSS of this process plus the memory unique to each of its workers (pages shared after fork counted once)."""
    return (me.memory_info().rss + sum(p.memory_full_info().uss for p in me.children(recursive=True))) / 2 ** 20


def table(s: Settings) -> pd.DataFrame:
    """Throughput over one epoch after a first batch that starts the workers; memory sampled after every batch."""
    from utils.data.config import check_dataset
    from utils.data.loaders import create_dataloader

    hyp = yaml_load(HYP)
    data = check_dataset(s.data)
    train = data["train"]
    with quiet():
        loader, _ = create_dataloader(train, s.imgsz, s.loader_batch, 32, hyp=hyp, augment=True, workers=s.workers,
                                      shuffle=True, prefix=colorstr("loader: "))
    me = psutil.Process()
    next(iter(loader))
    peak, images, t0 = _memory_mb(me), 0, time_sync()
    for imgs, *_ in loader:
        images += imgs.shape[0]
        peak = max(peak, _memory_mb(me))
    seconds = time_sync() - t0
    name = os.path.relpath(train, Path(data["path"]).parent) if isinstance(train, str) else str(train)
    return pd.DataFrame([{"data": name, "images": images, "imgsz": s.imgsz, "batch": s.loader_batch,
                          "workers": s.workers, "mosaic": hyp.get("mosaic", 0) > 0, "images/s": images / seconds,
                          "peak MB (main RSS + workers USS)": peak}])


if __name__ == "__main__":
    main(("loader",))
