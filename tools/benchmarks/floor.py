"""A lower bound for any replacement of C3's bottleneck stack: the model with every C3's bottlenecks free.

A replacement (the GhostModule) keeps everything around the stack: the stem, the strided convolutions, C3's three 1x1
convolutions and concatenation, SPPF and Detect. The same model with each stack made an Identity costs what those
shared layers cost, so floor / model bounds replacement / model from below in every runtime and for training.

    python -m tools.benchmarks.ratios --weights yolov5n.pt yolov5n-ghostdyn-seedpatch.pt --free-bottlenecks
"""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path

import torch
import torch.nn as nn

from models.common import C3
from tools.benchmarks.variants import checkpoint_copy, load_float_model
from utils.errors import UserError
from utils.files import ROOT


def free_bottlenecks(model: nn.Module) -> nn.Module:
    """A copy of model whose plain C3 blocks pass cv1's maps straight to the concatenation."""
    floor = deepcopy(model)
    blocks = [m for m in floor.modules() if type(m) is C3]
    if not blocks:
        raise UserError("--free-bottlenecks: the first --weights has no C3 block to free; give a YOLOv5 model first "
                        "(e.g. yolov5n.pt)")
    for m in blocks:
        m.m = nn.Identity()
    return floor


def floor_weights(weights: str, device: torch.device) -> str:
    """The first model's free-bottleneck copy as a checkpoint in runs/benchmarks/floor/, so that every section (fresh
    processes and exports included) loads it as it loads --weights."""
    name = f"{Path(weights).stem}-free-bottlenecks"
    floor = free_bottlenecks(load_float_model(weights, device))
    return str(checkpoint_copy(name, floor, ROOT / "runs/benchmarks/floor"))
