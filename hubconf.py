"""PyTorch Hub entry points, offline with local weights.

Usage:
    import torch
    model = torch.hub.load('.', 'custom', path='runs/train/exp/weights/best.pt', source='local')
    model = torch.hub.load('.', 'yolov5n', source='local')  # yolov5n.pt in the current folder
    results = model('data/images/bus.jpg')
    results.print(); results.pandas().xyxy[0]
"""

from __future__ import annotations

from pathlib import Path

import torch

dependencies = ["torch", "torchvision", "yaml", "cv2", "PIL", "pandas"]


def _device(device: str | torch.device | None) -> torch.device:
    """The first GPU when there is one, else the CPU, unless a device is named."""
    from utils.torch_utils import select_device

    if isinstance(device, torch.device):
        return device
    return select_device(("0" if torch.cuda.is_available() else "cpu") if device is None else device)


def _build_untrained(name: str, channels: int, classes: int, device: torch.device) -> torch.nn.Module:
    """A fresh model from models/<name>.yaml, models/segment/ included (for other channel/class counts or
    pretrained=False)."""
    from models.yolo import model_class
    from utils.errors import UserError
    from utils.files import ROOT

    cfg = sorted((ROOT / "models").rglob(f"{Path(name).stem}.yaml"))
    if not cfg:
        raise UserError(f"no model config models/{Path(name).stem}.yaml for '{name}'")
    return model_class(cfg[0])(cfg[0], ch=channels, nc=classes).to(device)


def _transfer_weights(model: torch.nn.Module, weights: Path, classes: int) -> None:
    """Copy the pretrained tensors whose names and shapes match (a new class count keeps the backbone)."""
    from models.checkpoints import load_checkpoint
    from utils.downloads import attempt_download
    from utils.torch_utils import intersect_dicts

    ckpt = load_checkpoint(attempt_download(weights), map_location="cpu")
    src = (ckpt.get("ema") or ckpt["model"]).float()
    csd = intersect_dicts(src.state_dict(), model.state_dict(), exclude=("anchors",))
    model.load_state_dict(csd, strict=False)
    if len(src.names) == classes:
        model.names = dict(enumerate(src.names)) if isinstance(src.names, list) else src.names


def _create(name: str | Path, pretrained: bool = True, channels: int = 3, classes: int = 80, autoshape: bool = True,
            verbose: bool = True, device: str | torch.device | None = None) -> torch.nn.Module:
    """A model for name (weights path or standard name), wrapped in AutoShape unless autoshape=False."""
    from models.backends import DetectMultiBackend
    from models.autoshape import AutoShape
    from models.classify import ClassifierShape, is_classifier
    from utils.checks import Bound, check_args
    from utils.logger import LOGGER, quiet

    check_args({"channels": channels, "classes": classes}, python=True,
               bounds={"channels": Bound(1, 64), "classes": Bound(1, 10**5)})
    with quiet(not verbose):  # verbose=False silences this call only, not the caller's later logging
        name = Path(name)
        path = name.with_suffix(".pt") if name.suffix == "" and not name.is_dir() else name
        device = _device(device)
        if pretrained and channels == 3 and classes == 80:
            model = DetectMultiBackend(path, device=device, fuse=autoshape)
            if is_classifier(model):  # class probabilities of images, not detections
                return ClassifierShape(model) if autoshape else model
            if model.segmentation and autoshape:  # as YOLOv5 v7.0: the model itself, (pred, protos) per image batch
                LOGGER.warning("WARNING ⚠️ YOLOv5 SegmentationModel is not yet compatible with AutoShape. "
                               "You will not be able to run inference with this model.")
                return model
            return AutoShape(model) if autoshape else model
        model = _build_untrained(str(name), channels, classes, device)
        if pretrained:
            _transfer_weights(model, path, classes)
        return AutoShape(model) if autoshape else model


def custom(path: str | Path = "path/to/model.pt", autoshape: bool = True, _verbose: bool = True,
           device: str | torch.device | None = None) -> torch.nn.Module:
    """Any weights file this project reads (.pt, .torchscript, .onnx, *_openvino_model)."""
    return _create(path, autoshape=autoshape, verbose=_verbose, device=device)


def _standard_model(name: str):
    """A hub entry point for one of YOLOv5's standard models (its .pt from the current folder, else its YAML)."""

    def entry(pretrained: bool = True, channels: int = 3, classes: int = 80, autoshape: bool = True,
              _verbose: bool = True, device: str | torch.device | None = None) -> torch.nn.Module:
        return _create(name, pretrained, channels, classes, autoshape, _verbose, device)

    entry.__name__ = entry.__qualname__ = name
    entry.__doc__ = f"{name.replace('yolov5', 'YOLOv5')}: {name}.pt when pretrained, else built from {name}.yaml."
    return entry


yolov5n, yolov5s, yolov5m, yolov5l, yolov5x = (_standard_model(f"yolov5{s}") for s in "nsmlx")
