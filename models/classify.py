"""Classifiers for classify/train.py and the Python API: what `--model` names (a classifier or detection .pt, a model
YAML, a torchvision model name) made into a model with `nc` outputs, and the wrapper torch.hub returns for one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from models.autoshape import ImageInput, image_size, to_rgb_array
from models.backends import DetectMultiBackend
from models.common import Classify
from models.yolo import ClassificationModel, DetectionModel
from utils.data.classify_transforms import classify_transforms
from utils.errors import UserError
from utils.logger import LOGGER


def reshape_classifier_output(model: nn.Module, nc: int = 1000) -> None:
    """Give the model's last layer nc outputs when it has another count: a YOLOv5 Classify head, a torchvision
    Linear head (ResNet), a Sequential head ending in Linear layers (EfficientNet, VGG: its last Linear) or a
    Sequential head with a Conv2d classifier (SqueezeNet)."""
    name, m = list((model.model if hasattr(model, "model") else model).named_children())[-1]
    if isinstance(m, Classify):
        if m.linear.out_features != nc:
            m.linear = nn.Linear(m.linear.in_features, nc)
    elif isinstance(m, nn.Linear):
        if m.out_features != nc:
            setattr(model, name, nn.Linear(m.in_features, nc))
    elif isinstance(m, nn.Sequential):
        linear = [i for i, x in enumerate(m) if isinstance(x, nn.Linear)]
        conv = [i for i, x in enumerate(m) if isinstance(x, nn.Conv2d)]
        if linear and m[linear[-1]].out_features != nc:
            m[linear[-1]] = nn.Linear(m[linear[-1]].in_features, nc)
        elif not linear and conv and m[conv[-1]].out_channels != nc:
            c = m[conv[-1]]
            m[conv[-1]] = nn.Conv2d(c.in_channels, nc, c.kernel_size, c.stride, bias=c.bias is not None)
    else:
        raise UserError(f"cannot set the class count of {type(model).__name__}: its last layer "
                        f"({type(m).__name__}) is not a Classify, Linear or Sequential head")


def torchvision_names() -> list[str]:
    """The classification model names torchvision builds (resnet18, efficientnet_b0, ...)."""
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


def torchvision_model(name: str, pretrained: bool) -> nn.Module:
    """torchvision's model by name, with its ImageNet weights (IMAGENET1K_V1 as YOLOv5) when pretrained; weights
    that cannot be fetched are one line saying which file to put where, or to train from scratch."""
    import torchvision

    if not pretrained:
        return torchvision.models.get_model(name, weights=None)
    enum = torchvision.models.get_model_weights(name)
    weights = enum.IMAGENET1K_V1 if hasattr(enum, "IMAGENET1K_V1") else enum.DEFAULT
    try:
        return torchvision.models.get_model(name, weights=weights)
    except (OSError, RuntimeError, ValueError) as e:  # URLError is an OSError: offline or blocked
        dest = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
        raise UserError(f"--model {name} --pretrained: cannot fetch its ImageNet weights ({type(e).__name__}); put "
                        f"{weights.url} at {dest}, or train from scratch with --pretrained False") from None


def load_classifier(weights: str | Path | list, device: torch.device, dnn: bool = False,
                    half: bool = False) -> DetectMultiBackend:
    """One classifier of any format this project reads (several weights would make a detection Ensemble)."""
    if isinstance(weights, (list, tuple)):
        if len(weights) != 1:
            raise UserError(f"--weights: classify/val.py and predict.py take one classifier, got {len(weights)}")
        weights = weights[0]
    return DetectMultiBackend(weights, device=device, dnn=dnn, fp16=half)


def _from_checkpoint(weights: str, nc: int, cutoff: int) -> nn.Module:
    """A classifier .pt as it is; a detection .pt converted at cutoff (YOLOv5 warns: pass a '-cls' model)."""
    from models.loading import attempt_load

    model = attempt_load(weights, device="cpu", fuse=False)
    if isinstance(model, DetectionModel):
        LOGGER.warning(f"WARNING ⚠️ {weights} is a detection model: its first {cutoff} layers become a classifier "
                       "(pass a YOLOv5 classifier, i.e. '--model yolov5s-cls.pt', to start from one)")
        model = ClassificationModel(model=model, nc=nc, cutoff=cutoff)
    return model


def build_classifier(model: str | Path, nc: int, cutoff: int = 10, pretrained: bool = True,
                     dropout: float | None = None) -> nn.Module:
    """classify/train.py's --model: a .pt (classifier, or detector converted at --cutoff), a model YAML
    (yolov5n.yaml, yolov5n-ghostdyn.yaml: its backbone + Classify head) or a torchvision name; nc outputs, trainable.
    pretrained False re-initializes every layer (training from scratch); dropout sets every Dropout's p."""
    s = str(model)
    suffix = Path(s).suffix.lower()
    if suffix == ".pt" or (Path(s).is_file() and suffix not in (".yaml", ".yml")):
        net = _from_checkpoint(s, nc, cutoff)
    elif suffix in (".yaml", ".yml"):
        net = ClassificationModel(cfg=s, nc=nc, cutoff=cutoff)
    elif s in torchvision_names():
        net = torchvision_model(s, pretrained)
    else:
        raise UserError(f"--model {s} not found: give a classifier or detection .pt, a model YAML (yolov5n.yaml, "
                        "yolov5n-ghostdyn.yaml) or a torchvision model name (resnet18, efficientnet_b0, ...)")
    reshape_classifier_output(net, nc)
    if isinstance(net, ClassificationModel):
        net.nc = nc
    for m in net.modules():
        if not pretrained and hasattr(m, "reset_parameters"):
            m.reset_parameters()
        if isinstance(m, nn.Dropout) and dropout is not None:
            m.p = dropout
    for p in net.parameters():
        p.requires_grad = True
    return net.float()


