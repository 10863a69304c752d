"""The one image decoder. The label scan, the training/validation loader and detect.py read image files through
read_image, so an image the scan accepts is one training can use, decoded the same way; the Python API brings arrays
of any depth to 8 bits with the same to_uint8.

Depth: 8-bit as is; 16-bit scaled down (>> 8, as OpenCV does); floats in [0, 1] scaled by 255 and floats in (1, 255]
taken as 8-bit values (as the API does for tensors). Channels: grey, grey+alpha, colour and colour+alpha become 3
(alpha dropped, as YOLOv5's cv2.imread does). Anything else (NaN, negative or beyond-16-bit values, 5 channels, no
pixels) is an UnreadableImage saying why.
"""

from __future__ import annotations

import cv2
import numpy as np


class UnreadableImage(ValueError):
    """An image file or array that cannot be used as an 8-bit 3-channel image; the message says why."""


def to_uint8(im: np.ndarray) -> np.ndarray:
    """Pixels of any supported depth as uint8 (see the module docstring for the rules)."""
    if im.dtype == np.uint8:
        return im
    if im.size == 0:
        raise UnreadableImage(f"no pixels (shape {im.shape})")
    if im.dtype == np.bool_:
        raise UnreadableImage("a boolean mask, not an image")
    if np.issubdtype(im.dtype, np.floating):
        if not np.isfinite(im).all():
            raise UnreadableImage("pixel values include NaN or infinity")
        lo, hi = float(im.min()), float(im.max())
        if lo < 0 or hi > 255:
            raise UnreadableImage(f"float pixel values span [{lo:g}, {hi:g}], expected [0, 1] or [0, 255]")
        return np.round(im * 255 if hi <= 1 else im).astype(np.uint8)
    if np.issubdtype(im.dtype, np.integer):
        lo, hi = int(im.min()), int(im.max())
        if lo < 0 or hi > 65535:
            raise UnreadableImage(f"{im.dtype} pixel values span [{lo}, {hi}], expected 8 or 16 bits")
        return (im >> 8).astype(np.uint8) if im.dtype == np.uint16 or hi > 255 else im.astype(np.uint8)
    raise UnreadableImage(f"pixel type {im.dtype} is not an image type")


def three_channels(im: np.ndarray) -> np.ndarray:
    """HW, HW1, HW2 (grey+alpha), HW3 or HW4 (alpha last) as HW3, channel order kept."""
    if im.ndim == 2:
        im = im[..., None]
    if im.ndim != 3 or im.shape[2] not in (1, 2, 3, 4):
        raise UnreadableImage(f"shape {im.shape} is not an image: expected height x width x 1-4 channels")
    if im.shape[0] == 0 or im.shape[1] == 0:
        raise UnreadableImage(f"no pixels (shape {im.shape})")
    if im.shape[2] <= 2:
        return np.ascontiguousarray(np.repeat(im[..., :1], 3, axis=2))
    return np.ascontiguousarray(im[..., :3])


def _imread(path: str, flags: int) -> np.ndarray | None:
    """cv2.imread; OpenCV's refusal to decode (a decompression bomb over its pixel limit) as an UnreadableImage."""
    try:
        return cv2.imread(path, flags)
    except cv2.error as e:
        if "CV_IO_MAX_IMAGE_PIXELS" in str(e):
            raise UnreadableImage("more pixels than OpenCV decodes (CV_IO_MAX_IMAGE_PIXELS, 2^30 by default): a "
                                  "decompression bomb?") from None
        raise UnreadableImage(f"OpenCV cannot decode it: {str(e).strip().splitlines()[-1][:160]}") from None


def read_image(path: str) -> np.ndarray:
    """An image file as BGR uint8 HWC, EXIF orientation applied; UnreadableImage saying why it cannot be used."""
    im = _imread(path, cv2.IMREAD_COLOR | cv2.IMREAD_ANYDEPTH)  # any depth; grey, CMYK, palette -> BGR
    if im is None:
        im = _imread(path, cv2.IMREAD_UNCHANGED)  # e.g. one-channel float TIFFs, which the colour path refuses
    if im is None:
        raise UnreadableImage("not a readable image")
    return three_channels(to_uint8(im))
