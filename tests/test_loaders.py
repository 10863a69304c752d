"""create_dataloader: batch format, rectangular validation batches, --quad, persistent loader, seeded augmentation."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from tests.data_helpers import copy_coco8, make_broken_dataset
from utils.data.loaders import InfiniteDataLoader, create_dataloader
from utils.files import ROOT, yaml_load

HYP = yaml_load(ROOT / "data" / "hyps" / "hyp.scratch-low.yaml")


@pytest.fixture
def coco8(tmp_path):
    return copy_coco8(tmp_path)


def test_training_batch_from_a_broken_dataset(tmp_path):
    images = make_broken_dataset(tmp_path)
    loader, ds = create_dataloader(str(images), 96, 4, 32, hyp=HYP, augment=True, workers=0, shuffle=True, nc=80)
    imgs, targets, paths, shapes = next(iter(loader))
    assert imgs.shape == (4, 3, 96, 96) and imgs.dtype == torch.uint8
    assert targets.shape[1] == 6 and set(targets[:, 0].tolist()) <= {0, 1, 2, 3}
    assert (targets[:, 2:] >= 0).all() and (targets[:, 2:] <= 1).all() and (targets[:, 1] < 80).all()
    assert len(paths) == 4 and all(s is None for s in shapes)  # mosaics have no letterbox shapes
    assert len(ds) == 8 and len(loader) == 2


def test_validation_loader_is_rect_and_maps_back(coco8):
    loader, ds = create_dataloader(str(coco8 / "images" / "val"), 160, 2, 32, rect=True, pad=0.5, workers=0,
                                   shuffle=True)
    seen = []
    for imgs, targets, paths, shapes in loader:
        h, w = imgs.shape[2:]
        assert h % 32 == 0 and w % 32 == 0 and max(h, w) <= 160 + 32
        for i, ((h0, w0), ((rh, rw), (padw, padh))) in enumerate(shapes):
            assert abs(h0 * rh + 2 * padh - h) <= 1 and abs(w0 * rw + 2 * padw - w) <= 1
        seen += paths
    assert seen == ds.im_files and isinstance(loader, InfiniteDataLoader)  # rect turned shuffling off


def test_infinite_loader_repeats_epochs_with_the_same_workers(coco8):
    loader, _ = create_dataloader(str(coco8 / "images" / "train"), 64, 2, 32, workers=1)
    first = [b[2] for b in loader]
    second = [b[2] for b in loader]
    assert len(loader) == 2 and first == second and len(first) == 2
    assert loader.num_workers == 1


def test_quad_collate_doubles_images_and_keeps_labels_normalized(coco8):
    loader, _ = create_dataloader(str(coco8 / "images" / "train"), 64, 4, 32, workers=0, quad=True)
    imgs, targets, paths, shapes = next(iter(loader))
    assert imgs.shape == (1, 3, 128, 128) and len(paths) == 1
    assert len(targets) and (targets[:, 0] == 0).all() and (targets[:, 2:] <= 1).all()


def test_seed_makes_augmentation_reproducible(coco8):
    def first_batch(seed):
        loader, _ = create_dataloader(str(coco8 / "images" / "train"), 64, 2, 32, hyp=HYP, augment=True, workers=1,
                                      shuffle=True, seed=seed)
        return next(iter(loader))

    a, b, c = first_batch(0), first_batch(0), first_batch(1)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])


def test_image_weights_uses_a_plain_loader(coco8):
    loader, ds = create_dataloader(str(coco8 / "images" / "train"), 64, 2, 32, workers=0, image_weights=True)
    assert type(loader) is DataLoader and not ds.rect
    ds.indices = [0, 0, 0, 0]  # train.py resamples indices by class weights each epoch
    assert all(p == ds.im_files[0] for _, _, batch_paths, _ in loader for p in batch_paths)


def test_ddp_rank_gets_a_distributed_sampler(coco8, tmp_path):
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    try:
        loader, _ = create_dataloader(str(coco8 / "images" / "train"), 64, 2, 32, workers=0, rank=0, shuffle=True,
                                      seed=3)
        assert isinstance(loader.sampler, torch.utils.data.distributed.DistributedSampler)
        assert loader.sampler.shuffle and loader.sampler.seed == 3
        loader.sampler.set_epoch(1)  # train.py reshuffles each epoch
        assert sum(len(b[2]) for b in loader) == 4
    finally:
        dist.destroy_process_group()


def test_shuffled_passes_follow_random_sampler_and_resume_between_passes():
    """The same orders as torch's RandomSampler from the same seed, and a generator restored between passes goes on
    with the next pass's order (what an exact --resume relies on)."""
    from torch.utils.data import RandomSampler

    from utils.data.loaders import ShuffledPasses

    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    reference, ours = RandomSampler(range(10), generator=g1), ShuffledPasses(10, g2)
    ref_it = iter(_repeat(reference))
    passes = [[next(ref_it) for _ in range(10)] for _ in range(3)]
    assert [list(ours) for _ in range(3)] == passes
    g3 = torch.Generator().manual_seed(7)
    resumed = ShuffledPasses(10, g3)
    list(resumed)
    state = g3.get_state()
    g3.manual_seed(123)
    g3.set_state(state)
    assert list(resumed) == passes[1]


def _repeat(sampler):
    while True:
        yield from sampler
