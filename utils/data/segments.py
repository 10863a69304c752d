"""Polygon labels (YOLO segment rows): their bounding boxes and resampling, so augmentations can warp them."""

from __future__ import annotations

import numpy as np


def segment2box(segment: np.ndarray, width: int = 640, height: int = 640) -> np.ndarray:
    """xyxy box around the points of one (n, 2) polygon that lie inside the image; zeros when none do."""
    x, y = segment.T
    inside = (x >= 0) & (y >= 0) & (x <= width) & (y <= height)
    x, y = x[inside], y[inside]
    if not len(x):
        return np.zeros(4, dtype=segment.dtype)
    return np.array([x.min(), y.min(), x.max(), y.max()], dtype=segment.dtype)


def segments2boxes(segments: list[np.ndarray]) -> np.ndarray:
    """Normalized xywh boxes (n, 4) that enclose each normalized (k, 2) polygon."""
    boxes = np.zeros((len(segments), 4), dtype=np.float32)
    for i, s in enumerate(segments):
        (x1, y1), (x2, y2) = s.min(0), s.max(0)
        boxes[i] = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1
    return boxes


def resample_segments(segments: list[np.ndarray], n: int = 1000) -> list[np.ndarray]:
    """Each closed polygon resampled to n evenly spaced points, so a perspective warp bends its edges too."""
    out = []
    for s in segments:
        closed = np.concatenate((s, s[:1]), axis=0)
        t = np.linspace(0, len(closed) - 1, n)
        knots = np.arange(len(closed))
        out.append(np.stack([np.interp(t, knots, closed[:, i]) for i in range(2)], axis=1).astype(np.float32))
    return out
