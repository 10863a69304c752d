"""AutoAnchor: recall metric, keeping good anchors, re-fitting poor ones in stride units and size order."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

import torch.nn as nn

from models.yolo import Model
from tests.conftest import golden
from utils.training import autoanchor
from utils.training.autoanchor import anchor_recall, check_anchors, dataset_wh, kmean_anchors, ratio_metric


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


# --- YOLOv5 v7.0 golden numbers (../shared/golden/autoanchor.npz; README tolerances) ---


@pytest.mark.parametrize("thr_tag, thr", [("thr4", 4.0), ("thr3", 3.0)])
@pytest.mark.parametrize("name", ["default", "small", "large", "random", "tall"])
def test_anchor_metrics_match_yolov5(name, thr_tag, thr):
    g = golden("autoanchor.npz")
    anchors = g[f"set_{name}"]
    bpr, aat = anchor_recall(torch.from_numpy(g["wh0"]).float(), torch.from_numpy(anchors), thr)
    assert abs(bpr - float(g[f"{thr_tag}__{name}__check_bpr"])) <= 1e-6
    assert abs(aat - float(g[f"{thr_tag}__{name}__check_aat"])) <= 1e-6
    fit = autoanchor._anchor_fitness(anchors.astype(np.float64), torch.from_numpy(g["wh_filtered"]), thr)
    assert fit == pytest.approx(float(g[f"{thr_tag}__{name}__fitness"]), rel=1e-6)
    best = ratio_metric(torch.from_numpy(g["wh0"]).float(), torch.from_numpy(anchors))[1]
    np.testing.assert_allclose(best.numpy(), g[f"{name}__best_ratio"], rtol=1e-6)


def _golden_dataset(g: dict) -> SimpleNamespace:
    """The golden label set as a dataset: image shapes and per-image normalised label rows."""
    labels = [g["labels"][g["label_image_index"] == i] for i in range(len(g["shapes"]))]
    return SimpleNamespace(shapes=g["shapes"], labels=labels)


class _DetectStandIn(nn.Module):
    def __init__(self, anchors: np.ndarray, strides: np.ndarray):
        super().__init__()
        self.register_buffer("anchors", torch.from_numpy(anchors.copy()))
        self.register_buffer("stride", torch.from_numpy(strides.astype(np.float32)))


@pytest.mark.parametrize("case", ["good_fit", "poor_fit_replaced", "poor_fit_kept", "poor_fit_replaced_reversed"])
def test_check_anchors_matches_yolov5(case, monkeypatch):
    """check_anchors with its scale jitter and k-means replaced by the stored values, as the golden run was."""
    g = golden("autoanchor.npz")
    jitter = []
    monkeypatch.setattr(np.random, "uniform", lambda lo, hi, size: jitter.append((lo, hi, size)) or g["check__scale"])
    kmeans_calls = []

    def kmeans(dataset, n, img_size, thr, gen, verbose):
        kmeans_calls.append((n, img_size, thr, gen))
        return g[f"check_{case}__kmeans_result"].copy()

    monkeypatch.setattr(autoanchor, "kmean_anchors", kmeans)
    recalls = []  # (bpr, aat) of the model's anchors, then of the k-means anchors
    monkeypatch.setattr(autoanchor, "anchor_recall", lambda *a: recalls.append(anchor_recall(*a)) or recalls[-1])
    model = nn.Module()
    model.model = nn.ModuleList([_DetectStandIn(g[f"check_{case}__model_anchors"], g["check__strides"])])
    check_anchors(_golden_dataset(g), model, thr=float(g["check__thr"]), imgsz=int(g["img_size"]))
    assert jitter == [(0.9, 1.1, (len(g["shapes"]), 1))]
    bpr, aat = recalls[0]
    assert abs(bpr - float(g[f"check_{case}__bpr"])) <= 1e-6 and abs(aat - float(g[f"check_{case}__aat"])) <= 1e-6
    assert bool(kmeans_calls) == bool(g[f"check_{case}__kmeans_called"])
    if kmeans_calls:
        assert kmeans_calls == [tuple(g[f"check_{case}__kmeans_args"].tolist())]
        assert abs(recalls[1][0] - float(g[f"check_{case}__new_bpr"])) <= 1e-6
    np.testing.assert_allclose(model.model[-1].anchors.numpy(), g[f"check_{case}__final_anchors"], rtol=1e-6)

