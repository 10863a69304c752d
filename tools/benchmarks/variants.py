"""The models the developer benchmarks compare: loaded from --weights, and their timm-reference, fused and
training-step variants."""

from __future__ import annotations

import shutil
from copy import deepcopy
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from models.checkpoints import save_checkpoint
from models.common import DynamicConv
from models.dynamic_kernels import reference_conv2d
from utils.files import ROOT, yaml_load
from utils.logger import quiet

HYP = ROOT / "data/hyps/hyp.scratch-low.yaml"


def load_float_model(weights: str, device: torch.device) -> nn.Module:
    """An unfused fp32 eval model from a checkpoint, or with random weights from a model YAML."""
    with quiet():
        if str(weights).endswith((".yaml", ".yml")):
            from models.yolo import model_class

            torch.manual_seed(0)
            return model_class(weights)(weights).to(device).eval()
        from models.loading import load_model

        return load_model(weights, device, fuse=False).float().eval()


def checkpoint_copy(weights: str, model: nn.Module, folder: Path) -> Path:
    """The weights as a checkpoint in folder, where export.py writes its files (YAMLs are saved from the model)."""
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / f"{Path(weights).stem}.pt"
    if str(weights).endswith(".pt"):
        shutil.copyfile(weights, f)
    else:
        m = deepcopy(model).requires_grad_(False)
        m.nc = getattr(m, "nc", None) or m.model[-1].nc
        save_checkpoint({"epoch": -1, "best_fitness": None, "model": m.half(), "ema": None, "updates": None,
                         "optimizer": None}, f)
    return f


def is_dynamic(model: nn.Module) -> bool:
    return any(isinstance(m, DynamicConv) for m in model.modules())


class TimmDynamicConv(DynamicConv):
    """A DynamicConv that runs timm's own forward (`reference_conv2d`): the side the fast path is timed against."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return reference_conv2d(x, self.routing, self.cond_conv, self.shift)


def timm_reference(model: nn.Module) -> nn.Module:
    """A copy of model whose DynamicConv layers run timm's forward; same weights, the original untouched."""
    ref = deepcopy(model)
    for parent in list(ref.modules()):
        for name, child in parent.named_children():
            if type(child) is DynamicConv:
                twin = TimmDynamicConv.__new__(TimmDynamicConv)
                twin.__dict__.update(child.__dict__)  # same parameters, buffers and YAML bookkeeping (f, i, np)
                setattr(parent, name, twin)
    return ref


def inference_variants(model: nn.Module) -> dict[str, nn.Module]:
    """The ways a model can run inference: timm reference (dynamic models only), fast unfused, fast fused."""
    with quiet(), torch.no_grad():
        fused = deepcopy(model).fuse().eval()
    if is_dynamic(model):
        return {"timm reference, unfused": timm_reference(model), "fast, unfused": model, "fast, fused": fused}
    return {"unfused": model, "fused": fused}


def train_variants(model: nn.Module) -> dict[str, nn.Module]:
    return {"timm reference": timm_reference(model), "fast": model} if is_dynamic(model) else {"fast": model}


def first_output(y: torch.Tensor | tuple | list) -> torch.Tensor:
    """The predictions in a model's output: a classifier's scores as they are, a detector's or segmenter's first."""
    return y if isinstance(y, torch.Tensor) else y[0]


def predictions(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return first_output(model(x))


def diff_scale(y: torch.Tensor | np.ndarray, imgsz: int) -> list[float]:
    """Divisors for the last axis of predictions y, so that differences read as fractions of the image size for
    boxes (xywh first in detection and segmentation rows) and as they are for confidences and class scores."""
    return [float(imgsz)] * 4 + [1.0] * (y.shape[-1] - 4) if y.ndim == 3 else [1.0] * y.shape[-1]


def synthetic_batch(batch: int, imgsz: int, nc: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images and four random labelled boxes per image, (n, 6) [image, class, x, y, w, h] normalized."""
    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(batch, 3, imgsz, imgsz, generator=g)
    n = 4 * batch
    xy, wh = torch.rand(n, 2, generator=g) * 0.6 + 0.2, torch.rand(n, 2, generator=g) * 0.35 + 0.05
    cls = torch.randint(0, nc, (n, 1), generator=g).float()
    targets = torch.cat((torch.arange(batch).repeat_interleave(4).view(-1, 1).float(), cls, xy, wh), 1)
    return imgs.to(device), targets.to(device)


class TrainStep:
    """One optimizer step as train.py takes it: forward, YOLOv5 loss, backward, SGD step (AMP on CUDA)."""

    def __init__(self, model: nn.Module, device: torch.device):
        from utils.torch_utils import smart_optimizer
        from utils.training.loss import ComputeLoss

        hyp = yaml_load(HYP)
        self.model, self.device = deepcopy(model).train(), device
        self.model.hyp = hyp
        for p in self.model.parameters():
            p.requires_grad_(True)
        with quiet():
            self.optimizer = smart_optimizer(self.model, "SGD", hyp["lr0"], hyp["momentum"], hyp["weight_decay"])
        self.compute_loss = ComputeLoss(self.model)

    def loss(self, imgs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
            return self.compute_loss(self.model(imgs), targets)

    def __call__(self, imgs: torch.Tensor, targets: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.loss(imgs, targets)[0].backward()
        self.optimizer.step()
