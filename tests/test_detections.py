"""Detections: class and image names from an untrusted checkpoint or caller never make a file outside save_dir."""

from __future__ import annotations

import numpy as np
import torch

from models.detections import Detections

HOSTILE = ["../../../../escaped", "/tmp/absolute_escape", "..", "a/../../b", "nul", "\x00x", "." * 300, "ok name"]


def _files_outside(root, inside) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and inside not in p.parents]


def test_crop_and_save_keep_every_file_inside_save_dir(tmp_path):
    names = dict(enumerate(HOSTILE))
    pred = torch.tensor([[8.0, 8.0, 40.0, 40.0, 0.9, float(c)] for c in names])
    ims = [np.full((64, 64, 3), 128, np.uint8)] * 2
    d = Detections(ims, [pred, pred[:2]], ["../../up.jpg", "/abs/image.jpg"], names=names)
    root = tmp_path / "work"
    crops = d.crop(save_dir=root / "exp")
    saved = d.save(save_dir=root / "exp", exist_ok=True)
    assert len(crops) == len(names) + 2 and saved == root / "exp"
    assert _files_outside(tmp_path, root / "exp") == []
    folders = {p.name for p in (root / "exp" / "crops").iterdir()}
    assert folders == {"_.._.._.._escaped", "_tmp_absolute_escape", "item", "a_.._.._b", "_nul", "_x", "ok name"}
    assert {p.name for p in (root / "exp").glob("*.jpg")} == {"_.._up.jpg", "_abs_image.jpg"}
