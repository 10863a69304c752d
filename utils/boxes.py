"""Box formats and overlaps: conversions between xyxy / xywh (pixel or normalized), IoU variants, YOLO label lines."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torchvision.ops import box_iou as _tv_box_iou

Array = np.ndarray | torch.Tensor


def _clone(x: Array) -> Array:
    return x.clone() if isinstance(x, torch.Tensor) else np.copy(x)


def xyxy2xywh(x: Array) -> Array:
    """[x1, y1, x2, y2] -> [x_center, y_center, w, h]."""
    y = _clone(x)
    y[..., 0] = (x[..., 0] + x[..., 2]) / 2
    y[..., 1] = (x[..., 1] + x[..., 3]) / 2
    y[..., 2] = x[..., 2] - x[..., 0]
    y[..., 3] = x[..., 3] - x[..., 1]
    return y


def xywh2xyxy(x: Array) -> Array:
    """[x_center, y_center, w, h] -> [x1, y1, x2, y2]."""
    y = _clone(x)
    y[..., 0] = x[..., 0] - x[..., 2] / 2
    y[..., 1] = x[..., 1] - x[..., 3] / 2
    y[..., 2] = x[..., 0] + x[..., 2] / 2
    y[..., 3] = x[..., 1] + x[..., 3] / 2
    return y


def xywhn2xyxy(x: Array, w: int = 640, h: int = 640, padw: float = 0, padh: float = 0) -> Array:
    """Normalized [xc, yc, w, h] labels -> pixel [x1, y1, x2, y2], shifted by padding."""
    y = _clone(x)
    y[..., 0] = w * (x[..., 0] - x[..., 2] / 2) + padw
    y[..., 1] = h * (x[..., 1] - x[..., 3] / 2) + padh
    y[..., 2] = w * (x[..., 0] + x[..., 2] / 2) + padw
    y[..., 3] = h * (x[..., 1] + x[..., 3] / 2) + padh
    return y


def xyxy2xywhn(x: Array, w: int = 640, h: int = 640, clip: bool = False, eps: float = 0.0) -> Array:
    """Pixel [x1, y1, x2, y2] -> normalized [xc, yc, w, h], optionally clipped to the image first."""
    if clip:
        x = _clone(x)
        clip_boxes(x, (h - eps, w - eps))
    y = _clone(x)
    y[..., 0] = ((x[..., 0] + x[..., 2]) / 2) / w
    y[..., 1] = ((x[..., 1] + x[..., 3]) / 2) / h
    y[..., 2] = (x[..., 2] - x[..., 0]) / w
    y[..., 3] = (x[..., 3] - x[..., 1]) / h
    return y


def clip_boxes(boxes: Array, shape: tuple[int, int]) -> None:
    """Clip xyxy boxes in place to an image of shape (height, width)."""
    if isinstance(boxes, torch.Tensor):
        boxes[..., 0].clamp_(0, shape[1])
        boxes[..., 1].clamp_(0, shape[0])
        boxes[..., 2].clamp_(0, shape[1])
        boxes[..., 3].clamp_(0, shape[0])
    else:
        boxes[..., [0, 2]] = boxes[..., [0, 2]].clip(0, shape[1])
        boxes[..., [1, 3]] = boxes[..., [1, 3]].clip(0, shape[0])


def _letterbox_gain_pad(img1_shape: tuple, img0_shape: tuple, ratio_pad: tuple | None) -> tuple[float, tuple]:
    """The scale and (x, y) padding that letterboxed img0_shape into img1_shape, or those ratio_pad records."""
    if ratio_pad is None:
        gain = min(img1_shape[0] / img0_shape[0], img1_shape[1] / img0_shape[1])
        return gain, ((img1_shape[1] - img0_shape[1] * gain) / 2, (img1_shape[0] - img0_shape[0] * gain) / 2)
    return ratio_pad[0][0], ratio_pad[1]


def scale_boxes(img1_shape: tuple, boxes: Array, img0_shape: tuple, ratio_pad: tuple | None = None) -> Array:
    """Map xyxy boxes from a letterboxed image (img1_shape) back to the original image (img0_shape)."""
    gain, pad = _letterbox_gain_pad(img1_shape, img0_shape, ratio_pad)
    boxes[..., [0, 2]] -= pad[0]
    boxes[..., [1, 3]] -= pad[1]
    boxes[..., :4] /= gain
    clip_boxes(boxes, img0_shape)
    return boxes


def scale_segments(img1_shape: tuple, segments: np.ndarray, img0_shape: tuple, ratio_pad: tuple | None = None,
                   normalize: bool = False) -> np.ndarray:
    """Map (n, 2) xy polygon points in place from a letterboxed image back to the original image, clipped to it;
    with normalize, as fractions of its width and height (YOLO polygon labels)."""
    gain, pad = _letterbox_gain_pad(img1_shape, img0_shape, ratio_pad)
    segments[:, 0] -= pad[0]
    segments[:, 1] -= pad[1]
    segments /= gain
    segments[:, 0] = segments[:, 0].clip(0, img0_shape[1])
    segments[:, 1] = segments[:, 1].clip(0, img0_shape[0])
    if normalize:
        segments[:, 0] /= img0_shape[1]
        segments[:, 1] /= img0_shape[0]
    return segments


def box_iou(box1: torch.Tensor, box2: torch.Tensor) -> torch.Tensor:
    """Pairwise IoU (N, M) of two sets of xyxy boxes."""
    return _tv_box_iou(box1, box2)


def bbox_iou(box1: torch.Tensor, box2: torch.Tensor, xywh: bool = True, GIoU: bool = False, DIoU: bool = False,
             CIoU: bool = False, eps: float = 1e-7) -> torch.Tensor:
    """Element-wise IoU of matched boxes (..., 4), optionally the GIoU / DIoU / CIoU penalised forms used by the loss."""
    if xywh:
        (x1, y1, w1, h1), (x2, y2, w2, h2) = box1.chunk(4, -1), box2.chunk(4, -1)
        b1_x1, b1_x2, b1_y1, b1_y2 = x1 - w1 / 2, x1 + w1 / 2, y1 - h1 / 2, y1 + h1 / 2
        b2_x1, b2_x2, b2_y1, b2_y2 = x2 - w2 / 2, x2 + w2 / 2, y2 - h2 / 2, y2 + h2 / 2
    else:
        b1_x1, b1_y1, b1_x2, b1_y2 = box1.chunk(4, -1)
        b2_x1, b2_y1, b2_x2, b2_y2 = box2.chunk(4, -1)
        w1, h1 = b1_x2 - b1_x1, (b1_y2 - b1_y1).clamp(eps)
        w2, h2 = b2_x2 - b2_x1, (b2_y2 - b2_y1).clamp(eps)

    inter = (b1_x2.minimum(b2_x2) - b1_x1.maximum(b2_x1)).clamp(0) * \
            (b1_y2.minimum(b2_y2) - b1_y1.maximum(b2_y1)).clamp(0)
    union = w1 * h1 + w2 * h2 - inter + eps
    iou = inter / union
    if not (CIoU or DIoU or GIoU):
        return iou
    cw = b1_x2.maximum(b2_x2) - b1_x1.minimum(b2_x1)  # enclosing box
    ch = b1_y2.maximum(b2_y2) - b1_y1.minimum(b2_y1)
    if CIoU or DIoU:
        c2 = cw ** 2 + ch ** 2 + eps  # enclosing diagonal squared
        rho2 = ((b2_x1 + b2_x2 - b1_x1 - b1_x2) ** 2 + (b2_y1 + b2_y2 - b1_y1 - b1_y2) ** 2) / 4
        if CIoU:
            v = (4 / math.pi ** 2) * (torch.atan(w2 / h2) - torch.atan(w1 / h1)).pow(2)
            with torch.no_grad():
                alpha = v / (v - iou + (1 + eps))
            return iou - (rho2 / c2 + v * alpha)
        return iou - rho2 / c2
    c_area = cw * ch + eps
    return iou - (c_area - union) / c_area


def write_yolo_labels(file: str | Path, det: torch.Tensor, shape: tuple, save_conf: bool = False,
                      save_format: int = 0) -> None:
    """Append detections (n, 6) [x1, y1, x2, y2, conf, cls] in pixels of an image of `shape` (h, w, ...) to a
    label file, one 'cls xc yc w h [conf]' line each, normalized: YOLOv5's --save-txt format. save_format 1 writes
    normalized 'cls x1 y1 x2 y2 [conf]' (Pascal-VOC corners), as YOLOv5's detect.py --save-format 1."""
    gn = torch.tensor(shape)[[1, 0, 1, 0]]
    lines = []
    for *xyxy, conf, cls in det.tolist():
        box = torch.tensor(xyxy).view(1, 4)
        coords = ((xyxy2xywh(box) if save_format == 0 else box) / gn).view(-1).tolist()
        line = (cls, *coords, conf) if save_conf else (cls, *coords)
        lines.append(("%g " * len(line)).rstrip() % line + "\n")
    if lines:
        with open(file, "a") as f:
            f.writelines(lines)
