"""Polygon labels (YOLO segment rows): their bounding boxes and resampling, so augmentations can warp them."""

from __future__ import annotations

import numpy as np


def segment2box(segment: np.ndarray, width: int = 640, height: int = 640) -> np.ndarray:
    """xyxy box around the points of a (k, 2) polygon, or of each of (n, k, 2) polygons, that lie inside the image;
    points outside are left out, not clipped, and a polygon with none inside gets zeros."""
    x, y = segment[..., 0], segment[..., 1]
    inside = (x >= 0) & (y >= 0) & (x <= width) & (y <= height)
    lo = [np.min(np.where(inside, v, np.inf), axis=-1, initial=np.inf) for v in (x, y)]
    hi = [np.max(np.where(inside, v, -np.inf), axis=-1, initial=-np.inf) for v in (x, y)]
    box = np.stack((lo[0], lo[1], hi[0], hi[1]), axis=-1)
    return np.where(inside.any(-1)[..., None], box, 0).astype(segment.dtype)


def segments2boxes(segments: list[np.ndarray]) -> np.ndarray:
    """Normalized xywh boxes (n, 4) that enclose each normalized (k, 2) polygon."""
    boxes = np.zeros((len(segments), 4), dtype=np.float32)
    for i, s in enumerate(segments):
        (x1, y1), (x2, y2) = s.min(0), s.max(0)
        boxes[i] = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
    return boxes


def boxes2segments(boxes: np.ndarray) -> list[np.ndarray]:
    """The four corners (clockwise from top-left) of each xywh box (n, 4) as a polygon, so box rows get masks too."""
    x, y, w, h = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).T[:, :, None]
    xs = np.concatenate((x - w / 2, x + w / 2, x + w / 2, x - w / 2), 1)
    ys = np.concatenate((y - h / 2, y - h / 2, y + h / 2, y + h / 2), 1)
    return list(np.stack((xs, ys), 2))


def resample_segments(segments: list[np.ndarray], n: int = 1000) -> list[np.ndarray]:
    """Each closed polygon resampled to n evenly spaced points, so a perspective warp bends its edges too."""
    out = []
    for s in segments:
        closed = np.concatenate((s, s[:1]), axis=0)
        t = np.linspace(0, len(closed) - 1, n)
        knots = np.arange(len(closed))
        out.append(np.stack([np.interp(t, knots, closed[:, i]) for i in range(2)], axis=1))
    return out
