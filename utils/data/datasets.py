"""The training/validation dataset: YOLO-format images and labels, image caching, rectangular batches, augmentation.

A batch item is (CHW RGB uint8 tensor, labels (n, 6) [0, cls, xc, yc, w, h] normalized, image path, shapes),
where shapes = ((h0, w0), ((h / h0, w / w0), (padw, padh))) for letterboxed images and None for mosaics.
"""

from __future__ import annotations

import random
from multiprocessing.pool import ThreadPool
from pathlib import Path

import cv2
import numpy as np
import psutil
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset
from tqdm import tqdm

from utils.data.augmentations import (Albumentations, augment_hsv, copy_paste, letterbox, mixup, mosaic4, random_flips,
                                 random_perspective, resize_long_side)
from utils.boxes import xywhn2xyxy, xyxy2xywhn
from utils.errors import UserError
from utils.files import ROOT, is_writeable, yaml_load
from utils.data.image_decode import UnreadableImage, read_image
from utils.data.image_files import IMG_FORMATS, VID_FORMATS, img2label_paths, list_image_files
from utils.data.label_scan import NUM_THREADS, TQDM_BAR_FORMAT, label_cache_path, scan_labels
from utils.logger import LOGGER
from utils.distributed import local_rank

__all__ = ["IMG_FORMATS", "VID_FORMATS", "img2label_paths", "LoadImagesAndLabels"]

DEFAULT_HYP = ROOT / "data" / "hyps" / "hyp.scratch-low.yaml"
GB = 1 << 30
MAX_SUBSTITUTES = 100  # undecodable images skipped in a row before giving up


def rect_batch_shapes(shapes: np.ndarray, batch_size: int, img_size: int, stride: int, pad: float) -> np.ndarray:
    """(h, w) of each batch for images sorted by aspect ratio: the smallest stride-aligned shape that fits them all."""
    ar = shapes[:, 1] / shapes[:, 0]  # h / w
    bi = np.floor(np.arange(len(shapes)) / batch_size).astype(int)
    out = np.ones((bi[-1] + 1, 2))
    for i in range(len(out)):
        ari = ar[bi == i]
        if ari.max() < 1:
            out[i] = ari.max(), 1
        elif ari.min() > 1:
            out[i] = 1, 1 / ari.min()
    return np.ceil(out * img_size / stride + pad).astype(int) * stride