def is_classifier(model: DetectMultiBackend) -> bool:
    """True for a classifier: a ClassificationModel .pt, or an export whose output is (batch, classes) scores."""
    if model.pt:
        return isinstance(model.model, ClassificationModel)
    shape = model.input_shape or (1, 3, 224, 224)
    y = model(torch.zeros(shape, device=model.device))
    return isinstance(y, torch.Tensor) and y.ndim == 2


class ClassifierShape(nn.Module):
    """The Python API of a classifier: images (paths, URLs, PIL images, arrays, tensors; alone or in a list), centre
    cropped and normalized as classify/val.py does, or a (B,3,H,W) batch already so -> class probabilities (B, nc)."""

    def __init__(self, model: nn.Module, size: int = 224):
        super().__init__()
        self.model = model.eval()
        self.names = model.names
        self.size = size

    @torch.inference_mode()
    def forward(self, ims: ImageInput | list[ImageInput], size: int | None = None) -> torch.Tensor:
        """Probabilities per image; a 4-D tensor is taken as already pre-processed (classify_transforms output)."""
        device = next(self.model.parameters()).device if getattr(self.model, "pt", True) else self.model.device
        if isinstance(ims, torch.Tensor) and ims.ndim == 4:
            x = ims.to(device)
        else:
            items = list(ims) if isinstance(ims, (list, tuple)) else [ims]
            if not items:
                raise UserError("no images given: pass an image (path, URL, PIL image, array or tensor) or a list")
            transform = classify_transforms(image_size(size or self.size))
            x = torch.stack([transform(np.ascontiguousarray(to_rgb_array(im, i)[0][..., ::-1]))
                             for i, im in enumerate(items)]).to(device)
        if hasattr(self.model, "check_input_size"):  # an export made for one input shape
            self.model.check_input_size(tuple(x.shape[2:]), len(x))
        return self.model(x).float().softmax(1)
