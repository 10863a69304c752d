"""Checkpoint files: safe loading (an allow-list of classes, nothing else unpickled) and crash-proof saving.

A `.pt` is a pickle, and a pickle can run any function it names. YOLOv5 checkpoints pickle whole models, so we
load with `weights_only=True` and allow exactly the classes a detection or segmentation model is made of.
"""

from __future__ import annotations

import argparse
import glob
import os
import pathlib
import pickle
import re
import secrets
import zipfile
from pathlib import Path

import numpy as np
import psutil
import torch
import torch.nn as nn

from utils.errors import MissingFile, UserError
from utils.logger import LOGGER

_TORCH_MODULES = (
    nn.Conv2d, nn.BatchNorm2d, nn.Linear, nn.MaxPool2d, nn.Upsample, nn.Sequential, nn.ModuleList, nn.Identity,
    nn.Dropout, nn.SiLU, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.GELU,
    nn.Mish, nn.ZeroPad2d, nn.AdaptiveAvgPool2d,
)


def _class_method(classes: list[type]):
    """getattr for the unpickler, limited to a public method of an allowed class: YOLOv5's Segment pickles its
    `detect` attribute, Detect.forward, as getattr(Detect, 'forward')."""

    def class_method(owner: type, name: str):
        if owner not in classes or not isinstance(name, str) or name.startswith("_") \
                or not callable(getattr(owner, name, None)):
            raise pickle.UnpicklingError(f"GLOBAL builtins.getattr({getattr(owner, '__name__', owner)}, {name!r})")
        return getattr(owner, name)

    return class_method


def _classifier_globals() -> list:
    """What a YOLOv5 classifier checkpoint adds: its model and head classes and the evaluation transform it pickles
    as `model.transforms` (YOLOv5's utils.augmentations CenterCrop and ToTensor, torchvision's Compose, Normalize)."""
    import torchvision.transforms as T

    from models.common import Classify
    from models.yolo import ClassificationModel
    from utils.data.classify_transforms import CenterCrop, ToTensor

    return [ClassificationModel, Classify, T.Compose, T.Normalize, (CenterCrop, "utils.augmentations.CenterCrop"),
            (ToTensor, "utils.augmentations.ToTensor"), CenterCrop, ToTensor]  # re-saved here: under their own paths


def _allowed_globals() -> list:
    """The classes a checkpoint may name: this project's modules, the torch/timm layers they use, plain data types."""
    from timm.layers import CondConv2d, DropPath, SqueezeExcite

    from models import yolo

    project = [yolo.DetectionModel, yolo.SegmentationModel, yolo.Detect, yolo.BaseModel, yolo.Proto]
    project += list(yolo.MODULES.values())
    aliases = [(yolo.DetectionModel, "models.yolo.Model"), (_class_method(project), "builtins.getattr")]
    timm_layers = [CondConv2d, DropPath, SqueezeExcite, (SqueezeExcite, "timm.models._efficientnet_blocks.SqueezeExcite")]
    timm_acts = []
    try:
        from timm.layers import activations

        timm_acts = [activations.HardSigmoid, activations.HardSwish]
    except (ImportError, AttributeError):
        pass
    data = [pathlib.PosixPath, pathlib.WindowsPath, pathlib.PurePosixPath, argparse.Namespace, set,
            np.dtype, np.core.multiarray.scalar, np.ndarray, np.core.multiarray._reconstruct]
    data += [type(np.dtype(t)) for t in ("float64", "float32", "int64", "int32", "bool")]
    return project + aliases + list(_TORCH_MODULES) + timm_layers + timm_acts + data + _classifier_globals()


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """torch.load with only the allowed classes; a file naming anything else is refused before any of it runs."""
    path = Path(path)
    if not path.is_file():
        raise MissingFile(f"checkpoint not found: {path}")
    try:
        with torch.serialization.safe_globals(_allowed_globals()):
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        offending = re.search(r"GLOBAL ([\w.]+)", str(e))
        if offending:
            raise UserError(f"refusing to load {path}: it pickles '{offending.group(1)}', which is not a model class "
                            "this project trusts; nothing in the file was executed") from None
        detail = re.search(r"WeightsUnpickler error: *\n*(.+)", str(e))  # torch's own text around it is advice
        raise UserError(f"{path} is not a valid PyTorch checkpoint (corrupt or not a .pt file): "
                        f"{detail.group(1).strip() if detail else str(e).splitlines()[0]}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, ValueError, KeyError, AttributeError, TypeError) as e:
        raise UserError(f"{path} is not a valid PyTorch checkpoint (truncated or corrupt): "
                        f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if isinstance(ckpt, nn.Module):  # a bare pickled model
        ckpt = {"model": ckpt}
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("ema") or ckpt.get("model"), nn.Module):
        raise UserError(f"{path} holds no model: expected a YOLOv5 checkpoint dict with a 'model' entry")
    return ckpt


def _remove_stale_temps(path: Path) -> None:
    """Delete temporary files that a killed save of this checkpoint left behind (their writer no longer runs)."""
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        pid = tmp.name[len(path.name) + 2:].split(".", 1)[0]
        if not (pid.isdigit() and psutil.pid_exists(int(pid))):
            tmp.unlink(missing_ok=True)


def save_checkpoint(ckpt: dict, path: str | Path) -> None:
    """Write to a temporary file in the same folder, flush it to disk, then rename: a kill never leaves half a file."""
    path = Path(path)
    _remove_stale_temps(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")  # umask permissions, as torch.save
    try:
        with open(tmp, "xb") as f:
            torch.save(ckpt, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def strip_optimizer(f: str | Path = "best.pt", s: str | Path = "") -> None:
    """Keep only the (EMA) model in fp16 for a smaller final checkpoint; saves to s, or over f when s is empty."""
    ckpt = load_checkpoint(f)
    if ckpt.get("ema"):
        ckpt["model"] = ckpt["ema"]
    for k in ("optimizer", "best_fitness", "ema", "updates"):
        ckpt[k] = None
    ckpt.pop("train_state", None)  # the trainer's exact-resume state (engine/resume.py)
    ckpt["epoch"] = -1
    ckpt["model"].half()
    for p in ckpt["model"].parameters():
        p.requires_grad = False
    save_checkpoint(ckpt, s or f)
    mb = os.path.getsize(s or f) / 1e6
    LOGGER.info(f"Optimizer stripped from {f},{f' saved as {s},' if s else ''} {mb:.1f}MB")
