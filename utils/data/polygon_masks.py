"""Instance masks rasterised from pixel polygons at 1/ratio of the image size, as YOLOv5 v7.0's seg loader makes them.

A polygon's points are truncated to int32, filled with OpenCV at full size and shrunk with cv2.resize (bilinear).
Each output pixel of that resize reads only its own ratio x ratio block, so when the image divides by the ratio a
polygon is filled and shrunk inside its own block-aligned bounding box: the same pixels as v7.0, at the cost of the
object's area instead of the whole image's.
"""

from __future__ import annotations

import cv2
import numpy as np

MAX_UINT8_INSTANCES = 255  # an overlap mask holds instance numbers 1..n; more than this needs int32


def _int_points(polygon: np.ndarray) -> np.ndarray:
    """A polygon as (k, 2) int32 points, truncated toward zero as v7.0 does (-3.7 -> -3, 16.99 -> 16)."""
    return np.asarray(polygon).astype(np.int32).reshape(-1, 2)


def polygon2mask(img_size: tuple[int, int], polygons: list | np.ndarray, color: int = 1,
                 downsample_ratio: int = 1) -> np.ndarray:
    """polygons (each flat x1 y1 x2 y2 ... or (k, 2) pixels) filled in one fillPoly on an (h, w) image, then resized
    to (h // ratio, w // ratio) uint8; filled together, overlaps are left as OpenCV's even-odd fill leaves them."""
    h, w = img_size
    mask = np.zeros((h, w), dtype=np.uint8)
    cv2.fillPoly(mask, [_int_points(p) for p in polygons], color=color)
    return cv2.resize(mask, (w // downsample_ratio, h // downsample_ratio))


def _block_bounds(lo: int, hi: int, size: int, r: int) -> tuple[int, int]:
    """[lo, hi] pixel span clipped to [0, size) and widened to whole r-pixel blocks: (start, stop)."""
    start = min(max(lo, 0), size) // r * r
    stop = -(-min(max(hi + 1, 0), size) // r) * r
    return start, max(stop, start)


def _mask_tile(points: np.ndarray, img_size: tuple[int, int], r: int) -> tuple[np.ndarray, int, int]:
    """One polygon's downsampled 0/1 mask inside its block-aligned box: (tile, row, col) in downsampled pixels.
    Images that do not divide by r are resized with a non-integer step, so they get the full-image mask."""
    h, w = img_size
    if h % r or w % r:
        return polygon2mask(img_size, [points], 1, r), 0, 0
    x0, x1 = _block_bounds(int(points[:, 0].min()), int(points[:, 0].max()), w, r)
    y0, y1 = _block_bounds(int(points[:, 1].min()), int(points[:, 1].max()), h, r)
    if x1 == x0 or y1 == y0:  # wholly outside the image
        return np.zeros((0, 0), dtype=np.uint8), 0, 0
    tile = np.zeros((y1 - y0, x1 - x0), dtype=np.uint8)
    cv2.fillPoly(tile, [points - np.array([x0, y0], dtype=np.int32)], color=1)
    tile = cv2.resize(tile, ((x1 - x0) // r, (y1 - y0) // r)) if r > 1 else tile
    return tile, y0 // r, x0 // r


def _tiles(img_size: tuple[int, int], polygons: list, r: int) -> list[tuple[np.ndarray, int, int]]:
    """The mask tile of every polygon; empty polygons give empty tiles."""
    return [_mask_tile(_int_points(p), img_size, r) if np.size(p) else (np.zeros((0, 0), np.uint8), 0, 0)
            for p in polygons]


def polygons2masks(img_size: tuple[int, int], polygons: list, color: int = 1, downsample_ratio: int = 1) -> np.ndarray:
    """One mask per polygon: (n, h // ratio, w // ratio) uint8 holding color inside the polygon, 0 elsewhere."""
    h, w = img_size[0] // downsample_ratio, img_size[1] // downsample_ratio
    masks = np.zeros((len(polygons), h, w), dtype=np.uint8)
    for i, (tile, y, x) in enumerate(_tiles(img_size, polygons, downsample_ratio)):
        th, tw = tile.shape
        masks[i, y:y + th, x:x + tw] = tile * np.uint8(color)
    return masks


def overlap_order(areas: np.ndarray) -> np.ndarray:
    """v7.0's instance order for an overlap mask: empty masks first (it sorts the negated unsigned pixel counts, and
    -0 is 0), then by area, largest first; smaller instances come later and so own the pixels they share."""
    areas = np.asarray(areas, dtype=np.int64)
    return np.argsort(np.where(areas > 0, -areas, np.iinfo(np.int64).min))


def polygons2masks_overlap(img_size: tuple[int, int], segments: list,
                           downsample_ratio: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """All instances in one (h // ratio, w // ratio) mask: pixel value k is the k-th instance (1-based) of the returned
    order (see overlap_order), 0 background. Returns (mask, order); labels must be reordered with order too."""
    h, w = img_size[0] // downsample_ratio, img_size[1] // downsample_ratio
    dtype = np.uint8 if len(segments) <= MAX_UINT8_INSTANCES else np.int32
    mask = np.zeros((h, w), dtype=dtype)
    tiles = _tiles(img_size, segments, downsample_ratio)
    order = overlap_order([int(t[0].sum()) for t in tiles])
    for k, i in enumerate(order, start=1):
        tile, y, x = tiles[i]
        th, tw = tile.shape
        mask[y:y + th, x:x + tw][tile > 0] = k
    return mask, order
