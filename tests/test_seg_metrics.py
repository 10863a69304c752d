"""Segmentation metrics against YOLOv5 v7.0 on seg_general.npz: mask-IoU matching (segment/val.py process_batch),
box+mask AP per class with Metrics, and the combined fitness."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import golden
from utils.evaluation.seg_metrics import (Metrics, ap_per_class_box_and_mask, label_mask_iou, match_mask_predictions,
                                          seg_fitness)

SCENES = ["plain", "overlap", "plain_ratio1", "overlap_ratio1"]
CORRECT_AT_50 = {"plain": 5, "overlap": 2, "plain_ratio1": 4, "overlap_ratio1": 2}


@pytest.fixture(scope="module")
def g() -> dict:
    return golden("seg_general.npz")


@pytest.mark.parametrize("scene", SCENES)
def test_mask_matching_matches_yolov5(g, scene):
    assert scene in g["spb__scenes"]
    det, pred_masks = torch.from_numpy(g["spb__detections"]), torch.from_numpy(g["spb__pred_masks"])
    iouv = torch.from_numpy(g["spb__iouv"])
    labels = torch.from_numpy(g[f"{scene}__labels"])
    gt = torch.from_numpy(g[f"{scene}__gt_masks"]).float()
    overlap = bool(g[f"{scene}__overlap"])
    iou = label_mask_iou(pred_masks, gt, labels.shape[0], overlap)
    np.testing.assert_allclose(iou.numpy(), g[f"{scene}__iou"], rtol=1e-6, atol=0)
    correct = match_mask_predictions(det, labels, iouv, pred_masks, gt, overlap)
    np.testing.assert_array_equal(correct.numpy(), g[f"{scene}__correct"])
    assert int(correct[:, 0].sum()) == CORRECT_AT_50[scene]


def test_mask_matching_without_labels_or_detections(g):
    det, masks = torch.from_numpy(g["spb__detections"]), torch.from_numpy(g["spb__pred_masks"])
    iouv = torch.from_numpy(g["spb__iouv"])
    assert match_mask_predictions(det, torch.zeros(0, 5), iouv, masks, torch.zeros(0, 32, 32), False).shape == (16, 10)
    assert match_mask_predictions(det[:0], torch.zeros(2, 5), iouv, masks[:0], torch.zeros(2, 32, 32),
                                  False).shape == (0, 10)


@pytest.mark.parametrize("k", [0, 1])
def test_ap_per_class_box_and_mask_and_metrics_match_yolov5(g, k):
    assert k < int(g["ap_cases"])
    c = f"ap{k}"
    results = ap_per_class_box_and_mask(g[f"{c}__tp_m"], g[f"{c}__tp_b"], g[f"{c}__conf"], g[f"{c}__pred_cls"],
                                        g[f"{c}__target_cls"], names={i: str(i) for i in range(10)})
    for kind in ("boxes", "masks"):
        for key in ("p", "r", "ap", "f1"):
            np.testing.assert_allclose(results[kind][key], g[f"{c}__{kind}_{key}"], rtol=0, atol=1e-9)
        np.testing.assert_array_equal(results[kind]["ap_class"], g[f"{c}__{kind}_ap_class"])
    metrics = Metrics()
    metrics.update(results)
    np.testing.assert_allclose(metrics.mean_results(), g[f"{c}__mean_results"], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(metrics.ap_class_index, g[f"{c}__ap_class_index"])
    rows = [metrics.class_result(i) for i in range(len(metrics.ap_class_index))]
    np.testing.assert_allclose(np.array(rows, dtype=float), g[f"{c}__class_results"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(metrics.get_maps(int(g[f"{c}__nc"])), g[f"{c}__maps"], rtol=0, atol=1e-9)


def test_plots_write_box_and_mask_curves(g, tmp_path):
    ap_per_class_box_and_mask(g["ap1__tp_m"], g["ap1__tp_b"], g["ap1__conf"], g["ap1__pred_cls"],
                              g["ap1__target_cls"], plot=True, save_dir=tmp_path, names={i: str(i) for i in range(5)})
    assert {"BoxPR_curve.png", "MaskPR_curve.png"} <= {p.name for p in tmp_path.iterdir()}


def test_empty_metrics_match_yolov5(g):
    metrics = Metrics()
    np.testing.assert_array_equal(metrics.mean_results(), g["empty__mean_results"])
    np.testing.assert_array_equal(metrics.get_maps(int(g["empty__nc"])), g["empty__maps"])


def test_fitness_weighs_box_and_mask_maps(g):
    np.testing.assert_allclose(seg_fitness(g["fitness__x"]), g["fitness__out"], rtol=1e-12, atol=0)
