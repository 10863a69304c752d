"""The segmentation dataset: detection's dataset with every image's polygons carried through mosaic, copy-paste,
random perspective, mixup and flips, then drawn as instance masks at 1/mask_ratio of the image (YOLOv5 v7.0's).

An item is detection's (image, labels, path, shapes) plus masks: with overlap one (1, H/r, W/r) index mask whose
pixel value k is the image's k-th label (1-based; labels reordered by polygon_masks.overlap_order), otherwise
(n, H/r, W/r) 0/1 masks in label order.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from utils.data.augmentations import draw_flips, flip, mixup_segments, random_perspective_segments
from utils.data.datasets import LoadImagesAndLabels
from utils.data.polygon_masks import polygons2masks, polygons2masks_overlap
from utils.data.segments import boxes2segments
from utils.errors import UserError


class LoadImagesAndLabelsAndMasks(LoadImagesAndLabels):
    """YOLO polygon-label dataset for instance segmentation; see the module docstring for what an item is."""

    truncate_sides = True  # v7.0's load_image truncated resized sides (int); its segment/val.py figures depend on it

    def __init__(self, path: str | Path | list, img_size: int = 640, batch_size: int = 16, augment: bool = False,
                 hyp: dict | None = None, rect: bool = False, image_weights: bool = False,
                 cache_images: bool | str = False, single_cls: bool = False, stride: int = 32, pad: float = 0.0,
                 min_items: int = 0, prefix: str = "", nc: int | None = None, mask_ratio: int = 4,
                 overlap: bool = True):
        if int(mask_ratio) != mask_ratio or mask_ratio < 1:
            raise UserError(f"--mask-ratio {mask_ratio} must be a positive integer (masks are 1/mask-ratio the size)")
        self.mask_ratio, self.overlap = int(mask_ratio), overlap
        super().__init__(path, img_size, batch_size, augment=augment, hyp=hyp, rect=rect, image_weights=image_weights,
                         cache_images=cache_images, single_cls=single_cls, stride=stride, pad=pad,
                         min_items=min_items, prefix=prefix, nc=nc)

    def _load_labels(self, path: str | Path | list, prefix: str, nc: int | None) -> None:
        """Detection's scan, then: polygons are required, and an image with box rows only gets each box's corners
        as its polygons (v7.0 would silently lose its labels)."""
        super()._load_labels(path, prefix, nc)
        if any(len(lb) for lb in self.labels) and not any(len(s) for s in self.segments):
            raise UserError(f"{prefix}the labels of {path} have no polygons, only boxes (class x y w h); segmentation "
                            f"needs polygon rows 'class x1 y1 x2 y2 ...' (is this a detection dataset?)")
        self.segments = [s if len(s) or not len(lb) else boxes2segments(lb[:, 1:])
                         for lb, s in zip(self.labels, self.segments)]

    def load_mosaic(self, index: int) -> tuple[np.ndarray, np.ndarray, list]:
        """Detection's copy-pasted mosaic, warped with its polygons: (image, pixel xyxy labels, pixel polygons)."""
        return random_perspective_segments(*self._pasted_mosaic(index), **self._warp_args(),
                                           border=self.mosaic_border)

    def _load_letterboxed_segments(self, index: int) -> tuple[np.ndarray, np.ndarray, list, tuple]:
        """Image index letterboxed (and warped when augmenting): (image, pixel xyxy labels, pixel polygons, shapes)."""
        im, labels, (w, h, padw, padh), shapes = self._letterbox(index)
        segments = [x * np.array([w, h], dtype=np.float32) + np.array([padw, padh], dtype=np.float32)
                    for x in self.segments[index]]
        if self.augment:
            im, labels, segments = random_perspective_segments(im, labels, segments, **self._warp_args())
        return im, labels, segments, shapes

    def _masks(self, shape: tuple[int, int], labels: np.ndarray, segments: list) -> tuple[np.ndarray, np.ndarray]:
        """(labels, masks) of one image of the given (h, w); with overlap the labels come back in mask order."""
        r = self.mask_ratio
        if not len(labels):
            return labels, np.zeros((1 if self.overlap else 0, shape[0] // r, shape[1] // r), dtype=np.uint8)
        if self.overlap:
            mask, order = polygons2masks_overlap(shape, segments, r)
            return labels[order], mask[None]
        return labels, polygons2masks(shape, segments, color=1, downsample_ratio=r)

    def _item(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str, tuple | None, torch.Tensor]:
        hyp = self.hyp
        if self.mosaic and random.random() < hyp["mosaic"]:
            im, labels, segments = self.load_mosaic(index)
            shapes = None
            if random.random() < hyp["mixup"]:
                other = self.load_mosaic(random.choice(self.indices))
                im, labels, segments = mixup_segments(im, labels, segments, *other)
        else:
            im, labels, segments, shapes = self._load_letterboxed_segments(index)
        labels, masks = self._masks(im.shape[:2], self._normalize_boxes(labels, im), segments)
        if self.augment:
            im, labels = self._photometric(im, labels)
            ud, lr = draw_flips(hyp["flipud"], hyp["fliplr"])
            im, labels = flip(im, labels, ud, lr)
            masks = np.flip(masks, tuple(axis for axis, flipped in ((1, ud), (2, lr)) if flipped))
        masks = torch.from_numpy(np.ascontiguousarray(masks))
        return *self._as_tensors(im, labels), self.im_files[index], shapes, masks

    @staticmethod
    def collate_fn(batch: list) -> tuple[torch.Tensor, torch.Tensor, tuple, tuple, torch.Tensor]:
        """Detection's batch plus every item's masks concatenated: (bs, H/r, W/r) with overlap, (n_labels, ...) not."""
        *items, masks = zip(*batch)
        return (*LoadImagesAndLabels.collate_fn(list(zip(*items))), torch.cat(masks, 0))
