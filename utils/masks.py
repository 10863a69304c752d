"""Instance-mask geometry shared by the seg loss, validation and prediction: masks from prototypes and coefficients,
cropping to boxes, mapping masks back to the original image, mask IoU and mask outlines (YOLOv5 v7.0's arithmetic)."""

from __future__ import annotations

import cv2
import numpy as np
import torch
import torch.nn.functional as F

CV_MAX_CHANNELS = 128  # channels one cv2.resize call accepts; bilinear resizing treats each channel alone


def crop_mask(masks: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Zero each mask (n, h, w) outside its box (n, 4) xyxy in mask pixels: pixel index x1 <= col < x2, y1 <= row < y2."""
    _, h, w = masks.shape
    x1, y1, x2, y2 = torch.chunk(boxes[:, :, None], 4, 1)  # each (n, 1, 1)
    cols = torch.arange(w, device=masks.device, dtype=x1.dtype)[None, None, :]
    rows = torch.arange(h, device=masks.device, dtype=x1.dtype)[None, :, None]
    return masks * ((cols >= x1) * (cols < x2) * (rows >= y1) * (rows < y2))


def _mask_probs(protos: torch.Tensor, masks_in: torch.Tensor) -> torch.Tensor:
    """Per detection, the sigmoid of its coefficients (n, c) times the prototypes (c, mh, mw): (n, mh, mw)."""
    c, mh, mw = protos.shape
    return (masks_in @ protos.float().view(c, -1)).sigmoid().view(-1, mh, mw)


def _upsample(masks: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (n, h, w) masks to shape (h, w), half-pixel centres as YOLOv5."""
    return F.interpolate(masks[None], shape, mode="bilinear", align_corners=False)[0]


def process_mask(protos: torch.Tensor, masks_in: torch.Tensor, bboxes: torch.Tensor, shape: tuple[int, int],
                 upsample: bool = False) -> torch.Tensor:
    """Binary masks of detections: cropped at prototype resolution (fast), optionally upsampled to the input `shape`.

    protos (c, mh, mw); masks_in (n, c) coefficients; bboxes (n, 4) xyxy in input pixels; shape (h, w) of the input."""
    _, mh, mw = protos.shape
    ih, iw = shape
    masks = _mask_probs(protos, masks_in)
    scaled = bboxes.clone()
    scaled[:, [0, 2]] *= mw / iw
    scaled[:, [1, 3]] *= mh / ih
    masks = crop_mask(masks, scaled)
    if upsample:
        masks = _upsample(masks, shape)
    return masks.gt_(0.5)


def process_mask_upsample(protos: torch.Tensor, masks_in: torch.Tensor, bboxes: torch.Tensor,
                          shape: tuple[int, int]) -> torch.Tensor:
    """Binary masks upsampled to the input `shape` before cropping with input-pixel boxes (more accurate edges)."""
    masks = _upsample(_mask_probs(protos, masks_in), shape)
    return crop_mask(masks, bboxes).gt_(0.5)


def process_mask_native(protos: torch.Tensor, masks_in: torch.Tensor, bboxes: torch.Tensor,
                        shape: tuple[int, int]) -> torch.Tensor:
    """Binary masks at the original image's `shape` (h, w) (retina masks): the letterbox padding is cut from the
    prototypes, the rest upsampled, then cropped with boxes (n, 4) xyxy in original-image pixels."""
    _, mh, mw = protos.shape
    masks = _mask_probs(protos, masks_in)
    gain = min(mh / shape[0], mw / shape[1])
    pad_w, pad_h = (mw - shape[1] * gain) / 2, (mh - shape[0] * gain) / 2
    masks = masks[:, int(pad_h):int(mh - pad_h), int(pad_w):int(mw - pad_w)]
    return crop_mask(_upsample(masks, shape), bboxes).gt_(0.5)


def scale_image(im1_shape: tuple[int, int], masks: np.ndarray, im0_shape: tuple, ratio_pad=None) -> np.ndarray:
    """Masks (h1, w1[, k]) of a letterboxed input (im1_shape) cut to the unpadded window and resized (bilinear) to
    the original image im0_shape (h0, w0, ...): (h0, w0, k). ratio_pad ((gain, gain), (pad_w, pad_h)) as the loader
    records it; only its padding is used."""
    if ratio_pad is None:
        gain = min(im1_shape[0] / im0_shape[0], im1_shape[1] / im0_shape[1])
        pad = (im1_shape[1] - im0_shape[1] * gain) / 2, (im1_shape[0] - im0_shape[0] * gain) / 2
    else:
        pad = ratio_pad[1]
    top, left = int(pad[1]), int(pad[0])
    bottom, right = int(im1_shape[0] - pad[1]), int(im1_shape[1] - pad[0])
    if masks.ndim < 2:
        raise ValueError(f"scale_image: masks need 2 or 3 dimensions (h, w[, k]), got shape {masks.shape}")
    masks = masks[top:bottom, left:right]
    size = (im0_shape[1], im0_shape[0])
    if masks.ndim == 2:
        return cv2.resize(masks, size)[:, :, None]
    chunks = [cv2.resize(masks[..., i:i + CV_MAX_CHANNELS], size).reshape(size[1], size[0], -1)
              for i in range(0, masks.shape[2], CV_MAX_CHANNELS)]  # one resize takes at most 128 channels (OpenCV 5)
    return np.concatenate(chunks, 2) if chunks else np.zeros((size[1], size[0], 0), masks.dtype)


def mask_iou(mask1: torch.Tensor, mask2: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Pairwise IoU (n, m) of flattened 0/1 masks mask1 (n, hw) and mask2 (m, hw)."""
    intersection = (mask1 @ mask2.T).clamp(0)
    union = mask1.sum(1)[:, None] + mask2.sum(1)[None] - intersection
    return intersection / (union + eps)


def masks_iou(mask1: torch.Tensor, mask2: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Row-by-row IoU of flattened 0/1 masks (n, hw) and (n, hw), shaped (1, n) as YOLOv5 v7.0 returns it."""
    intersection = (mask1 * mask2).sum(1).clamp(0)
    union = (mask1.sum(1) + mask2.sum(1))[None] - intersection
    return intersection / (union + eps)


def masks2segments(masks: torch.Tensor, strategy: str = "largest") -> list[np.ndarray]:
    """Outline polygons (k, 2) float32 xy of binary masks (n, h, w): the outer contour with the most points
    ('largest') or all outer contours joined ('concat'); an empty mask gives (0, 2)."""
    if strategy not in ("largest", "concat"):
        raise ValueError(f"masks2segments: strategy must be 'largest' or 'concat', got {strategy!r}")
    segments = []
    for m in masks.int().cpu().numpy().astype(np.uint8):
        contours = cv2.findContours(m, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
        if not contours:
            segments.append(np.zeros((0, 2), np.float32))
        elif strategy == "concat":
            segments.append(np.concatenate([c.reshape(-1, 2) for c in contours]).astype(np.float32))
        else:
            largest = int(np.argmax([len(c) for c in contours]))
            segments.append(contours[largest].reshape(-1, 2).astype(np.float32))
    return segments