class LoadImagesAndLabels(Dataset):
    """YOLO-format detection dataset; see the module docstring for what an item is."""

    truncate_sides = False  # resized sides rounded up (YOLOv5 after v7.0, whose detection figures we reproduce)

    def __init__(self, path: str | Path | list, img_size: int = 640, batch_size: int = 16, augment: bool = False,
                 hyp: dict | None = None, rect: bool = False, image_weights: bool = False,
                 cache_images: bool | str = False, single_cls: bool = False, stride: int = 32, pad: float = 0.0,
                 min_items: int = 0, prefix: str = "", nc: int | None = None):
        self.img_size, self.augment, self.stride, self.path = img_size, augment, stride, path
        self.hyp = hyp if hyp is not None or not augment else yaml_load(DEFAULT_HYP)
        self.image_weights = image_weights
        self.rect = False if image_weights else rect
        self.mosaic = augment and not self.rect  # mosaics are square, rectangular batches are not
        self.mosaic_border = [-img_size // 2, -img_size // 2]
        self.albumentations = Albumentations() if augment else None

        self._load_labels(path, prefix, nc)
        self._keep_min_items(min_items, prefix)
        if not self.im_files:
            raise UserError(f"{prefix}no usable images in {path}: every image was left out (see warnings above)")
        if single_cls:
            for lb in self.labels:
                lb[:, 0] = 0
        self.n = len(self.im_files)
        self.indices = range(self.n)
        self.batch = np.floor(np.arange(self.n) / batch_size).astype(int)
        if self.rect:  # neighbours of similar shape share a batch; numpy's default (unstable) sort, as YOLOv5
            self._reorder((self.shapes[:, 1] / self.shapes[:, 0]).argsort())
            self.batch_shapes = rect_batch_shapes(self.shapes, batch_size, img_size, stride, pad)
        self.label_files = img2label_paths(self.im_files)
        self.npy_files = [Path(f).with_suffix(".npy") for f in self.im_files]
        self.ims, self.im_hw0, self.im_hw = [None] * self.n, [None] * self.n, [None] * self.n
        self.cache = self._cache_mode(cache_images, prefix)
        if self.cache:
            self._cache_images(prefix)

    def _load_labels(self, path: str | Path | list, prefix: str, nc: int | None) -> None:
        """Images and labels that passed the scan (cached); training needs at least one label file."""
        im_files = list_image_files(path, prefix)
        label_files = img2label_paths(im_files)
        cache_path = label_cache_path(path, label_files)
        index = scan_labels(im_files, label_files, cache_path, prefix, nc)
        if self.augment and not index.counts["found"]:
            raise UserError(f"{prefix}no labels found in {cache_path.with_suffix('')} (a label file is looked for at "
                            f"each image's path with the last /images/ replaced by /labels/ and the extension by .txt, "
                            f"e.g. {label_files[0]}); can not start training")
        self.im_files, self.labels, self.segments = index.im_files, index.labels, index.segments
        self.shapes = np.asarray(index.shapes, dtype=np.int64).reshape(-1, 2)

    def _keep_min_items(self, min_items: int, prefix: str) -> None:
        """Drop images with fewer than min_items labels (YOLOv5's --min-items)."""
        if not min_items:
            return
        keep = [i for i, lb in enumerate(self.labels) if len(lb) >= min_items]
        LOGGER.info(f"{prefix}{len(self.im_files) - len(keep)}/{len(self.im_files)} images filtered from dataset")
        self._reorder(keep)

    def _reorder(self, order: list[int] | np.ndarray) -> None:
        """Keep / reorder images, labels, polygons and shapes together."""
        self.im_files = [self.im_files[i] for i in order]
        self.labels = [self.labels[i] for i in order]
        self.segments = [self.segments[i] for i in order]
        self.shapes = self.shapes[np.asarray(order, dtype=int)].reshape(-1, 2)

    def _cache_mode(self, cache: bool | str, prefix: str) -> str:
        """'ram', 'disk' or '' after checking that the chosen cache fits (RAM) or can be written (disk)."""
        mode = "ram" if cache is True else (cache or "")
        if mode not in ("", "ram", "disk"):
            raise UserError(f"--cache {cache} not understood, use 'ram' or 'disk'")
        if mode == "ram" and not self._ram_cache_fits(prefix):
            return ""
        if mode == "disk":
            read_only = sorted(str(p) for p in {f.parent for f in self.npy_files} if not is_writeable(p))
            if read_only:
                LOGGER.warning(f"{prefix}WARNING ⚠️ --cache disk: {read_only[0]} is not writeable, not caching images")
                return ""
        return mode

    def _ram_cache_fits(self, prefix: str, safety_margin: float = 0.1) -> bool:
        """Estimate the RAM that cached, resized images need from up to 30 of them; True when it is available."""
        sample = np.linspace(0, self.n - 1, min(self.n, 30)).astype(int)
        b = 0.0
        for i in sample:
            h, w = self.shapes[i][::-1]
            b += h * w * 3 * (self.img_size / max(h, w)) ** 2
        required = b * self.n / len(sample)
        mem = psutil.virtual_memory()
        fits = required * (1 + safety_margin) < mem.available
        if not fits:
            LOGGER.warning(f"{prefix}WARNING ⚠️ {required / GB:.1f}GB RAM required, "
                           f"{mem.available / GB:.1f}/{mem.total / GB:.1f}GB available, not caching images")
        return fits

    def _cache_images(self, prefix: str) -> None:
        """Load every image once into RAM (resized) or into a .npy beside it (disk), in parallel."""
        b = 0
        with ThreadPool(NUM_THREADS) as pool:
            pbar = tqdm(enumerate(pool.imap(self._cache_one, range(self.n))), total=self.n,
                        bar_format=TQDM_BAR_FORMAT, disable=local_rank() > 0)
            for i, x in pbar:
                if x is None:
                    continue
                if self.cache == "disk":
                    b += self.npy_files[i].stat().st_size
                else:
                    self.ims[i], self.im_hw0[i], self.im_hw[i] = x
                    b += self.ims[i].nbytes
                pbar.desc = f"{prefix}Caching images ({b / GB:.1f}GB {self.cache})"
            pbar.close()

    def _cache_one(self, i: int) -> tuple | bool | None:
        """Cache image i; None (with a warning) when it cannot be decoded, left for __getitem__ to skip."""
        try:
            if self.cache == "disk":
                self._cache_to_disk(i)
                return True
            return self.load_image(i)
        except UnreadableImage as e:
            LOGGER.warning(f"WARNING ⚠️ {e}; not cached")
            return None

    def _cache_to_disk(self, i: int) -> None:
        """Save image i decoded as .npy next to it, unless an up-to-date one is there."""
        f = self.npy_files[i]
        if not f.exists() or f.stat().st_mtime < Path(self.im_files[i]).stat().st_mtime:
            np.save(f, self._read(i))

    def _read(self, i: int) -> np.ndarray:
        """Image i as BGR uint8, EXIF orientation applied, decoded as the label scan decoded it."""
        try:
            return read_image(self.im_files[i])
        except UnreadableImage as e:
            raise UnreadableImage(f"{self.im_files[i]}: {e}") from None

    def load_image(self, i: int) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
        """Image i with its long side resized to img_size: (image, (h0, w0) original, (h, w) resized)."""
        if self.ims[i] is not None:
            return self.ims[i], self.im_hw0[i], self.im_hw[i]
        f = self.npy_files[i]
        im = np.load(f) if self.cache == "disk" and f.exists() else self._read(i)
        h0, w0 = im.shape[:2]
        upscale = max(h0, w0) < self.img_size
        im = resize_long_side(im, self.img_size, cv2.INTER_LINEAR if (self.augment or upscale) else cv2.INTER_AREA,
                              truncate=self.truncate_sides)
        return im, (h0, w0), im.shape[:2]

    def _warp_args(self) -> dict:
        """random_perspective's ranges from the hyp."""
        return {k: self.hyp[k] for k in ("degrees", "translate", "scale", "shear", "perspective")}

    def _pasted_mosaic(self, index: int) -> tuple[np.ndarray, np.ndarray, list]:
        """Image index and three random others as a 2s mosaic, copy-pasted: (image, pixel xyxy labels, polygons)."""
        indices = [index] + random.choices(self.indices, k=3)
        random.shuffle(indices)
        tiles = [(self.load_image(i)[0], self.labels[i], self.segments[i]) for i in indices]
        im, labels, segments = mosaic4(tiles, self.img_size)
        return copy_paste(im, labels, segments, p=self.hyp["copy_paste"])

    def load_mosaic(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Image index and three random others as a mosaic, copy-pasted and warped: (image, pixel xyxy labels)."""
        return random_perspective(*self._pasted_mosaic(index), **self._warp_args(), border=self.mosaic_border)

    def _letterbox(self, index: int) -> tuple[np.ndarray, np.ndarray, tuple, tuple]:
        """Image index letterboxed to its batch shape: (image, pixel xyxy labels, (w, h, padw, padh) that takes
        normalized coordinates to its pixels, shapes for mapping back)."""
        im, (h0, w0), (h, w) = self.load_image(index)
        shape = self.batch_shapes[self.batch[index]] if self.rect else self.img_size
        im, ratio, pad = letterbox(im, shape, auto=False, scaleup=self.augment)
        to_pixels = (ratio[0] * w, ratio[1] * h, pad[0], pad[1])
        labels = self.labels[index].copy()
        if labels.size:
            labels[:, 1:] = xywhn2xyxy(labels[:, 1:], *to_pixels)
        return im, labels, to_pixels, ((h0, w0), ((h / h0, w / w0), pad))

    def _load_letterboxed(self, index: int) -> tuple[np.ndarray, np.ndarray, tuple]:
        """Image index letterboxed (and warped when augmenting): (image, pixel xyxy labels, shapes for mapping back)."""
        im, labels, _, shapes = self._letterbox(index)
        if self.augment:
            im, labels = random_perspective(im, labels, **self._warp_args())
        return im, labels, shapes

    def _photometric(self, im: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Albumentations (when installed) and HSV jitter, for augmented items."""
        im, labels = self.albumentations(im, labels)
        augment_hsv(im, hgain=self.hyp["hsv_h"], sgain=self.hyp["hsv_s"], vgain=self.hyp["hsv_v"])
        return im, labels

    @staticmethod
    def _normalize_boxes(labels: np.ndarray, im: np.ndarray) -> np.ndarray:
        """Pixel xyxy boxes -> normalized xywh, clipped to the image (in place)."""
        if len(labels):
            labels[:, 1:5] = xyxy2xywhn(labels[:, 1:5], w=im.shape[1], h=im.shape[0], clip=True, eps=1e-3)
        return labels

    @staticmethod
    def _as_tensors(im: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """HWC BGR image -> CHW RGB uint8 tensor; labels (n, 5) -> (n, 6) with column 0 left for the batch index."""
        labels_out = torch.zeros((len(labels), 6))
        if len(labels):
            labels_out[:, 1:] = torch.from_numpy(np.asarray(labels, dtype=np.float32))
        return torch.from_numpy(np.ascontiguousarray(im.transpose((2, 0, 1))[::-1])), labels_out

    def __len__(self) -> int:
        return len(self.im_files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str, tuple | None]:
        """Item index; an image that cannot be decoded now (changed or damaged since the scan) is skipped with a
        warning and the next one used in its place, so one bad file never ends a training or validation run."""
        index = self.indices[index]  # --image-weights resamples through self.indices
        for _ in range(min(self.n, MAX_SUBSTITUTES)):
            try:
                return self._item(index)
            except UnreadableImage as e:
                LOGGER.warning(f"WARNING ⚠️ {e}; skipped, {self.im_files[(index + 1) % self.n]} used in its place")
                index = (index + 1) % self.n
        raise UserError(f"{MAX_SUBSTITUTES} images in a row could not be decoded; is the dataset folder still there?")

    def _item(self, index: int) -> tuple[torch.Tensor, torch.Tensor, str, tuple | None]:
        hyp = self.hyp
        if self.mosaic and random.random() < hyp["mosaic"]:
            im, labels = self.load_mosaic(index)
            shapes = None
            if random.random() < hyp["mixup"]:
                im, labels = mixup(im, labels, *self.load_mosaic(random.choice(self.indices)))
        else:
            im, labels, shapes = self._load_letterboxed(index)
        labels = self._normalize_boxes(labels, im)
        if self.augment:
            im, labels = self._photometric(im, labels)
            im, labels = random_flips(im, labels, hyp["flipud"], hyp["fliplr"])
        return *self._as_tensors(im, labels), self.im_files[index], shapes

    @staticmethod
    def collate_fn(batch: list) -> tuple[torch.Tensor, torch.Tensor, tuple, tuple]:
        """Stack images; concatenate labels with column 0 set to the image's index in the batch."""
        im, labels, paths, shapes = zip(*batch)
        for i, lb in enumerate(labels):
            lb[:, 0] = i
        return torch.stack(im, 0), torch.cat(labels, 0), paths, shapes

    @staticmethod
    def collate_fn4(batch: list) -> tuple[torch.Tensor, torch.Tensor, tuple, tuple]:
        """--quad: every 4 images become one of twice the size, either one image upscaled or a 2x2 tiling."""
        im, labels, paths, shapes = zip(*batch)
        n = max(len(shapes) // 4, 1)  # a last batch of 1-3 images gives one upscaled image, never an empty batch
        im4, labels4 = [], []
        shift_y = torch.tensor([[0.0, 0, 0, 1, 0, 0]])
        shift_x = torch.tensor([[0.0, 0, 1, 0, 0, 0]])
        half = torch.tensor([[1, 1, 0.5, 0.5, 0.5, 0.5]])
        for i in range(n):
            j = i * 4
            if random.random() < 0.5 or j + 4 > len(shapes):
                big = F.interpolate(im[j].unsqueeze(0).float(), scale_factor=2.0, mode="bilinear", align_corners=False)
                im4.append(big[0].type(im[j].type()))
                lb = labels[j].clone()
            else:
                left, right = torch.cat((im[j], im[j + 1]), 1), torch.cat((im[j + 2], im[j + 3]), 1)
                im4.append(torch.cat((left, right), 2))
                lb = torch.cat((labels[j], labels[j + 1] + shift_y, labels[j + 2] + shift_x,
                                labels[j + 3] + shift_y + shift_x), 0) * half
            lb[:, 0] = i
            labels4.append(lb)
        return torch.stack(im4, 0), torch.cat(labels4, 0), paths[:n], shapes[:n]
