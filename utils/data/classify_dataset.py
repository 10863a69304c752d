"""ImageNet-style classification folders (`<split>/<class>/*.jpg`): the dataset and its DataLoader.

Every image is decoded once when the dataset is built (by utils/data/image_decode, as training reads it): unreadable
ones are left out with a warning naming them, and the same pass fills the RAM or disk cache when one is asked for.
"""

from __future__ import annotations

import os
from multiprocessing.pool import ThreadPool
from pathlib import Path

import numpy as np
import psutil
import torch
from PIL import Image
from torch.utils.data import Dataset

from utils.data.classify_transforms import classify_train_transforms, classify_transforms
from utils.data.image_decode import UnreadableImage, read_image
from utils.data.image_files import IMG_FORMATS
from utils.data.label_scan import NUM_THREADS
from utils.data.loaders import PIN_MEMORY, SEED_OFFSET, InfiniteDataLoader, seed_worker, shuffled_sampler
from utils.distributed import rank as process_rank, torch_distributed_zero_first
from utils.errors import UserError
from utils.files import is_writeable
from utils.logger import LOGGER

GB = 1 << 30


def class_folders(root: str | Path) -> list[str]:
    """The class names of a split folder: its subfolders, sorted; UserError when there are none."""
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"classification split {root} does not exist")
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise UserError(f"{root} has no class subfolders: a classification split is <split>/<class>/*.jpg")
    return classes


def decoded_bytes(f: str) -> int:
    """Bytes image f takes decoded (from its header alone); 0 when the header cannot be read."""
    try:
        w, h = Image.open(f).size
    except (OSError, ValueError):
        return 0
    return w * h * 3


def image_files(folder: Path) -> list[str]:
    """The image files under one class folder (recursively), sorted."""
    return sorted(str(p) for p in folder.rglob("*.*") if p.suffix[1:].lower() in IMG_FORMATS)


class ClassificationDataset(Dataset):
    """(image tensor, class index) pairs of a split folder; `classes` fixes the class order (the training split's,
    so that a validation split missing a class keeps the same indices)."""

    def __init__(self, root: str | Path, augment: bool = False, imgsz: int = 224, cache: bool | str = False,
                 classes: list[str] | None = None, prefix: str = ""):
        self.root = Path(root)
        found = class_folders(self.root)
        self.classes = list(classes) if classes else found
        unknown = sorted(set(found) - set(self.classes))
        if unknown:
            raise UserError(f"{self.root} has class folders {unknown[:5]} that the training classes lack "
                            f"({len(self.classes)} classes: {', '.join(self.classes[:5])}, ...)")
        samples = [(f, i) for i, c in enumerate(self.classes) for f in image_files(self.root / c)]
        if not samples:
            raise UserError(f"no images in the class folders of {self.root} (formats: {', '.join(IMG_FORMATS)})")
        self.transform = classify_train_transforms(imgsz) if augment else classify_transforms(imgsz)
        self.cache = self._cache_mode(cache, [f for f, _ in samples], prefix)
        self.samples, self.ims = self._check_images(samples, prefix)

    @staticmethod
    def _cache_mode(cache: bool | str, files: list[str], prefix: str) -> str:
        """'ram', 'disk' or '' once the chosen cache is known to fit (RAM) or to be writeable beside the images."""
        mode = "ram" if cache is True else (cache or "")
        if mode not in ("", "ram", "disk"):
            raise UserError(f"--cache {cache} not understood, use 'ram' or 'disk'")
        if mode == "ram":
            sample = files[:: max(1, len(files) // 30)]
            need = sum(decoded_bytes(f) for f in sample) * len(files) / len(sample)
            if need > psutil.virtual_memory().available * 0.9:
                LOGGER.warning(f"{prefix}WARNING ⚠️ about {need / GB:.1f}GB RAM needed to cache images, not caching")
                return ""
        if mode == "disk":
            read_only = sorted(str(d) for d in {Path(f).parent for f in files} if not is_writeable(d))
            if read_only:
                LOGGER.warning(f"{prefix}WARNING ⚠️ --cache disk: {read_only[0]} is not writeable, not caching images")
                return ""
        return mode

    def _load(self, f: str) -> np.ndarray | None:
        """Decode one image (and write its .npy for the disk cache); None with a warning when it is unreadable."""
        npy = Path(f).with_suffix(".npy")
        if self.cache == "disk" and npy.exists() and npy.stat().st_mtime >= os.path.getmtime(f):
            return np.load(npy, mmap_mode="r")  # written by an earlier run from an image that decoded
        try:
            im = read_image(f)
        except UnreadableImage as e:
            LOGGER.warning(f"WARNING ⚠️ {f}: {e}; image skipped")
            return None
        if self.cache == "disk":
            np.save(npy, im)
        return im

    def _check_images(self, samples: list[tuple[str, int]], prefix: str) -> tuple[list, list]:
        """Keep the samples whose image decodes; images kept in RAM only with the RAM cache."""
        with ThreadPool(NUM_THREADS) as pool:
            ims = pool.map(self._load, [f for f, _ in samples])
        keep = [i for i, im in enumerate(ims) if im is not None]
        if not keep:
            raise UserError(f"none of the {len(samples)} images in {self.root} can be read")
        if len(keep) < len(samples):
            LOGGER.warning(f"{prefix}WARNING ⚠️ {len(samples) - len(keep)} corrupt images skipped in {self.root}")
        ram = self.cache == "ram"
        if ram:
            LOGGER.info(f"{prefix}Cached {sum(ims[i].nbytes for i in keep) / GB:.2f}GB of images in RAM")
        return [samples[i] for i in keep], [ims[i] if ram else None for i in keep]

    def __len__(self) -> int:
        return len(self.samples)

    def image(self, i: int) -> np.ndarray:
        """Image i as BGR uint8, from the cache when there is one."""
        if self.ims[i] is not None:
            return self.ims[i]
        f = self.samples[i][0]
        if self.cache == "disk":
            return np.load(Path(f).with_suffix(".npy"))
        return read_image(f)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        return self.transform(self.image(i)), self.samples[i][1]


def create_classification_dataloader(path: str | Path, imgsz: int = 224, batch_size: int = 16, augment: bool = True,
                                     cache: bool | str = False, rank: int = -1, workers: int = 8,
                                     shuffle: bool = True, classes: list[str] | None = None, seed: int = 0,
                                     prefix: str = "") -> InfiniteDataLoader:
    """YOLOv5's classification loader: persistent workers, DDP sharding when rank >= 0, seeded shuffling."""
    with torch_distributed_zero_first(rank):  # rank 0 writes the disk cache first
        dataset = ClassificationDataset(path, augment=augment, imgsz=imgsz, cache=cache, classes=classes, prefix=prefix)
    batch_size = min(batch_size, len(dataset))
    nd = torch.cuda.device_count()
    nw = min(os.cpu_count() // max(nd, 1), batch_size if batch_size > 1 else 0, workers)
    generator = torch.Generator()
    generator.manual_seed(SEED_OFFSET + seed + process_rank())
    sampler = shuffled_sampler(dataset, shuffle, rank, seed, generator)
    return InfiniteDataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=nw,
                              sampler=sampler, pin_memory=PIN_MEMORY and torch.cuda.is_available(),
                              worker_init_fn=seed_worker, generator=generator)
