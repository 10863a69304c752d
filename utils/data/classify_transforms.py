"""Classification pre-processing: YOLOv5 v7.0's evaluation transform (centre crop, RGB tensor, ImageNet normalization)
and its training augmentation done with torchvision, so it always applies (YOLOv5 applies it only when the
albumentations package is installed, and otherwise trains on the evaluation transform).

CenterCrop and ToTensor keep YOLOv5's names and attributes: YOLOv5 classifier checkpoints pickle them (as
`utils.augmentations.CenterCrop` / `ToTensor`) in `model.transforms`.
"""

from __future__ import annotations

from typing import Callable

import cv2
import numpy as np
import torch
import torchvision.transforms as T
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB
IMAGENET_STD = (0.229, 0.224, 0.225)


class CenterCrop:
    """The central square of side min(h, w), resized to (h, w) = size with OpenCV INTER_LINEAR (no aspect-keeping
    resize first, as YOLOv5). Input and output: HWC uint8 BGR arrays."""

    def __init__(self, size: int | tuple[int, int] = 640):
        self.h, self.w = (size, size) if isinstance(size, int) else size

    def __call__(self, im: np.ndarray) -> np.ndarray:
        ih, iw = im.shape[:2]
        m = min(ih, iw)
        top, left = (ih - m) // 2, (iw - m) // 2
        return cv2.resize(im[top:top + m, left:left + m], (self.w, self.h), interpolation=cv2.INTER_LINEAR)


class ToTensor:
    """HWC BGR uint8 array -> CHW RGB float tensor in [0, 1] (half when asked)."""

    def __init__(self, half: bool = False):
        self.half = half

    def __call__(self, im: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(im.transpose((2, 0, 1))[::-1]))
        return (x.half() if self.half else x.float()) / 255.0


def bgr_to_tensor(im: np.ndarray) -> torch.Tensor:
    """HWC BGR uint8 array -> CHW RGB uint8 tensor, the input torchvision's image transforms take."""
    return torch.from_numpy(np.ascontiguousarray(im.transpose((2, 0, 1))[::-1]))


def classify_transforms(size: int | tuple[int, int] = 224) -> T.Compose:
    """YOLOv5's evaluation transform: BGR array -> centre crop -> normalized RGB float tensor (3, h, w)."""
    return T.Compose([CenterCrop(size), ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)])


def classify_train_transforms(size: int = 224, scale: tuple[float, float] = (0.08, 1.0), hflip: float = 0.5,
                              vflip: float = 0.0, jitter: float = 0.4) -> Callable[[np.ndarray], torch.Tensor]:
    """YOLOv5's training augmentation (its albumentations list) in torchvision: random-resized crop to size, flips,
    colour jitter of brightness, contrast and saturation (no hue), then normalization. BGR array in, tensor out."""
    steps: list = [bgr_to_tensor, v2.RandomResizedCrop(size, scale=scale, antialias=True)]
    if hflip > 0:
        steps.append(v2.RandomHorizontalFlip(hflip))
    if vflip > 0:
        steps.append(v2.RandomVerticalFlip(vflip))
    if jitter > 0:
        steps.append(v2.ColorJitter(jitter, jitter, jitter, 0))
    steps += [v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    return v2.Compose(steps)
