"""non_max_suppression: confidence, class handling, limits and determinism on hand-made predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import golden
from utils.errors import UserError
from utils.inference import nms
from utils.inference.nms import non_max_suppression


def make_pred(rows: list[tuple], nc: int = 3) -> torch.Tensor:
    """One image of raw predictions from rows (xc, yc, w, h, obj, {cls: prob})."""
    out = torch.zeros((1, len(rows), 5 + nc))
    for i, (xc, yc, w, h, obj, probs) in enumerate(rows):
        out[0, i, :5] = torch.tensor([xc, yc, w, h, obj])
        for c, pr in probs.items():
            out[0, i, 5 + c] = pr
    return out


def test_confidence_is_objectness_times_class_and_boxes_are_xyxy():
    out = non_max_suppression(make_pred([(50, 40, 20, 10, 0.5, {1: 0.8})]), conf_thres=0.1)
    assert len(out) == 1 and out[0].shape == (1, 6)
    torch.testing.assert_close(out[0][0], torch.tensor([40.0, 35.0, 60.0, 45.0, 0.4, 1.0]))


def test_overlapping_boxes_same_class_suppressed_other_class_kept():
    rows = [(50, 50, 20, 20, 0.9, {0: 1.0}), (51, 50, 20, 20, 0.8, {0: 1.0}), (50, 51, 20, 20, 0.7, {2: 1.0})]
    out = non_max_suppression(make_pred(rows), conf_thres=0.1, iou_thres=0.5)[0]
    assert out[:, 5].tolist() == [0.0, 2.0]
    torch.testing.assert_close(out[:, 4], torch.tensor([0.9, 0.7]))
    agnostic = non_max_suppression(make_pred(rows), conf_thres=0.1, iou_thres=0.5, agnostic=True)[0]
    assert agnostic.shape[0] == 1 and agnostic[0, 4] == pytest.approx(0.9)


def test_low_overlap_boxes_of_one_class_both_kept_sorted_by_confidence():
    rows = [(10, 10, 10, 10, 0.6, {0: 1.0}), (80, 80, 10, 10, 0.9, {0: 1.0})]
    out = non_max_suppression(make_pred(rows), conf_thres=0.1, iou_thres=0.5)[0]
    torch.testing.assert_close(out[:, 4], torch.tensor([0.9, 0.6]))


def test_multi_label_gives_one_row_per_class_above_threshold():
    rows = [(50, 50, 20, 20, 1.0, {0: 0.6, 1: 0.3, 2: 0.05})]
    single = non_max_suppression(make_pred(rows), conf_thres=0.1)[0]
    assert single[:, 5].tolist() == [0.0]
    multi = non_max_suppression(make_pred(rows), conf_thres=0.1, multi_label=True)[0]
    assert sorted(multi[:, 5].tolist()) == [0.0, 1.0]


def test_class_filter_and_conf_threshold():
    rows = [(10, 10, 10, 10, 0.9, {0: 1.0}), (80, 80, 10, 10, 0.9, {1: 1.0}), (40, 40, 10, 10, 0.2, {1: 1.0})]
    out = non_max_suppression(make_pred(rows), conf_thres=0.25, classes=[1])[0]
    assert out.shape[0] == 1 and out[0, 5] == 1 and out[0, 4] == pytest.approx(0.9)


def test_max_det_keeps_highest_confidence():
    rows = [(20 * i + 10, 10, 8, 8, 0.1 * i + 0.05, {0: 1.0}) for i in range(8)]
    out = non_max_suppression(make_pred(rows), conf_thres=0.01, max_det=3)[0]
    torch.testing.assert_close(out[:, 4], torch.tensor([0.75, 0.65, 0.55]))


def test_model_output_tuple_and_empty_images():
    pred = torch.cat([make_pred([(50, 50, 20, 20, 0.9, {0: 1.0})]), make_pred([(50, 50, 20, 20, 0.01, {0: 1.0})])])
    out = non_max_suppression((pred, [torch.zeros(1)]), conf_thres=0.25)
    assert [o.shape for o in out] == [(1, 6), (0, 6)]


def test_hybrid_labels_are_added_with_full_confidence():
    pred = make_pred([(10, 10, 10, 10, 0.9, {0: 1.0})])
    labels = [torch.tensor([[2.0, 80.0, 80.0, 20.0, 20.0]])]
    out = non_max_suppression(pred, conf_thres=0.25, labels=labels)[0]
    assert out.shape[0] == 2
    torch.testing.assert_close(out[0], torch.tensor([70.0, 70.0, 90.0, 90.0, 1.0, 2.0]))


def test_no_time_limit_by_default_and_time_limit_drops_with_warning(monkeypatch):
    pred = make_pred([(50, 50, 20, 20, 0.9, {0: 1.0})]).repeat(4, 1, 1)
    full = non_max_suppression(pred, conf_thres=0.25)
    assert all(o.shape[0] == 1 for o in full)
    warnings = []
    monkeypatch.setattr(nms.LOGGER, "warning", warnings.append)
    limited = non_max_suppression(pred, conf_thres=0.25, time_limit=0.0)
    assert [o.shape[0] for o in limited] == [1, 0, 0, 0]
    assert len(warnings) == 1 and "NMS time limit" in warnings[0]


def test_deterministic_on_many_random_boxes():
    g = torch.Generator().manual_seed(0)
    pred = torch.rand((2, 2000, 85), generator=g)
    pred[..., :2] *= 640
    pred[..., 2:4] *= 100
    a = non_max_suppression(pred, 0.001, 0.6, multi_label=True)
    b = non_max_suppression(pred.clone(), 0.001, 0.6, multi_label=True)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert all(x.shape[0] == 300 for x in a)  # max_det reached: nothing is dropped early


def test_bad_thresholds_raise_user_error():
    with pytest.raises(UserError, match="conf-thres"):
        non_max_suppression(make_pred([]), conf_thres=1.5)
    with pytest.raises(UserError, match="iou-thres"):
        non_max_suppression(make_pred([]), iou_thres=-0.1)


def _golden_settings(g, setting: str) -> dict:
    """non_max_suppression's keyword arguments for one setting of a golden NMS file."""
    return dict(conf_thres=float(g[f"{setting}__conf_thres"]), iou_thres=float(g[f"{setting}__iou_thres"]),
                multi_label=bool(g[f"{setting}__multi_label"]), agnostic=bool(g[f"{setting}__agnostic"]),
                max_det=int(g[f"{setting}__max_det"]),
                classes=None if g[f"{setting}__classes_is_none"] else g[f"{setting}__classes"].tolist())


