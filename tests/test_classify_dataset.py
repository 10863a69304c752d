"""Classification folders: the in-repo coco8-cls sample, class order shared across splits, corrupt images skipped
by name, RAM and disk caches, and the loader's batches."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from utils.data.classify_dataset import ClassificationDataset, class_folders, create_classification_dataloader
from utils.errors import UserError
from utils.files import ROOT

SAMPLE = ROOT / "data" / "coco8-cls"


@pytest.fixture
def sample(tmp_path: Path) -> Path:
    """A writable copy of coco8-cls."""
    return Path(shutil.copytree(SAMPLE, tmp_path / "coco8-cls"))


def test_sample_dataset_items():
    ds = ClassificationDataset(SAMPLE / "train", imgsz=32)
    assert ds.classes == ["book", "person", "spoon"] and len(ds) == 11
    x, y = ds[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32 and y == 0
    assert sorted({c for _, c in ds.samples}) == [0, 1, 2]


def test_training_classes_fix_the_indices(sample):
    shutil.rmtree(sample / "val" / "book")
    assert class_folders(sample / "val") == ["person", "spoon"]
    ds = ClassificationDataset(sample / "val", imgsz=32, classes=["book", "person", "spoon"])
    assert sorted({c for _, c in ds.samples}) == [1, 2]  # person stays 1, spoon 2
    (sample / "val" / "zebra").mkdir()
    with pytest.raises(UserError, match="zebra"):
        ClassificationDataset(sample / "val", classes=["book", "person", "spoon"])


def test_corrupt_image_skipped_with_its_name(sample, log_lines):
    bad = sample / "train" / "book" / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    ds = ClassificationDataset(sample / "train", imgsz=32)
    assert len(ds) == 11 and str(bad) not in [f for f, _ in ds.samples]
    assert any(str(bad) in x and "skipped" in x for x in log_lines)


def test_no_class_folders_is_one_line(tmp_path):
    (tmp_path / "flat").mkdir()
    shutil.copy(next(SAMPLE.rglob("*.jpg")), tmp_path / "flat" / "a.jpg")
    with pytest.raises(UserError, match="no class subfolders"):
        ClassificationDataset(tmp_path / "flat")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(UserError, match="no images"):
        ClassificationDataset(tmp_path / "empty")
    with pytest.raises(UserError, match="does not exist"):
        ClassificationDataset(tmp_path / "missing")


def test_ram_and_disk_cache_give_the_same_items(sample):
    plain = ClassificationDataset(sample / "val", imgsz=32)
    ram = ClassificationDataset(sample / "val", imgsz=32, cache="ram")
    disk = ClassificationDataset(sample / "val", imgsz=32, cache="disk")
    assert all(im is not None for im in ram.ims) and all(im is None for im in disk.ims)
    assert len(list((sample / "val").rglob("*.npy"))) == len(disk)
    for i in range(len(plain)):
        assert torch.equal(plain[i][0], ram[i][0]) and torch.equal(plain[i][0], disk[i][0])
    assert np.array_equal(np.load(Path(disk.samples[0][0]).with_suffix(".npy")), plain.image(0))
    with pytest.raises(UserError, match="--cache"):
        ClassificationDataset(sample / "val", cache="gpu")


def test_disk_cache_on_a_read_only_folder_reads_images(sample, log_lines, monkeypatch):
    monkeypatch.setattr("utils.data.classify_dataset.is_writeable", lambda p: False)
    ds = ClassificationDataset(sample / "val", imgsz=32, cache="disk")
    assert ds.cache == "" and not list((sample / "val").rglob("*.npy"))
    assert any("not writeable" in x for x in log_lines)


def test_loader_batches_and_augmentation():
    loader = create_classification_dataloader(SAMPLE / "train", imgsz=32, batch_size=4, augment=True, workers=0)
    assert len(loader) == 3
    images, labels = next(iter(loader))
    assert images.shape == (4, 3, 32, 32) and labels.dtype == torch.int64
    val = create_classification_dataloader(SAMPLE / "val", imgsz=32, batch_size=8, augment=False, workers=0,
                                           shuffle=False)
    (a, la), (b, lb) = next(iter(val)), next(iter(val))
    assert torch.equal(a, b) and torch.equal(la, lb) and la.tolist() == sorted(la.tolist())
