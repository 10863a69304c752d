"""DataLoaders for train.py and val.py: persistent workers across epochs, DDP sharding, seeded augmentation."""

from __future__ import annotations

import os
import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler, distributed

from utils.data.datasets import LoadImagesAndLabels
from utils.data.seg_datasets import LoadImagesAndLabelsAndMasks
from utils.errors import UserError
from utils.logger import LOGGER
from utils.distributed import rank as process_rank, torch_distributed_zero_first

PIN_MEMORY = str(os.getenv("PIN_MEMORY", True)).lower() == "true"  # pinned host memory speeds up copies to CUDA
SEED_OFFSET = 6148914691236517205  # spreads nearby --seed values far apart in the generator's state


class _RepeatSampler:
    """A batch sampler that starts over when it ends, so the loader's iterator (and its workers) never stop."""

    def __init__(self, sampler):
        self.sampler = sampler

    def __iter__(self):
        while True:
            yield from iter(self.sampler)


class InfiniteDataLoader(DataLoader):
    """A DataLoader whose worker processes live for the whole run instead of being restarted every epoch."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        object.__setattr__(self, "batch_sampler", _RepeatSampler(self.batch_sampler))
        self.iterator = super().__iter__()

    def __len__(self) -> int:
        return len(self.batch_sampler.sampler)

    def __iter__(self):
        for _ in range(len(self)):
            yield next(self.iterator)


def seed_worker(worker_id: int) -> None:
    """Seed numpy and random in each worker from torch's per-worker seed, so augmentation is reproducible."""
    worker_seed = torch.initial_seed() % 2**32
    np.random.seed(worker_seed)
    random.seed(worker_seed)


class ShuffledPasses(Sampler):
    """torch's RandomSampler order, with every draw made when a pass starts: RandomSampler draws a second, unused
    permutation as a pass ends (so at the next epoch's first batch); drawing both up front yields the same orders from
    the same generator while leaving its state between epochs complete, which an exact --resume puts back."""

    def __init__(self, n: int, generator: torch.Generator):
        self.n, self.generator = n, generator

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        order = torch.randperm(self.n, generator=self.generator).tolist()
        torch.randperm(self.n, generator=self.generator)  # RandomSampler's end-of-pass draw
        yield from order


def shuffled_sampler(dataset, shuffle: bool, rank: int, seed: int, generator: torch.Generator) -> Sampler | None:
    """DDP: each rank's shard, reshuffled by set_epoch; one process: ShuffledPasses when shuffling, else in order."""
    if rank != -1:
        return distributed.DistributedSampler(dataset, shuffle=shuffle, seed=seed)
    return ShuffledPasses(len(dataset), generator) if shuffle else None


def create_dataloader(path, imgsz: int, batch_size: int, stride: int, single_cls: bool = False,
                      hyp: dict | None = None, augment: bool = False, cache: bool | str | None = False,
                      pad: float = 0.0, rect: bool = False, rank: int = -1, workers: int = 8,
                      image_weights: bool = False, quad: bool = False, prefix: str = "", shuffle: bool = False,
                      seed: int = 0, nc: int | None = None, min_items: int = 0, segments: bool = False,
                      mask_ratio: int = 4, overlap: bool = True) -> tuple[DataLoader, LoadImagesAndLabels]:
    """(loader, dataset) for a data YAML split; nc makes the label scan reject out-of-range classes. segments=True
    loads polygon labels and adds masks at 1/mask_ratio to each batch (one index mask per image with overlap)."""
    if segments and quad:
        raise UserError("--quad is not available for segmentation: its 4-image batches have no mask layout")
    if rect and shuffle:
        LOGGER.warning("WARNING ⚠️ --rect is incompatible with DataLoader shuffle, setting shuffle=False")
        shuffle = False
    with torch_distributed_zero_first(rank):  # rank 0 scans and writes the label cache first
        masks = {"mask_ratio": mask_ratio, "overlap": overlap} if segments else {}
        dataset = (LoadImagesAndLabelsAndMasks if segments else LoadImagesAndLabels)(
            path, imgsz, batch_size, augment=augment, hyp=hyp, rect=rect, image_weights=image_weights,
            cache_images=cache, single_cls=single_cls, stride=int(stride), pad=pad, min_items=min_items,
            prefix=prefix, nc=nc, **masks)
    batch_size = min(batch_size, len(dataset))
    nd = torch.cuda.device_count()
    nw = min(os.cpu_count() // max(nd, 1), batch_size if batch_size > 1 else 0, workers)
    loader = DataLoader if image_weights else InfiniteDataLoader  # workers must see the indices resampled each epoch
    generator = torch.Generator()
    generator.manual_seed(SEED_OFFSET + seed + process_rank())
    sampler = shuffled_sampler(dataset, shuffle, rank, seed, generator)
    return loader(dataset, batch_size=batch_size, shuffle=False, num_workers=nw,
                  sampler=sampler, pin_memory=PIN_MEMORY and torch.cuda.is_available(),
                  collate_fn=dataset.collate_fn4 if quad else dataset.collate_fn,
                  worker_init_fn=seed_worker, generator=generator), dataset
