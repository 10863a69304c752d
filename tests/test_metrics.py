"""Metrics on hand-made cases whose answers are worked out by hand in each test."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import golden
from utils.evaluation import metrics
from utils.evaluation.metrics import (ConfusionMatrix, ap_per_class, compute_ap, fitness, iou_thresholds, match_predictions,
                           smooth)


def ranked(tp_flags: list[bool], n_iou: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """tp (n, n_iou) with the same flag at every threshold, and strictly decreasing confidences."""
    tp = np.repeat(np.array(tp_flags, dtype=bool)[:, None], n_iou, 1)
    conf = np.linspace(0.9, 0.1, len(tp_flags))
    return tp, conf


def test_perfect_predictions_give_yolov5s_ap_0995_and_p_r_one():
    # YOLOv5 samples recall 1 on the appended (1, 0) end point: the last trapezoid is (1 + 0) / 2 * 0.01.
    tp, conf = ranked([True, True, True])
    _, _, p, r, f1, ap, classes = ap_per_class(tp, conf, np.zeros(3), np.zeros(3))
    assert classes.tolist() == [0]
    np.testing.assert_allclose(ap, 0.995, rtol=1e-12)
    assert p[0] == pytest.approx(1.0) and r[0] == pytest.approx(1.0) and f1[0] == pytest.approx(1.0)


def test_false_positive_at_top_rank():
    # 2 labels; ranks FP, TP, TP: (recall, precision) = (0, 0), (0.5, 1/2), (1, 2/3).
    # Monotone envelope is 2/3 at every recall in [0, 1) and 0 at recall 1, so AP = 2/3 x 0.995.
    tp, conf = ranked([False, True, True])
    ap = ap_per_class(tp, conf, np.zeros(3), np.zeros(2))[5]
    np.testing.assert_allclose(ap, 2 / 3 * 0.995, rtol=1e-12)
    # 1 label; ranks FP, TP: envelope 1/2 below recall 1 -> AP = 1/2 x 0.995.
    tp, conf = ranked([False, True])
    np.testing.assert_allclose(ap_per_class(tp, conf, np.zeros(2), np.zeros(1))[5], 0.5 * 0.995, rtol=1e-12)


def test_partial_recall_uses_yolov5_linear_interpolation_to_zero_at_full_recall():
    # 2 labels; ranks TP, FP: points (0.5, 1), (0.5, 1/2), then the (1, 0) end point.
    # Sampled at recall 0, .01, ..., 1: 1.0 up to 0.49, 0.5 at exactly 0.5 (last point at that recall),
    # then a straight line down to 0 at recall 1. Trapezoids: 0.49 + (1 + .5) / 2 * .01 + .5 * .5 / 2 = 0.6225.
    ap, mpre, mrec = compute_ap(np.array([0.5, 0.5]), np.array([1.0, 0.5]))
    assert ap == pytest.approx(0.6225, abs=1e-12)
    assert mrec.tolist() == [0.0, 0.5, 0.5, 1.0] and mpre.tolist() == [1.0, 1.0, 0.5, 0.0]


def test_ap_differs_per_iou_threshold_and_missing_classes_score_zero():
    tp = np.array([[True] * 5 + [False] * 5, [True] * 10])  # first prediction matches only at IoU 0.50..0.70
    conf = np.array([0.9, 0.8])
    pred_cls = np.array([0, 0])
    _, _, _, _, _, ap, classes = ap_per_class(tp, conf, pred_cls, np.array([0, 0, 1]))
    assert classes.tolist() == [0, 1]
    np.testing.assert_allclose(ap[0, :5], 0.995, rtol=1e-12)
    # at IoU >= 0.75: ranks FP, TP with 2 labels -> points (0, 0), (0.5, 1/2), then (1, 0).
    # Envelope 1/2 up to recall 0.5, then a line to 0 at recall 1: 0.25 + 0.125 = 0.375.
    np.testing.assert_allclose(ap[0, 5:], 0.375, rtol=1e-12)
    np.testing.assert_allclose(ap[1], 0.0)


def test_p_and_r_taken_at_best_f1_and_tp_fp_counts():
    # 4 labels; confidences .9 .7 .5 .3 .1 for TP TP FP FP TP: (R, P) = (.25, 1) (.5, 1) (.5, 2/3) (.5, .5) (.75, .6).
    # On the confidence grid, F1 = 2/3 both exactly at conf .7 and on the whole plateau conf <= .1 (R .75, P .6);
    # smoothing keeps the plateau, so P = .6, R = .75, TP = 3, FP = 3 / .6 - 3 = 2.
    tp, conf = ranked([True, True, False, False, True])
    tp_n, fp_n, p, r, f1, _, _ = ap_per_class(tp, conf, np.zeros(5), np.zeros(4))
    assert p[0] == pytest.approx(0.6) and r[0] == pytest.approx(0.75) and f1[0] == pytest.approx(2 / 3)
    assert tp_n.tolist() == [3.0] and fp_n.tolist() == [2.0]


def test_compute_ap_perfect_single_point_is_capped_like_yolov5():
    assert compute_ap(np.array([1.0]), np.array([1.0]))[0] == pytest.approx(0.995, abs=1e-12)


def test_full_recall_is_sampled_on_the_end_point_like_yolov5():
    # 2 labels; ranks TP, TP, FP, FP: envelope 1 below recall 1, the end point's 0 at recall 1 -> 0.995.
    tp, conf = ranked([True, True, False, False])
    np.testing.assert_allclose(ap_per_class(tp, conf, np.zeros(4), np.zeros(2))[5], 0.995, rtol=1e-12)
    # 1 label; ranks FP, FP, TP, FP: precision 1/3 below full recall -> AP = 1/3 x 0.995.
    tp, conf = ranked([False, False, True, False])
    np.testing.assert_allclose(ap_per_class(tp, conf, np.zeros(4), np.zeros(1))[5], 0.995 / 3, rtol=1e-12)


def boxes(*rows: tuple) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float32)


def test_match_iou_thresholds_and_class():
    iouv = iou_thresholds()
    labels = boxes((0, 0, 0, 10, 10))
    det = boxes((0, 0, 10, 7.2, 0.9, 0))  # IoU 0.72 -> true at 0.50..0.70, false from 0.75
    assert match_predictions(det, labels, iouv).tolist() == [[True] * 5 + [False] * 5]
    wrong_class = boxes((0, 0, 10, 10, 0.9, 1))
    assert not match_predictions(wrong_class, labels, iouv).any()


def test_match_one_prediction_per_label_highest_ranked_wins():
    iouv = iou_thresholds()
    labels = boxes((0, 0, 0, 10, 10))
    dets = boxes((0, 0, 10, 9, 0.9, 0), (0, 0, 10, 10, 0.8, 0))  # IoU 0.9 ranked first, IoU 1.0 second
    correct = match_predictions(dets, labels, iouv)
    assert correct[0].tolist() == [True] * 9 + [False]  # the label goes to the higher-ranked prediction ...
    assert correct[1].tolist() == [False] * 9 + [True]  # ... except at 0.95, where only the second qualifies


def test_match_prediction_takes_its_best_label():
    iouv = iou_thresholds()
    labels = boxes((0, 0, 0, 10, 10), (0, 1, 0, 11, 10))
    det = boxes((1, 0, 11, 10, 0.9, 0))  # IoU 90/110 = 0.82 with the first label, 1.0 with the second
    correct = match_predictions(det, labels, iouv)
    assert correct.all()  # matched to the second label, so true even at IoU 0.95
    assert match_predictions(boxes().view(0, 6), labels, iouv).shape == (0, 10)
    assert not match_predictions(det, torch.zeros((0, 5)), iouv).any()


def test_confusion_matrix_counts():
    cm = ConfusionMatrix(nc=2, conf=0.25, iou_thres=0.45)
    labels = boxes((0, 0, 0, 10, 10), (1, 50, 50, 60, 60), (1, 100, 100, 110, 110))
    dets = boxes((0, 0, 10, 10, 0.9, 0),  # correct class 0
                 (50, 50, 60, 60, 0.8, 0),  # class 1 predicted as 0
                 (200, 200, 210, 210, 0.7, 1),  # background predicted as 1
                 (100, 100, 110, 110, 0.1, 1))  # below conf: label 2 is missed
    cm.process_batch(dets, labels)
    cm.process_batch(None, boxes((1, 0, 0, 5, 5)))
    expected = np.array([[1, 1, 0],
                         [0, 0, 1],
                         [0, 2, 0]])
    np.testing.assert_array_equal(cm.matrix, expected)
    tp, fp = cm.tp_fp()
    assert tp.tolist() == [1, 0] and fp.tolist() == [1, 1]


def test_yolov5_signatures_draw_through_plots_and_return_the_same_figures(tmp_path):
    # users' scripts call ap_per_class(..., plot=True, save_dir=..., names=...) and cm.plot(normalize, save_dir, names)
    params = list(inspect.signature(ap_per_class).parameters)
    assert params == ["tp", "conf", "pred_cls", "target_cls", "plot", "save_dir", "names", "eps", "prefix"]
    tp, conf = ranked([True, False, True])
    plain = ap_per_class(tp, conf, np.zeros(3), np.zeros(2))
    drawn = ap_per_class(tp, conf, np.zeros(3), np.zeros(2), True, tmp_path, {0: "person", 1: "bicycle"}, prefix="v_")
    for a, b in zip(plain, drawn):
        np.testing.assert_array_equal(a, b)
    cm = ConfusionMatrix(nc=2)
    cm.process_batch(boxes((0, 0, 10, 10, 0.9, 1)), boxes((0, 0, 0, 10, 10)))
    assert cm.plot(False, tmp_path / "cm", ["person", "bicycle"]) is None
    for f in ("v_PR_curve.png", "v_F1_curve.png", "v_P_curve.png", "v_R_curve.png", "cm/confusion_matrix.png"):
        assert (tmp_path / f).stat().st_size > 1000, f


def test_metrics_module_imports_no_plotting_at_import_time():
    # plots imports metrics; metrics reaches plots (and matplotlib) only inside a call that draws
    tree = ast.parse(Path(metrics.__file__).read_text())
    top = [n.module if isinstance(n, ast.ImportFrom) else a.name for n in tree.body
           if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names]
    assert top and not [m for m in top if "plots" in m or "matplotlib" in m], top


def test_fitness_and_smooth():
    assert fitness(np.array([[0.7, 0.6, 0.5, 0.4]]))[0] == pytest.approx(0.05 + 0.36)
    y = np.full(1000, 0.3)
    assert smooth(y, 0.1).shape == (1000,) and np.allclose(smooth(y, 0.1), 0.3)
    step = np.r_[np.zeros(500), np.ones(500)]
    s = smooth(step, 0.1)
    assert s[0] == 0 and s[-1] == 1 and 0 < s[500] < 1


def brute_force_match(dets: torch.Tensor, labels: torch.Tensor, thresholds: list[float]) -> np.ndarray:
    """The matching rule spelled out with loops: best same-class label per detection, first claimant per label."""
    from utils.boxes import box_iou

    iou = box_iou(labels[:, 1:], dets[:, :4]).numpy()
    same = labels[:, 0:1].numpy() == dets[:, 5].numpy()
    out = np.zeros((len(dets), len(thresholds)), dtype=bool)
    for k, t in enumerate(thresholds):
        taken = set()
        for d in range(len(dets)):  # detections are in rank order
            scores = [iou[li, d] if same[li, d] else -1.0 for li in range(len(labels))]
            best = int(np.argmax(scores))
            if scores[best] >= t and best not in taken:
                taken.add(best)
                out[d, k] = True
    return out


def test_match_agrees_with_brute_force_on_random_scenes():
    g = torch.Generator().manual_seed(1)
    iouv = iou_thresholds()
    for _ in range(20):
        xy = torch.rand((12, 2), generator=g) * 80
        wh = 10 + torch.rand((12, 2), generator=g) * 30
        labels = torch.cat((torch.randint(0, 3, (12, 1), generator=g).float(), xy, xy + wh), 1)
        jitter = (torch.rand((40, 4), generator=g) - 0.5) * 8
        dets = labels[torch.randint(0, 12, (40,), generator=g), 1:] + jitter
        conf = torch.rand(40, generator=g).sort(descending=True).values
        cls = torch.randint(0, 3, (40,), generator=g).float()
        dets = torch.cat((dets, conf[:, None], cls[:, None]), 1)
        expected = brute_force_match(dets, labels, iouv.tolist())
        np.testing.assert_array_equal(match_predictions(dets, labels, iouv).numpy(), expected)


# --- YOLOv5 v7.0 golden numbers (../shared/golden/metrics.npz and process_batch.npz; tolerances from its README) ---


@pytest.mark.parametrize("case", ["ap0", "ap1", "ap2"])
def test_ap_per_class_matches_yolov5(case):
    g = golden("metrics.npz")
    tp, fp, p, r, f1, ap, classes = ap_per_class(g[f"{case}__tp"], g[f"{case}__conf"], g[f"{case}__pred_cls"],
                                                 g[f"{case}__target_cls"])
    np.testing.assert_array_equal(classes, g[f"{case}__out_unique_classes"])
    for name, ours in dict(tp=tp, fp=fp, p=p, r=r, f1=f1, ap=ap).items():
        np.testing.assert_allclose(ours, g[f"{case}__out_{name}"], rtol=0, atol=1e-9, err_msg=f"{case} {name}")


@pytest.mark.parametrize("case", ["cap0", "cap1", "cap2", "cap3"])
def test_compute_ap_matches_yolov5(case):
    g = golden("metrics.npz")
    ap, mpre, mrec = compute_ap(g[f"{case}__recall"], g[f"{case}__precision"])
    assert abs(ap - float(g[f"{case}__out_ap"])) <= 1e-9
    np.testing.assert_allclose(mpre, g[f"{case}__out_mpre"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(mrec, g[f"{case}__out_mrec"], rtol=0, atol=1e-9)


def test_fitness_matches_yolov5():
    g = golden("metrics.npz")
    np.testing.assert_allclose(fitness(g["fitness__x"]), g["fitness__out"], rtol=0, atol=1e-9)


@pytest.mark.parametrize("scene", range(4))
def test_match_predictions_matches_yolov5_process_batch(scene):
    g = golden("process_batch.npz")
    detections, labels = torch.from_numpy(g[f"s{scene}__detections"]), torch.from_numpy(g[f"s{scene}__labels"])
    iouv = iou_thresholds()
    np.testing.assert_array_equal(iouv.numpy(), g["iouv"])
    correct = match_predictions(detections, labels, iouv).numpy()
    wrong = np.argwhere(correct != g[f"s{scene}__correct"])
    assert not len(wrong), f"(detection, threshold) cells that differ from YOLOv5: {wrong.tolist()}"
