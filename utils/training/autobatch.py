"""AutoBatch (--batch-size -1): the largest training batch that fits a fraction of the free CUDA memory."""

from __future__ import annotations

from copy import deepcopy

import numpy as np
import torch
import torch.nn as nn

from utils.logger import LOGGER, colorstr

PREFIX = colorstr("AutoBatch: ")
PROBE_SIZES = (1, 2, 4, 8, 16)
GIB = 1 << 30


def check_train_batch_size(model: nn.Module, imgsz: int = 640, amp: bool = True) -> int:
    """Batch size for training model at imgsz, probed under the same autocast setting as training."""
    device = next(model.parameters()).device
    with torch.autocast(device_type=device.type, enabled=amp and device.type == "cuda"):
        return autobatch(deepcopy(model).train(), imgsz)


def autobatch(model: nn.Module, imgsz: int = 640, fraction: float = 0.8, batch_size: int = 16) -> int:
    """Probe memory at a few batch sizes, fit a line and solve it for fraction of the device memory."""
    LOGGER.info(f"{PREFIX}Computing optimal batch size for --imgsz {imgsz}")
    device = next(model.parameters()).device
    if device.type != "cuda":
        LOGGER.info(f"{PREFIX}CUDA not detected, using default CPU batch-size {batch_size}")
        return batch_size
    if torch.backends.cudnn.benchmark:
        LOGGER.info(f"{PREFIX} ⚠️ Requires torch.backends.cudnn.benchmark=False, using default batch-size {batch_size}")
        return batch_size
    props = torch.cuda.get_device_properties(device)
    total = props.total_memory / GIB
    reserved = torch.cuda.memory_reserved(device) / GIB
    allocated = torch.cuda.memory_allocated(device) / GIB
    free = total - (reserved + allocated)
    name = str(device).upper()
    LOGGER.info(f"{PREFIX}{name} ({props.name}) {total:.2f}G total, {reserved:.2f}G reserved, "
                f"{allocated:.2f}G allocated, {free:.2f}G free")
    mems = [probe_memory(model, b, imgsz) for b in PROBE_SIZES]
    b, used = fit_batch_size(list(PROBE_SIZES), mems, free * fraction, batch_size)
    if b == batch_size and not used:
        LOGGER.warning(f"{PREFIX}WARNING ⚠️ CUDA anomaly detected, recommend restart environment and retry command.")
        return b
    share = (used + reserved + allocated) / total
    LOGGER.info(f"{PREFIX}Using batch-size {b} for {name} {total * share:.2f}G/{total:.2f}G ({share * 100:.0f}%) ✅")
    return b


def probe_memory(model: nn.Module, batch: int, imgsz: int) -> float | None:
    """Peak GiB of one forward and backward pass at this batch size; None when it runs out of memory."""
    device = next(model.parameters()).device
    try:
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
        x = torch.zeros(batch, 3, imgsz, imgsz, device=device)
        y = model(x)
        sum(yi.sum() for yi in (y if isinstance(y, (list, tuple)) else [y])).backward()
        peak = torch.cuda.max_memory_allocated(device) / GIB
        del x, y
        model.zero_grad(set_to_none=True)
        return peak
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return None


def fit_batch_size(batch_sizes: list[int], mems: list[float | None], budget: float,
                   default: int) -> tuple[int, float]:
    """Solve a linear memory model for budget GiB; (default, 0.0) when the probes make no sense."""
    ok = [(b, m) for b, m in zip(batch_sizes, mems) if m is not None]
    if len(ok) < 2:
        return default, 0.0
    slope, intercept = np.polyfit([b for b, _ in ok], [m for _, m in ok], deg=1)
    if slope <= 0:
        return default, 0.0
    b = int((budget - intercept) / slope)
    if None in mems:  # never go past the first size that failed
        failed = batch_sizes[mems.index(None)]
        if b >= failed:
            b = batch_sizes[max(mems.index(None) - 1, 0)]
    if b < 1 or b > 1024:
        return default, 0.0
    return b, float(np.polyval([slope, intercept], b))
