"""Small datasets written into a test's tmp_path: a copy of the in-repo coco8 sample and a deliberately broken one."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COCO8 = ROOT / "data" / "coco8"
GOOD_IMAGE = COCO8 / "images" / "train" / "000000000536.jpg"
GOOD_ROW = "45 0.5 0.5 0.2 0.3\n"

# name -> (image bytes kind, label text or None for no label file)
BROKEN = {
    "truncated": ("truncated", GOOD_ROW),
    "notimage": ("text", GOOD_ROW),
    "cols4": ("good", "45 0.5 0.5 0.2\n"),
    "coord17": ("good", "45 1.7 0.5 0.2 0.3\n"),
    "class200": ("good", "200 0.5 0.5 0.2 0.3\n"),
    "nan": ("good", "45 nan 0.5 0.2 0.3\n"),
    "empty": ("good", ""),
    "missing": ("good", None),
    "dupes": ("good", GOOD_ROW + "0 0.3 0.3 0.1 0.1\n" + GOOD_ROW),
}
CORRUPT = ("notimage", "cols4", "coord17", "class200", "nan")
BACKGROUNDS = ("empty", "missing")


def copy_coco8(dst: Path) -> Path:
    """data/coco8 copied to dst/coco8, writeable; returns the copy's root."""
    root = dst / "coco8"
    shutil.copytree(COCO8, root, ignore=shutil.ignore_patterns("*.cache", "*.npy"))
    return root


def make_broken_dataset(dst: Path) -> Path:
    """The 4 coco8 train images plus one image per kind of problem in BROKEN; returns the images folder."""
    images, labels = dst / "broken" / "images" / "train", dst / "broken" / "labels" / "train"
    shutil.copytree(COCO8 / "images" / "train", images, ignore=shutil.ignore_patterns("*.npy"))
    shutil.copytree(COCO8 / "labels" / "train", labels, ignore=shutil.ignore_patterns("*.cache"))
    data = GOOD_IMAGE.read_bytes()
    content = {"good": data, "truncated": data[: len(data) * 2 // 3], "text": b"this is not an image\n"}
    for name, (kind, label) in BROKEN.items():
        (images / f"{name}.jpg").write_bytes(content[kind])
        if label is not None:
            (labels / f"{name}.txt").write_text(label)
    return images


class Killed(Exception):
    """Stands in for a crash in the middle of training, so a test can resume the run it interrupted."""


def kill_in_second_epoch(monkeypatch):
    """Make train.py die as epoch 1 starts, after epoch 0 has saved last.pt; returns the real epoch to put back."""
    from engine.trainer import Trainer

    original = Trainer.train_epoch

    def dies_in_second_epoch(self, epoch, nb):
        if epoch == 1:
            raise Killed
        return original(self, epoch, nb)

    monkeypatch.setattr(Trainer, "train_epoch", dies_in_second_epoch)
    return original
