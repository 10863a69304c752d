"""Detection metrics as YOLOv5 computes them: prediction/label matching, AP per class, confusion matrix, fitness."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from utils.boxes import box_iou
from utils.evaluation.scores import ClassCurves, fitness, smooth  # noqa: F401  (imported from here too)

IOU_THRESHOLDS = (0.5, 0.95, 10)  # linspace arguments of the COCO IoU thresholds 0.50:0.05:0.95


def iou_thresholds(device: torch.device | str = "cpu") -> torch.Tensor:
    """The ten COCO IoU thresholds, as float32 like YOLOv5 so that matches at the boundaries agree."""
    return torch.linspace(*IOU_THRESHOLDS, device=device)


def match_predictions(detections: torch.Tensor, labels: torch.Tensor, iouv: torch.Tensor) -> torch.Tensor:
    """Which detections are true positives at each IoU threshold: a (n_det, n_iou) bool tensor.

    detections (n, 6) [x1, y1, x2, y2, conf, cls] sorted by confidence; labels (m, 5) [cls, x1, y1, x2, y2].
    As in YOLOv5: each detection takes the same-class label it overlaps most; a label claimed by several
    detections counts only its highest-ranked one; a match needs IoU >= threshold.
    """
    if not detections.shape[0] or not labels.shape[0]:
        return torch.zeros((detections.shape[0], iouv.shape[0]), dtype=torch.bool, device=iouv.device)
    return match_by_iou(box_iou(labels[:, 1:], detections[:, :4]), labels, detections, iouv)


def match_by_iou(iou: torch.Tensor, labels: torch.Tensor, detections: torch.Tensor,
                 iouv: torch.Tensor) -> torch.Tensor:
    """match_predictions' rule on a given (m labels, n detections) IoU matrix, of boxes or of masks."""
    correct = torch.zeros((detections.shape[0], iouv.shape[0]), dtype=torch.bool, device=iouv.device)
    iou = iou * (labels[:, 0:1] == detections[:, 5])
    best_iou, best_label = iou.max(0)
    n_labels = labels.shape[0]
    det_index = torch.arange(detections.shape[0], device=iou.device)
    for k, threshold in enumerate(iouv.to(iou.device)):
        claim = torch.where(best_iou >= threshold, best_label, n_labels)  # n_labels = no claim
        first = torch.full((n_labels + 1,), detections.shape[0], device=iou.device, dtype=torch.long)
        first = first.scatter_reduce(0, claim, det_index, reduce="amin")[:n_labels]
        correct[first[first < detections.shape[0]].to(correct.device), k] = True
    return correct


