"""The Python API's model wrapper: accepts files, URLs, PIL, numpy or tensors and returns Detections after NMS."""

from __future__ import annotations

import io
import urllib.request
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageOps, UnidentifiedImageError

from models.backends import DetectMultiBackend
from utils.data.augmentations import letterbox
from utils.boxes import scale_boxes
from utils.checks import make_divisible
from models.detections import Detections
from utils.errors import UserError
from utils.files import safe_filename
from utils.inference.nms import non_max_suppression
from utils.torch_utils import time_sync

ImageInput = str | Path | Image.Image | np.ndarray | torch.Tensor


def open_image(source: str | Path) -> Image.Image:
    """A PIL image from a local path or an http(s) URL; UserError naming the source when it cannot be read."""
    try:
        if str(source).startswith(("http:/", "https:/")):
            with urllib.request.urlopen(str(source), timeout=10) as r:
                return Image.open(io.BytesIO(r.read()))
        return Image.open(source)
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise UserError(f"cannot read image {source}: {e}") from None


def to_rgb_array(im: ImageInput, i: int) -> tuple[np.ndarray, str]:
    """One input as a contiguous RGB HWC uint8 array, and the .jpg file name its results are saved under."""
    name = f"image{i}"
    if isinstance(im, (str, Path)):
        im, name = ImageOps.exif_transpose(open_image(im)).convert("RGB"), str(im)
    elif isinstance(im, Image.Image):
        name = getattr(im, "filename", "") or name
        im = ImageOps.exif_transpose(im).convert("RGB")
    elif isinstance(im, torch.Tensor):
        im = im.detach().cpu()
        im = (im * 255 if im.is_floating_point() and im.max() <= 1 else im).clamp(0, 255).byte().numpy()
    if not isinstance(im, (np.ndarray, Image.Image)):
        raise UserError(f"input {i} is a {type(im).__name__}; give file paths, URLs, PIL images, numpy arrays or "
                        f"tensors")
    im = np.asarray(im)
    if im.ndim == 3 and im.shape[0] < 5 and im.shape[2] >= 5:  # CHW -> HWC
        im = im.transpose((1, 2, 0))
    if im.ndim == 2:
        im = np.stack([im] * 3, axis=2)
    if im.ndim != 3 or im.shape[2] < 3:
        raise UserError(f"input {i} has shape {im.shape}; expected an HWC or CHW colour image")
    return np.ascontiguousarray(im[..., :3]), f"{safe_filename(Path(name).stem, f'image{i}')}.jpg"


class AutoShape(nn.Module):
    """Pre-process, infer and NMS in one call; tune with .conf, .iou, .classes, .agnostic, .multi_label, .max_det."""

    conf = 0.25  # NMS confidence threshold
    iou = 0.45  # NMS IoU threshold
    agnostic = False  # NMS class-agnostic
    multi_label = False  # NMS multiple labels per box
    classes = None  # keep only these class ids
    max_det = 1000  # maximum detections per image
    amp = False  # CUDA mixed precision

    def __init__(self, model: DetectMultiBackend | nn.Module):
        super().__init__()
        self.model = model.eval()
        self.pt = getattr(model, "pt", True)  # a plain DetectionModel is PyTorch too
        self.stride = model.stride if isinstance(model.stride, int) else int(model.stride.max())
        self.names = model.names

    @torch.inference_mode()
    def forward(self, ims: ImageInput | list[ImageInput], size: int | tuple[int, int] = 640,
                augment: bool = False) -> Detections | torch.Tensor | list:
        """Detections for one or a list of images; a 4-D (B,3,H,W) float tensor gets the raw model output instead."""
        t0 = time_sync()
        size = (size, size) if isinstance(size, int) else tuple(size)
        p = next(self.model.parameters()) if self.pt else torch.empty(1, device=self.model.device)
        autocast = self.amp and p.device.type != "cpu"
        if isinstance(ims, torch.Tensor) and ims.ndim == 4:
            with torch.autocast(p.device.type, enabled=autocast):
                return self.model(ims.to(p.device).type_as(p), augment=augment)
        items = list(ims) if isinstance(ims, (list, tuple)) else [ims]
        arrays, files = zip(*(to_rgb_array(im, i) for i, im in enumerate(items)))
        shape0 = [a.shape[:2] for a in arrays]
        scaled = [[int(y * max(size) / max(s)) for y in s] for s in shape0]
        fixed = getattr(self.model, "input_shape", None)  # exported for one (B,3,H,W) only
        shape1 = list(fixed[2:]) if fixed else [make_divisible(x, self.stride) for x in np.array(scaled).max(0)]
        if fixed:
            self.model.check_input_size(tuple(shape1), len(items))
        x = np.stack([letterbox(a, shape1, auto=False)[0] for a in arrays]).transpose((0, 3, 1, 2))
        x = torch.from_numpy(np.ascontiguousarray(x)).to(p.device).type_as(p) / 255
        t1 = time_sync()
        with torch.autocast(p.device.type, enabled=autocast):
            y = self.model(x, augment=augment)
        t2 = time_sync()
        y = non_max_suppression(y, self.conf, self.iou, self.classes, self.agnostic, self.multi_label,
                                max_det=self.max_det)
        for i in range(len(y)):
            scale_boxes(shape1, y[i][:, :4], shape0[i])
        t3 = time_sync()
        return Detections(list(arrays), y, list(files), (t1 - t0, t2 - t1, t3 - t2), self.names, tuple(x.shape))