@pytest.mark.parametrize("setting", ["default", "multi_label", "agnostic", "classes_1_3", "max_det_10", "val_like"])
def test_matches_yolov5_golden_detections(setting):
    """../shared/golden/nms.npz (YOLOv5 v7.0, time limit off): row counts and classes exact, boxes/scores 1e-6 rel."""
    g = golden("nms.npz")
    out = non_max_suppression(torch.from_numpy(g["prediction"]), **_golden_settings(g, setting))
    for k, ours in enumerate(out):
        ref = g[f"{setting}__out{k}"]
        assert ours.shape == ref.shape, f"image {k}: {len(ours)} rows, YOLOv5 {len(ref)}"
        np.testing.assert_array_equal(ours[:, 5].numpy(), ref[:, 5])
        np.testing.assert_allclose(ours[:, :5].numpy(), ref[:, :5], rtol=1e-6, atol=0)


def _label_rows_as_a_set(rows: np.ndarray) -> np.ndarray:
    """Rows of score exactly 1 (prior labels, tied) sorted lexicographically; the model's rows keep their order."""
    n = int((rows[:, 4] == 1.0).sum())
    head = rows[:n][np.lexsort(rows[:n, ::-1].T)]
    return np.concatenate((head, rows[n:]))


@pytest.mark.parametrize("setting", ["default", "multi_label", "agnostic", "classes_1_3", "max_det_10", "val_like",
                                     "hybrid_labels"])
def test_matches_yolov5_golden_with_mask_coefficients(setting):
    """../shared/golden/seg_nms.npz (v7.0, nm=32): the 32 mask columns come out multiplied by objectness, label rows
    (score 1, zero masks) first; counts and classes exact, boxes, scores and mask columns 1e-6 relative."""
    g = golden("seg_nms.npz")
    assert sorted(g["settings"].tolist()) == sorted(["default", "multi_label", "agnostic", "classes_1_3",
                                                     "max_det_10", "val_like", "hybrid_labels"])
    labels = [torch.from_numpy(g["labels0"]), torch.from_numpy(g["labels1"])] if g[f"{setting}__with_labels"] else ()
    out = non_max_suppression(torch.from_numpy(g["prediction"]), **_golden_settings(g, setting), labels=labels,
                              nm=int(g["nm"]))
    for k, ours in enumerate(out):
        ref = _label_rows_as_a_set(g[f"{setting}__out{k}"])
        ours = _label_rows_as_a_set(ours.numpy())
        assert ours.shape == ref.shape == (len(ref), 38), f"image {k}: {ours.shape}, YOLOv5 {ref.shape}"
        np.testing.assert_array_equal(ours[:, 5], ref[:, 5])
        np.testing.assert_allclose(ours[:, :5], ref[:, :5], rtol=1e-6, atol=0)
        np.testing.assert_allclose(ours[:, 6:], ref[:, 6:], rtol=1e-6, atol=0)
    if labels:
        assert (out[0][:1, 4] == 1).all() and (out[0][:1, 6:] == 0).all()


def test_mask_coefficients_scaled_by_objectness_and_empty_shape():
    """A row's mask columns come out times its objectness; images without detections give (0, 6 + nm)."""
    pred = torch.zeros(2, 1, 5 + 2 + 3)
    pred[0, 0, :7] = torch.tensor([50.0, 50.0, 20.0, 20.0, 0.5, 0.2, 0.9])
    pred[0, 0, 7:] = torch.tensor([1.0, -2.0, 4.0])
    out = non_max_suppression(pred, conf_thres=0.25, nm=3)
    assert [o.shape for o in out] == [(1, 9), (0, 9)]
    torch.testing.assert_close(out[0][0], torch.tensor([40.0, 40.0, 60.0, 60.0, 0.45, 1.0, 0.5, -1.0, 2.0]))
    with pytest.raises(UserError, match="no class score"):
        non_max_suppression(pred, nm=5)
