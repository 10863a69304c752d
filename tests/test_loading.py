"""models/loading.py: attempt_load on real YOLOv5 and seed-patch Ghost checkpoints, and reference detections."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from models.loading import attempt_load
from tests.conftest import shared_path
from utils.data.augmentations import letterbox
from utils.inference.nms import non_max_suppression


def test_attempt_load_yolov5n(yolov5n_pt):
    model = attempt_load(yolov5n_pt)
    assert not model.training and next(model.parameters()).dtype == torch.float32
    assert model.names[0] == "person" and len(model.names) == 80
    assert model.stride.tolist() == [8.0, 16.0, 32.0]


def test_seed_patch_ghost_checkpoint_reproduces_stored_output(seedpatch_pt):
    io = np.load(shared_path("weights/yolov5n-ghostdyn-seedpatch-io.npz"))
    x, y = torch.from_numpy(io["x"]), torch.from_numpy(io["y"])
    with torch.no_grad():
        for fuse in (False, True):
            out = attempt_load(seedpatch_pt, fuse=fuse)(x)[0]
            assert out.shape == y.shape == (2, 6300, 85)
            assert (out - y).abs().max() <= 1e-4 * y.abs().max()  # within 1e-4 relative to the output's scale


def _detect(model, image_path) -> dict[str, int]:
    im0 = cv2.imread(str(image_path))
    im = letterbox(im0, 640, stride=32, auto=True)[0]
    im = torch.from_numpy(np.ascontiguousarray(im[..., ::-1].transpose(2, 0, 1))).float()[None] / 255
    with torch.no_grad():
        det = non_max_suppression(model(im)[0], 0.25, 0.45)[0]
    counts: dict[str, int] = {}
    for c in det[:, 5].int().tolist():
        counts[model.names[c]] = counts.get(model.names[c], 0) + 1
    return counts


@pytest.mark.parametrize("fuse", [False, True])
def test_yolov5n_detects_reference_objects(yolov5n_pt, bus_jpg, zidane_jpg, fuse):
    model = attempt_load(yolov5n_pt, fuse=fuse)
    assert _detect(model, bus_jpg) == {"person": 4, "bus": 1}
    assert _detect(model, zidane_jpg) == {"person": 2, "tie": 1}


def test_ensemble_of_two(yolov5n_pt):
    model = attempt_load([yolov5n_pt, yolov5n_pt])
    with torch.no_grad():
        pred = model(torch.zeros(1, 3, 64, 64))[0]
    assert pred.shape == (1, 2 * 3 * (8 * 8 + 4 * 4 + 2 * 2), 85)
