"""Image and box augmentations driven by the hyp YAML: letterbox, mosaic, mixup, copy-paste, perspective, HSV, flips.

Boxes here are pixel xyxy rows [cls, x1, y1, x2, y2] unless a function says otherwise. Every geometric transform
clips its boxes to the image and drops the ones it made degenerate (see box_candidates).
"""

from __future__ import annotations

import math
import random

import cv2
import numpy as np

from utils.boxes import xywhn2xyxy
from utils.logger import LOGGER, colorstr
from utils.data.segments import resample_segments, segment2box

PAD_COLOR = (114, 114, 114)


def resize_long_side(im: np.ndarray, size: int, interpolation: int = cv2.INTER_LINEAR,
                     truncate: bool = False) -> np.ndarray:
    """The image scaled so that its long side is size, as images enter training and mosaics. Sides are rounded up
    as YOLOv5 does since Dec 2022 (PR #10558); truncate=True rounds them down as v7.0 itself did."""
    h, w = im.shape[:2]
    r = size / max(h, w)
    side = int if truncate else math.ceil
    return im if r == 1 else cv2.resize(im, (side(w * r), side(h * r)), interpolation=interpolation)


def letterbox(im: np.ndarray, new_shape: int | tuple[int, int] = 640, color: tuple = PAD_COLOR, auto: bool = True,
              scaleFill: bool = False, scaleup: bool = True, stride: int = 32) -> tuple[np.ndarray, tuple, tuple]:
    """Resize keeping the aspect ratio, then pad to new_shape (h, w), or only to a stride multiple when auto.

    Returns (image, (w_ratio, h_ratio), (dw, dh)) where dw, dh are the left and top padding in pixels.
    """
    shape = im.shape[:2]
    if isinstance(new_shape, int):
        new_shape = (new_shape, new_shape)
    r = min(new_shape[0] / shape[0], new_shape[1] / shape[1])
    if not scaleup:  # only shrink: validation images are never blown up
        r = min(r, 1.0)
    ratio = r, r
    new_unpad = max(int(round(shape[1] * r)), 1), max(int(round(shape[0] * r)), 1)  # a 10000x50 image keeps a row
    dw, dh = new_shape[1] - new_unpad[0], new_shape[0] - new_unpad[1]
    if auto:
        dw, dh = np.mod(dw, stride), np.mod(dh, stride)
    elif scaleFill:  # stretch to fill, no padding
        dw, dh = 0.0, 0.0
        new_unpad = (new_shape[1], new_shape[0])
        ratio = new_shape[1] / shape[1], new_shape[0] / shape[0]
    dw, dh = dw / 2, dh / 2
    if shape[::-1] != new_unpad:
        im = cv2.resize(im, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    im = cv2.copyMakeBorder(im, top, bottom, left, right, cv2.BORDER_CONSTANT, value=color)
    return im, ratio, (dw, dh)


def augment_hsv(im: np.ndarray, hgain: float = 0.5, sgain: float = 0.5, vgain: float = 0.5) -> None:
    """Random hue, saturation and value gains, applied in place to a BGR uint8 image through lookup tables."""
    if not (hgain or sgain or vgain):
        return
    r = np.random.uniform(-1, 1, 3) * [hgain, sgain, vgain] + 1
    hue, sat, val = cv2.split(cv2.cvtColor(im, cv2.COLOR_BGR2HSV))
    x = np.arange(0, 256, dtype=r.dtype)
    lut_hue = ((x * r[0]) % 180).astype(np.uint8)
    lut_sat = np.clip(x * r[1], 0, 255).astype(np.uint8)
    lut_val = np.clip(x * r[2], 0, 255).astype(np.uint8)
    im_hsv = cv2.merge((cv2.LUT(hue, lut_hue), cv2.LUT(sat, lut_sat), cv2.LUT(val, lut_val)))
    cv2.cvtColor(im_hsv, cv2.COLOR_HSV2BGR, dst=im)


def box_candidates(box1: np.ndarray, box2: np.ndarray, wh_thr: float = 2, ar_thr: float = 100, area_thr: float = 0.1,
                   eps: float = 1e-16) -> np.ndarray:
    """Which boxes survive a transform: box1 (4, n) before, box2 (4, n) after; drop slivers, specks and mostly-cut."""
    w1, h1 = box1[2] - box1[0], box1[3] - box1[1]
    w2, h2 = box2[2] - box2[0], box2[3] - box2[1]
    ar = np.maximum(w2 / (h2 + eps), h2 / (w2 + eps))
    return (w2 > wh_thr) & (h2 > wh_thr) & (w2 * h2 / (w1 * h1 + eps) > area_thr) & (ar < ar_thr)


def _warp_matrix(shape: tuple[int, int], out_wh: tuple[int, int], degrees: float, translate: float, scale: float,
                 shear: float, perspective: float) -> tuple[np.ndarray, float]:
    """A random 3x3 warp (centre, perspective, rotate+scale, shear, translate) and the scale it drew."""
    c = np.eye(3)
    c[0, 2], c[1, 2] = -shape[1] / 2, -shape[0] / 2  # image centre to the origin
    p = np.eye(3)
    p[2, 0], p[2, 1] = random.uniform(-perspective, perspective), random.uniform(-perspective, perspective)
    r = np.eye(3)
    angle = random.uniform(-degrees, degrees)  # drawn before the scale, as YOLOv5 does, so seeded runs agree
    s = random.uniform(1 - scale, 1 + scale)
    r[:2] = cv2.getRotationMatrix2D(angle=angle, center=(0, 0), scale=s)
    sh = np.eye(3)
    sh[0, 1] = math.tan(random.uniform(-shear, shear) * math.pi / 180)
    sh[1, 0] = math.tan(random.uniform(-shear, shear) * math.pi / 180)
    t = np.eye(3)
    t[0, 2] = random.uniform(0.5 - translate, 0.5 + translate) * out_wh[0]
    t[1, 2] = random.uniform(0.5 - translate, 0.5 + translate) * out_wh[1]
    return t @ sh @ r @ p @ c, s


def _apply(m: np.ndarray, xy: np.ndarray, perspective: bool) -> np.ndarray:
    """Points (n, 2) through the 3x3 matrix m, with the perspective divide when the warp has one."""
    xyz = np.ones((len(xy), 3))
    xyz[:, :2] = xy
    xyz = xyz @ m.T
    return xyz[:, :2] / xyz[:, 2:3] if perspective else xyz[:, :2]


def _warp_boxes(m: np.ndarray, boxes: np.ndarray, perspective: bool) -> np.ndarray:
    """xyxy boxes (n, 4) -> the xyxy boxes around their four warped corners."""
    n = len(boxes)
    corners = boxes[:, [0, 1, 2, 3, 0, 3, 2, 1]].reshape(n * 4, 2)  # x1y1, x2y2, x1y2, x2y1
    xy = _apply(m, corners, perspective).reshape(n, 8)
    x, y = xy[:, [0, 2, 4, 6]], xy[:, [1, 3, 5, 7]]
    return np.stack((x.min(1), y.min(1), x.max(1), y.max(1)), axis=1)


def _warp_image(im: np.ndarray, degrees: float, translate: float, scale: float, shear: float, perspective: float,
                border: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, float]:
    """The image through a random warp, cropped or padded by border: (image, 3x3 matrix, scale drawn)."""
    height, width = im.shape[0] + border[0] * 2, im.shape[1] + border[1] * 2
    m, s = _warp_matrix(im.shape[:2], (width, height), degrees, translate, scale, shear, perspective)
    if border[0] or border[1] or (m != np.eye(3)).any():
        if perspective:
            im = cv2.warpPerspective(im, m, dsize=(width, height), borderValue=PAD_COLOR)
        else:
            im = cv2.warpAffine(im, m[:2], dsize=(width, height), borderValue=PAD_COLOR)
    return im, m, s


def _warp_segments(m: np.ndarray, segments: list, perspective: bool, width: int,
                   height: int) -> tuple[np.ndarray, np.ndarray]:
    """Polygons resampled to 1000 points along their outline and warped, (n, 1000, 2), with the xyxy box of the
    warped points that stay inside the image (resampling makes a bent edge bound the box, not just the corners)."""
    resampled = resample_segments(segments)
    xy = _apply(m, np.concatenate(resampled, 0), perspective).reshape(len(resampled), -1, 2)
    return segment2box(xy, width, height), xy


def _keep(targets: np.ndarray, s: float, new: np.ndarray, area_thr: float) -> np.ndarray:
    """Indices of the targets whose warped boxes new pass box_candidates against their boxes before (times s)."""
    return np.flatnonzero(box_candidates(targets[:, 1:5].T * s, new.T, area_thr=area_thr))


def random_perspective(im: np.ndarray, targets: np.ndarray | None = None, segments: list = (),
                       degrees: float = 10, translate: float = 0.1, scale: float = 0.1, shear: float = 10,
                       perspective: float = 0.0, border: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, np.ndarray]:
    """Warp the image and its labels; a negative border crops (mosaic 2s -> s). Boxes follow polygons when given."""
    im, m, s = _warp_image(im, degrees, translate, scale, shear, perspective, border)
    targets = np.zeros((0, 5), dtype=np.float32) if targets is None else targets
    n = len(targets)
    if not n:
        return im, targets
    height, width = im.shape[:2]
    use_segments = len(segments) == n and any(len(x) for x in segments)
    if use_segments:
        new = _warp_segments(m, segments, bool(perspective), width, height)[0]
    else:
        new = _warp_boxes(m, targets[:, 1:5], bool(perspective))
        new[:, [0, 2]] = new[:, [0, 2]].clip(0, width)
        new[:, [1, 3]] = new[:, [1, 3]].clip(0, height)
    keep = _keep(targets, s, new, area_thr=0.01 if use_segments else 0.10)
    targets = targets[keep]
    targets[:, 1:5] = new[keep]
    return im, targets


def random_perspective_segments(im: np.ndarray, targets: np.ndarray, segments: list, degrees: float = 10,
                                translate: float = 0.1, scale: float = 0.1, shear: float = 10,
                                perspective: float = 0.0,
                                border: tuple[int, int] = (0, 0)) -> tuple[np.ndarray, np.ndarray, list]:
    """random_perspective for instance masks: one pixel polygon per target, every box taken from its warped polygon,
    and the surviving polygons returned (1000 points each, unclipped) so masks can be drawn from them."""
    im, m, s = _warp_image(im, degrees, translate, scale, shear, perspective, border)
    if not len(targets):
        return im, targets, []
    height, width = im.shape[:2]
    new, xy = _warp_segments(m, segments, bool(perspective), width, height)
    keep = _keep(targets, s, new, area_thr=0.01)
    targets = targets[keep]
    targets[:, 1:5] = new[keep]
    return im, targets, list(xy[keep])


def _mosaic_regions(i: int, xc: int, yc: int, w: int, h: int, s: int) -> tuple[tuple, tuple]:
    """Where tile i (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) goes on the 2s canvas, and its crop."""
    if i == 0:
        a = max(xc - w, 0), max(yc - h, 0), xc, yc
        b = w - (a[2] - a[0]), h - (a[3] - a[1]), w, h
    elif i == 1:
        a = xc, max(yc - h, 0), min(xc + w, s * 2), yc
        b = 0, h - (a[3] - a[1]), min(w, a[2] - a[0]), h
    elif i == 2:
        a = max(xc - w, 0), yc, xc, min(s * 2, yc + h)
        b = w - (a[2] - a[0]), 0, w, min(a[3] - a[1], h)
    else:
        a = xc, yc, min(xc + w, s * 2), min(s * 2, yc + h)
        b = 0, 0, min(w, a[2] - a[0]), min(a[3] - a[1], h)
    return a, b


def mosaic4(tiles: list[tuple[np.ndarray, np.ndarray, list]], s: int) -> tuple[np.ndarray, np.ndarray, list]:
    """Four (image, normalized labels [cls, xywh], normalized polygons) around a random centre on a 2s x 2s canvas.

    Returns the canvas, pixel xyxy labels and pixel polygons, all clipped to the canvas.
    """
    yc, xc = (int(random.uniform(s // 2, 2 * s - s // 2)) for _ in range(2))
    canvas = np.full((s * 2, s * 2, tiles[0][0].shape[2]), PAD_COLOR[0], dtype=np.uint8)
    labels4, segments4 = [], []
    for i, (im, labels, segments) in enumerate(tiles):
        h, w = im.shape[:2]
        (x1a, y1a, x2a, y2a), (x1b, y1b, x2b, y2b) = _mosaic_regions(i, xc, yc, w, h, s)
        canvas[y1a:y2a, x1a:x2a] = im[y1b:y2b, x1b:x2b]
        padw, padh = x1a - x1b, y1a - y1b
        labels = labels.copy()
        if labels.size:
            labels[:, 1:] = xywhn2xyxy(labels[:, 1:], w, h, padw, padh)
        labels4.append(labels)
        segments4.extend((x * [w, h] + [padw, padh]).astype(np.float32) for x in segments)
    labels4 = np.concatenate(labels4, 0)
    for x in (labels4[:, 1:], *segments4):
        np.clip(x, 0, 2 * s, out=x)
    return canvas, labels4, segments4


def mixup(im: np.ndarray, labels: np.ndarray, im2: np.ndarray, labels2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blend two equally sized images with a Beta(32, 32) weight; keep both label sets."""
    r = np.random.beta(32.0, 32.0)
    im = (im * r + im2 * (1 - r)).astype(np.uint8)
    return im, np.concatenate((labels, labels2), 0)


def mixup_segments(im: np.ndarray, labels: np.ndarray, segments: list, im2: np.ndarray, labels2: np.ndarray,
                   segments2: list) -> tuple[np.ndarray, np.ndarray, list]:
    """mixup that keeps the polygons of both images beside their labels."""
    im, labels = mixup(im, labels, im2, labels2)
    return im, labels, [*segments, *segments2]


def bbox_ioa(box: np.ndarray, boxes: np.ndarray, eps: float = 1e-7) -> np.ndarray:
    """Intersection of one xyxy box with each of boxes (n, 4), over the area of each of boxes."""
    iw = (np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0])).clip(0)
    ih = (np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1])).clip(0)
    return iw * ih / ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) + eps)


def copy_paste(im: np.ndarray, labels: np.ndarray, segments: list,
               p: float = 0.5) -> tuple[np.ndarray, np.ndarray, list]:
    """Paste a mirrored copy of a fraction p of the polygon-labelled objects where it overlaps little (< 30%)."""
    n = len(segments)
    if not p or not n:
        return im, labels, segments
    h, w = im.shape[:2]
    mask = np.zeros(im.shape, np.uint8)
    labels, segments = labels.copy(), list(segments)
    for j in random.sample(range(n), k=round(p * n)):
        c, x1, y1, x2, y2 = labels[j]
        box = np.array([w - x2, y1, w - x1, y2])
        if (bbox_ioa(box, labels[:, 1:5]) < 0.30).all():
            labels = np.concatenate((labels, [[c, *box]]), 0)
            segments.append(np.concatenate((w - segments[j][:, 0:1], segments[j][:, 1:2]), 1))
            cv2.drawContours(mask, [segments[j].astype(np.int32)], -1, (1, 1, 1), cv2.FILLED)
    flipped = cv2.flip(im, 1)
    pasted = cv2.flip(mask, 1).astype(bool)
    im = im.copy()
    im[pasted] = flipped[pasted]
    return im, labels, segments


def draw_flips(flipud: float, fliplr: float) -> tuple[bool, bool]:
    """Whether to flip up-down (probability flipud) and left-right (fliplr), drawn in YOLOv5's order."""
    return random.random() < flipud, random.random() < fliplr


def flip(im: np.ndarray, labels: np.ndarray, ud: bool, lr: bool) -> tuple[np.ndarray, np.ndarray]:
    """The image flipped up-down and/or left-right, with its normalized xywh labels (changed in place)."""
    if ud:
        im = np.flipud(im)
        if len(labels):
            labels[:, 2] = 1 - labels[:, 2]
    if lr:
        im = np.fliplr(im)
        if len(labels):
            labels[:, 1] = 1 - labels[:, 1]
    return im, labels


def random_flips(im: np.ndarray, labels: np.ndarray, flipud: float, fliplr: float) -> tuple[np.ndarray, np.ndarray]:
    """Flip up-down with probability flipud and left-right with probability fliplr; labels are normalized xywh."""
    return flip(im, labels, *draw_flips(flipud, fliplr))


class Albumentations:
    """Rare blur / grey / CLAHE passes from the albumentations package, only when it is installed."""

    def __init__(self, prefix: str = colorstr("albumentations: ")):
        self.transform = None
        try:
            import albumentations as A
        except ImportError:
            return
        steps = [A.Blur(p=0.01), A.MedianBlur(p=0.01), A.ToGray(p=0.01), A.CLAHE(p=0.01)]
        self.transform = A.Compose(steps, bbox_params=A.BboxParams(format="yolo", label_fields=["class_labels"]))
        LOGGER.info(prefix + ", ".join(f"{x}".replace("always_apply=False, ", "") for x in steps if x.p))

    def __call__(self, im: np.ndarray, labels: np.ndarray, p: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """labels are normalized [cls, xywh] rows."""
        if self.transform is None or random.random() >= p:
            return im, labels
        out = self.transform(image=im, bboxes=labels[:, 1:], class_labels=labels[:, 0])
        boxes = np.asarray(out["bboxes"], dtype=np.float32).reshape(-1, 4)
        classes = np.asarray(out["class_labels"], dtype=np.float32).reshape(-1, 1)
        return out["image"], np.concatenate((classes, boxes), 1)