def compute_ap(recall: np.ndarray, precision: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """AP of one class: area under the monotone precision envelope sampled at recall 0, 0.01, ..., 1.

    YOLOv5's arithmetic exactly (trapezoid rule, a (recall 1, precision 0) end point), so that printed figures agree:
    np.interp at recall 1 takes the appended precision 0, which caps a perfect prediction set at 0.995, not 1.0.
    """
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    x = np.linspace(0, 1, 101)
    return float(np.trapezoid(np.interp(x, mrec, mpre), x)), mpre, mrec


def class_curves(tp: np.ndarray, conf: np.ndarray, pred_cls: np.ndarray, target_cls: np.ndarray,
                 eps: float = 1e-16) -> ClassCurves:
    """Precision, recall, F1 and AP curves per labelled class from ranked predictions.

    tp (n, n_iou) bool, conf (n,), pred_cls (n,), target_cls (m,) for the whole validation set.
    """
    order = np.argsort(-conf)  # numpy's default (unstable) sort, as YOLOv5: tied confidences rank alike
    tp, conf, pred_cls = tp[order], conf[order], pred_cls[order]
    classes, n_labels = np.unique(target_cls, return_counts=True)
    nc = classes.shape[0]
    px, py = np.linspace(0, 1, 1000), []
    ap, p, r = np.zeros((nc, tp.shape[1])), np.zeros((nc, 1000)), np.zeros((nc, 1000))
    for ci, c in enumerate(classes):
        mine = pred_cls == c
        if not mine.any():
            continue
        tpc = tp[mine].cumsum(0)
        fpc = (1 - tp[mine]).cumsum(0)
        recall = tpc / n_labels[ci]
        precision = tpc / (tpc + fpc)
        r[ci] = np.interp(-px, -conf[mine], recall[:, 0], left=0)  # conf decreases, so interpolate on -conf
        p[ci] = np.interp(-px, -conf[mine], precision[:, 0], left=1)
        for j in range(tp.shape[1]):
            ap[ci, j], mpre, mrec = compute_ap(recall[:, j], precision[:, j])
            if j == 0:
                py.append(np.interp(px, mrec, mpre))
    f1 = 2 * p * r / (p + r + eps)
    return ClassCurves(px, py, p, r, f1, ap, classes, n_labels)


def at_best_f1(c: ClassCurves, eps: float = 1e-16) -> tuple:
    """(tp, fp, p, r, f1, ap (nc, n_iou), classes) over the labelled classes, P and R at the confidence of best
    mean F1, as YOLOv5's ap_per_class returns them."""
    best = smooth(c.f1.mean(0), 0.1).argmax()
    p, r, f1 = c.p[:, best], c.r[:, best], c.f1[:, best]
    tp = (r * c.n_labels).round()
    fp = (tp / (p + eps) - tp).round()
    return tp, fp, p, r, f1, c.ap, c.classes.astype(int)


def ap_per_class(tp: np.ndarray, conf: np.ndarray, pred_cls: np.ndarray, target_cls: np.ndarray, plot: bool = False,
                 save_dir: str | Path = ".", names: dict | list | tuple = (), eps: float = 1e-16,
                 prefix: str = "") -> tuple:
    """P, R, F1 and AP per labelled class from ranked predictions; P and R at the confidence of best mean F1.
    YOLOv5's signature: plot=True also draws its PR/F1/P/R curve images into save_dir (names {id: name} or a list)."""
    curves = class_curves(tp, conf, pred_cls, target_cls, eps)
    if plot:
        from utils.evaluation.plots import plot_ap_curves  # here: matplotlib loads only for a drawing

        plot_ap_curves(curves, save_dir, names if isinstance(names, dict) else dict(enumerate(names)), prefix)
    return at_best_f1(curves, eps)


class ConfusionMatrix:
    """Counts of (predicted class, true class) with a background row and column, at fixed conf and IoU."""

    def __init__(self, nc: int, conf: float = 0.25, iou_thres: float = 0.45):
        self.matrix = np.zeros((nc + 1, nc + 1))  # rows predicted, columns true; index nc = background
        self.nc = nc
        self.conf = conf
        self.iou_thres = iou_thres

    def process_batch(self, detections: torch.Tensor | None, labels: torch.Tensor) -> None:
        """Add one image: detections (n, 6) [x1, y1, x2, y2, conf, cls] or None, labels (m, 5) [cls, x1, y1, x2, y2]."""
        gt_classes = labels[:, 0].int().tolist()
        if detections is None:
            for gc in gt_classes:
                self.matrix[self.nc, gc] += 1
            return
        detections = detections[detections[:, 4] > self.conf]
        det_classes = detections[:, 5].int().tolist()
        label_of_det = self._match(detections, labels)
        matched = {}
        for di, li in enumerate(label_of_det):
            if li >= 0:
                matched[li] = di
        for li, gc in enumerate(gt_classes):
            row = det_classes[matched[li]] if li in matched else self.nc
            self.matrix[row, gc] += 1
        for di, dc in enumerate(det_classes):
            if label_of_det[di] < 0:
                self.matrix[dc, self.nc] += 1

    def _match(self, detections: torch.Tensor, labels: torch.Tensor) -> list[int]:
        """Class-agnostic one-to-one matching, highest IoU first: the label index of each detection, -1 if none."""
        result = [-1] * detections.shape[0]
        if not detections.shape[0] or not labels.shape[0]:
            return result
        iou = box_iou(labels[:, 1:], detections[:, :4]).cpu().numpy()
        li, di = np.nonzero(iou > self.iou_thres)
        used_labels = set()
        for k in np.argsort(-iou[li, di], kind="stable"):
            if result[di[k]] < 0 and li[k] not in used_labels:
                result[di[k]] = int(li[k])
                used_labels.add(li[k])
        return result

    def plot(self, normalize: bool = True, save_dir: str | Path = "", names: dict | list | tuple = ()) -> None:
        """YOLOv5's confusion_matrix.png in save_dir (its method; the drawing lives in plots)."""
        from utils.evaluation.plots import plot_confusion_matrix  # here: matplotlib loads only for a drawing

        plot_confusion_matrix(self.matrix, self.nc, names, save_dir, normalize)

    def tp_fp(self) -> tuple[np.ndarray, np.ndarray]:
        """True and false positives per class (background excluded)."""
        tp = self.matrix.diagonal()
        fp = self.matrix.sum(1) - tp
        return tp[:-1], fp[:-1]
