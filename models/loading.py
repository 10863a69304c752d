"""Loading trained weights into ready-to-run models, and ensembles of several weights files."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from models.yolo import Detect, DetectionModel
from models.checkpoints import load_checkpoint
from utils.downloads import attempt_download
from utils.logger import LOGGER


class Ensemble(nn.ModuleList):
    """Several models whose raw predictions are concatenated before NMS."""

    def forward(self, x: torch.Tensor, augment: bool = False, visualize: bool = False):
        y = [module(x, augment, visualize)[0] for module in self]
        return torch.cat(y, 1), None


def upgrade_modules(model: nn.Module, inplace: bool = True) -> None:
    """Give modules unpickled from other YOLOv5 versions the attributes this version's forward expects."""
    for m in model.modules():
        if isinstance(m, (nn.Hardswish, nn.LeakyReLU, nn.ReLU, nn.ReLU6, nn.SiLU, Detect, DetectionModel)):
            m.inplace = inplace
        if isinstance(m, DetectionModel) and not hasattr(m, "nc"):
            m.nc = m.model[-1].nc
        if isinstance(m, nn.Upsample) and not hasattr(m, "recompute_scale_factor"):
            m.recompute_scale_factor = None


def load_model(weights: str | Path, device: torch.device | str | None = None, inplace: bool = True,
               fuse: bool = True) -> nn.Module:
    """One checkpoint's model (EMA weights when present) as a float eval model with `names` dict and `stride`."""
    ckpt = load_checkpoint(attempt_download(weights), map_location="cpu")
    model = (ckpt.get("ema") or ckpt["model"]).to(device).float()
    if not hasattr(model, "stride"):
        model.stride = torch.tensor([32.0])
    if isinstance(getattr(model, "names", None), (list, tuple)):
        model.names = dict(enumerate(model.names))
    upgrade_modules(model, inplace)
    model = model.fuse().eval() if fuse and hasattr(model, "fuse") else model.eval()
    return model


def attempt_load(weights: str | Path | list, device: torch.device | str | None = None, inplace: bool = True,
                 fuse: bool = True) -> nn.Module:
    """Load one weights file, or an Ensemble of several (YOLOv5's --weights a.pt b.pt)."""
    paths = weights if isinstance(weights, (list, tuple)) else [weights]
    models = [load_model(w, device, inplace, fuse) for w in paths]
    if len(models) == 1:
        return models[0]
    ensemble = Ensemble(models)
    LOGGER.info(f"Ensemble created with {[str(w) for w in paths]}\n")
    for k in ("names", "nc", "yaml"):
        setattr(ensemble, k, getattr(models[0], k))
    ensemble.stride = models[int(torch.argmax(torch.tensor([m.stride.max() for m in models])))].stride
    if not all(models[0].nc == m.nc for m in models):
        from utils.errors import UserError

        raise UserError(f"ensemble models have different class counts: {[m.nc for m in models]}")
    return ensemble
