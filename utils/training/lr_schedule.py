"""Learning-rate schedule of training: linear or cosine decay to lrf, and the warmup ramp of the first iterations."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch


NOMINAL_BATCH = 64  # gradients are accumulated up to this batch size before an optimizer step


def accumulation(batch_size: int) -> tuple[int, float]:
    """Batches summed per optimizer step, and the factor on weight_decay that keeps decay per image constant."""
    accumulate = max(round(NOMINAL_BATCH / batch_size), 1)
    return accumulate, batch_size * accumulate / NOMINAL_BATCH


def one_cycle(y1: float = 0.0, y2: float = 1.0, steps: int = 100) -> Callable[[float], float]:
    """Half a cosine from y1 at step 0 to y2 at step `steps`."""
    return lambda x: ((1 - math.cos(x * math.pi / steps)) / 2) * (y2 - y1) + y1


def lr_lambda(epochs: int, lrf: float, cos: bool = False) -> Callable[[float], float]:
    """LR multiplier per epoch: 1 at epoch 0 down to lrf at the last epoch, linear or cosine (--cos-lr)."""
    if cos:
        return one_cycle(1, lrf, epochs)
    return lambda x: (1 - x / epochs) * (1.0 - lrf) + lrf


CLASSIFY_LRF = 0.01  # classify/train.py decays linearly to this fraction of lr0, lr_lambda(epochs, CLASSIFY_LRF): a
# constant in YOLOv5 v7.0 (no hyp file), and no warmup


def warmup_iterations(hyp: dict, batches_per_epoch: int) -> int:
    """Warmup length in iterations: warmup_epochs of batches, at least 100."""
    return max(round(hyp["warmup_epochs"] * batches_per_epoch), 100)


def apply_warmup(optimizer: torch.optim.Optimizer, ni: int, nw: int, lr_factor: float, hyp: dict,
                 nominal_batch: int, batch_size: int) -> int:
    """Ramp LRs (bias group from warmup_bias_lr down, others up from 0) and momentum; return the accumulation steps."""
    xi = [0, nw]
    accumulate = max(1, int(np.interp(ni, xi, [1, nominal_batch / batch_size]).round()))
    for j, group in enumerate(optimizer.param_groups):  # group 0 holds the biases (smart_optimizer)
        start = hyp["warmup_bias_lr"] if j == 0 else 0.0
        group["lr"] = float(np.interp(ni, xi, [start, group["initial_lr"] * lr_factor]))
        if "momentum" in group:
            group["momentum"] = float(np.interp(ni, xi, [hyp["warmup_momentum"], hyp["momentum"]]))
    return accumulate
