"""AutoAnchor: recall metric, keeping good anchors, re-fitting poor ones in stride units and size order."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from models.yolo import Model
from utils.training.autoanchor import anchor_recall, check_anchors, dataset_wh, kmean_anchors


def _dataset(box_px: list[tuple[float, float]], n_images: int = 20, size: int = 640, seed: int = 0):
    """A stand-in dataset of square images whose boxes have the given pixel sizes (+-10%)."""
    rng = np.random.default_rng(seed)
    labels = []
    for _ in range(n_images):
        wh = np.array(box_px) * rng.uniform(0.9, 1.1, size=(len(box_px), 1)) / size
        rows = np.column_stack([np.zeros(len(wh)), np.full((len(wh), 2), 0.5), wh])
        labels.append(rows.astype(np.float32))
    return SimpleNamespace(shapes=np.full((n_images, 2), size), labels=labels)


@pytest.fixture()
def model():
    return Model("yolov5n.yaml")


def _pixel_anchors(model) -> torch.Tensor:
    m = model.model[-1]
    return (m.anchors * m.stride.view(-1, 1, 1)).view(-1, 2)


def test_recall_is_one_when_boxes_equal_anchors():
    anchors = torch.tensor([[10.0, 13.0], [100.0, 90.0]])
    bpr, aat = anchor_recall(anchors.clone(), anchors, thr=4.0)
    assert bpr == 1.0 and aat == pytest.approx(1.0)
    bpr, _ = anchor_recall(torch.tensor([[500.0, 500.0]]), anchors, thr=4.0)
    assert bpr == 0.0


def test_dataset_wh_scales_to_image_size():
    ds = _dataset([(64, 32)], n_images=2, size=640)
    wh = dataset_wh(ds, imgsz=320)
    assert wh.shape == (2, 2)
    assert np.all((wh[:, 0] > 28) & (wh[:, 0] < 36))  # 64 px at 640 is 32 px at 320 (+-10%)


def test_good_fit_keeps_anchors(model):
    before = model.model[-1].anchors.clone()
    check_anchors(_dataset([(10, 13), (62, 45), (116, 90), (373, 326)]), model, thr=4.0, imgsz=640)
    assert torch.equal(model.model[-1].anchors, before)


def test_poor_fit_evolves_better_anchors_in_stride_units(model):
    np.random.seed(0)
    ds = _dataset([(3, 200), (4, 300), (200, 3), (250, 5)], n_images=15)
    wh = torch.tensor(dataset_wh(ds, 640)).float()
    bpr_before, _ = anchor_recall(wh, _pixel_anchors(model), 4.0)
    check_anchors(ds, model, thr=4.0, imgsz=640)
    m = model.model[-1]
    bpr_after, _ = anchor_recall(wh, _pixel_anchors(model), 4.0)
    assert bpr_after > bpr_before
    area = m.anchors.prod(-1).mean(-1) * m.stride ** 2
    assert area[0] <= area[-1]  # small anchors on the small-stride level
    assert m.anchors.max() < 640 / 8  # back in grid units of each level, not pixels


def test_kmean_anchors_returns_sorted_pixel_anchors():
    np.random.seed(0)
    ds = _dataset([(20, 20), (50, 80), (120, 100), (300, 260)], n_images=30)
    k = kmean_anchors(ds, n=9, img_size=640, thr=4.0, gen=50, verbose=False)
    assert k.shape == (9, 2) and k.dtype == np.float32
    assert np.all(np.diff(k.prod(1)) >= 0)
    assert k.min() >= 2.0 and k.max() < 640


def test_kmean_anchors_with_fewer_boxes_than_anchors_falls_back_to_random():
    np.random.seed(0)
    ds = _dataset([(40, 40)], n_images=3)
    k = kmean_anchors(ds, n=9, img_size=320, gen=10, verbose=False)
    assert k.shape == (9, 2)
