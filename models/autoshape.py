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
from utils.checks import IMAGE_SIDE, make_divisible
from models.detections import Detections
from utils.data.image_decode import UnreadableImage, three_channels, to_uint8
from utils.errors import UserError
from utils.files import safe_filename
from utils.inference.nms import non_max_suppression
from utils.torch_utils import time_sync, to_float_image

ImageInput = str | Path | Image.Image | np.ndarray | torch.Tensor


def open_image(source: str | Path) -> Image.Image:
    """A PIL image from a local path or an http(s) URL; UserError naming the source when it cannot be read."""
    try:
        if str(source).startswith(("http:/", "https:/")):
            with urllib.request.urlopen(str(source), timeout=10) as r:
                return Image.open(io.BytesIO(r.read()))
        return Image.open(source)
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError) as e:
        raise UserError(f"cannot read image {source}: {e}") from None


def _pixels(im: ImageInput) -> ImageInput:
    """PIL images and tensors as numpy arrays of their own depth (16-bit and float modes are not clipped to 8 bits)."""
    if isinstance(im, Image.Image):
        return np.asarray(im if im.mode in ("I", "I;16", "I;16B", "I;16L", "F") else im.convert("RGB"))
    if isinstance(im, torch.Tensor):
        im = im.detach().cpu()
        return (im.float() if im.is_floating_point() else im).numpy()
    return im


def to_rgb_array(im: ImageInput, i: int) -> tuple[np.ndarray, str]:
    """One input as a contiguous RGB HWC uint8 array, and the .jpg file name its results are saved under.

    Depth and channels are normalized by utils/data/image_decode (the rules training uses for image files)."""
    name = f"image{i}"
    if isinstance(im, (str, Path)):
        im, name = ImageOps.exif_transpose(open_image(im)), str(im)
    elif isinstance(im, Image.Image):
        name = getattr(im, "filename", "") or name
        im = ImageOps.exif_transpose(im)
    im = _pixels(im)
    if not isinstance(im, np.ndarray):
        raise UserError(f"input {i} is a {type(im).__name__}; give file paths, URLs, PIL images, numpy arrays or "
                        f"tensors")
    if im.ndim == 3 and im.shape[0] in (1, 3, 4) and im.shape[2] > 4:  # CHW -> HWC
        im = im.transpose((1, 2, 0))
    try:
        im = three_channels(to_uint8(im))
    except UnreadableImage as e:
        raise UserError(f"input {i} ({name}) cannot be used: {e}") from None
    return im, f"{safe_filename(Path(name).stem, f'image{i}')}.jpg"


def image_size(size: int | tuple[int, ...] | list[int]) -> tuple[int, int]:
    """size as (height, width); UserError for anything but one or two whole numbers in [1, MAX_IMAGE_SIZE]."""
    sizes = [size] if not isinstance(size, (tuple, list)) else list(size)
    sizes = [int(s) if isinstance(s, np.integer) else s for s in sizes]
    if not 1 <= len(sizes) <= 2 or not all(IMAGE_SIDE.accepts(s) for s in sizes):
        raise UserError(f"size={size!r} is invalid: give {IMAGE_SIDE.describe()}, or (height, width) of them")
    return (sizes[0], sizes[-1])


class AutoShape(nn.Module):
    """Pre-process, infer and NMS in one call; tune with .conf, .iou, .classes, .agnostic, .multi_label, .max_det.

    Accepted images, alone or in a non-empty list (each may differ in kind and size):
      file path or http(s) URL (str or Path); PIL image (any mode; 16-bit and float modes keep their depth);
      numpy array or torch tensor, HWC or CHW, RGB order, 1 (grey), 2 (grey + alpha), 3 or 4 (alpha dropped) channels:
        uint8 as is; uint16 (and integer arrays above 255) scaled to 8 bits (>> 8);
        float in [0, 1] scaled by 255 (like a float tensor), float in (1, 255] taken as 8-bit values.
      A 4-D float tensor (B, 3, H, W) in [0, 1] goes to the model as is and returns its raw output.
    Refused in one UserError line: an empty list, an image without pixels (0 x N), NaN/infinite or negative values,
    more than 16 bits, other channel counts, boolean masks, other types; size other than one or two integers in
    [1, 16384]."""

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
        if self.pt:  # as YOLOv5's wrapper: the head returns only the decoded tensor, so the wrapper traces
            head = (model.model if isinstance(model, DetectMultiBackend) else model).model[-1]
            if hasattr(head, "export"):
                head.inplace, head.export = False, True
        self.stride = model.stride if isinstance(model.stride, int) else int(model.stride.max())
        self.names = model.names

    @torch.inference_mode()
    def forward(self, ims: ImageInput | list[ImageInput], size: int | tuple[int, int] = 640,
                augment: bool = False) -> Detections | torch.Tensor | list:
        """Detections for one or a list of images; a 4-D (B,3,H,W) float tensor gets the raw model output instead."""
        t0 = time_sync()
        size = image_size(size)
        p = next(self.model.parameters()) if self.pt else torch.empty(1, device=self.model.device)
        autocast = self.amp and p.device.type != "cpu"
        if isinstance(ims, torch.Tensor) and ims.ndim == 4:
            with torch.autocast(p.device.type, enabled=autocast):
                return self.model(ims.to(p.device).type_as(p), augment=augment)
        items = list(ims) if isinstance(ims, (list, tuple)) else [ims]
        if not items:
            raise UserError("no images given: pass an image (path, URL, PIL image, array or tensor) or a non-empty list")
        arrays, files = zip(*(to_rgb_array(im, i) for i, im in enumerate(items)))
        shape0 = [a.shape[:2] for a in arrays]
        scaled = [[int(y * max(size) / max(s)) for y in s] for s in shape0]
        fixed = getattr(self.model, "input_shape", None)  # exported for one (B,3,H,W) only
        shape1 = list(fixed[2:]) if fixed else [make_divisible(x, self.stride) for x in np.array(scaled).max(0)]
        if fixed:
            self.model.check_input_size(tuple(shape1), len(items))
        x = np.stack([letterbox(a, shape1, auto=False)[0] for a in arrays]).transpose((0, 3, 1, 2))
        x = to_float_image(np.ascontiguousarray(x), p.device, half=p.dtype == torch.float16)
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
