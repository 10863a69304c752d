"""Segmentation metrics as YOLOv5 v7.0 computes them: predictions matched to labels by mask IoU, AP per class for
boxes and masks side by side, and the fitness that weighs both."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from utils.evaluation.metrics import ap_per_class, fitness, match_by_iou
from utils.masks import mask_iou


def seg_fitness(x: np.ndarray) -> np.ndarray:
    """Model selection score per row of [box P, R, mAP50, mAP50-95, mask P, R, mAP50, mAP50-95, ...]: the
    detection fitness (0.1 mAP50 + 0.9 mAP50-95) of the boxes plus that of the masks."""
    x = np.asarray(x)
    return fitness(x[:, :4]) + fitness(x[:, 4:8])


def label_mask_iou(pred_masks: torch.Tensor, gt_masks: torch.Tensor, n_labels: int, overlap: bool) -> torch.Tensor:
    """IoU (n_labels, n_det) of an image's label masks with its predicted 0/1 masks (n_det, h, w).

    gt_masks: (n_labels, H, W) 0/1, or with overlap one index mask (1, H, W) where label i is value i + 1; masks
    finer than the predictions are shrunk bilinearly and thresholded at > 0.5, as v7.0's segment/val.py."""
    if overlap:
        index = torch.arange(1, n_labels + 1, device=gt_masks.device).view(n_labels, 1, 1)
        gt_masks = torch.where(gt_masks.repeat(n_labels, 1, 1) == index, 1.0, 0.0)
    if gt_masks.shape[1:] != pred_masks.shape[1:]:
        gt_masks = F.interpolate(gt_masks[None], pred_masks.shape[1:], mode="bilinear", align_corners=False)[0]
        gt_masks = gt_masks.gt_(0.5)
    return mask_iou(gt_masks.view(gt_masks.shape[0], -1), pred_masks.view(pred_masks.shape[0], -1))


def match_mask_predictions(detections: torch.Tensor, labels: torch.Tensor, iouv: torch.Tensor,
                           pred_masks: torch.Tensor, gt_masks: torch.Tensor, overlap: bool) -> torch.Tensor:
    """Which detections (n, 6) are true positives at each IoU threshold when overlap is measured on masks;
    labels (m, 5) [cls, x1, y1, x2, y2]. The matching rule is match_predictions'."""
    if not detections.shape[0] or not labels.shape[0]:
        return torch.zeros((detections.shape[0], iouv.shape[0]), dtype=torch.bool, device=iouv.device)
    iou = label_mask_iou(pred_masks, gt_masks, labels.shape[0], overlap)
    return match_by_iou(iou, labels, detections, iouv)


def ap_per_class_box_and_mask(tp_m: np.ndarray, tp_b: np.ndarray, conf: np.ndarray, pred_cls: np.ndarray,
                              target_cls: np.ndarray, plot: bool = False, save_dir: str | Path = ".",
                              names: dict | list | tuple = ()) -> dict:
    """ap_per_class on box and on mask correctness: {'boxes' | 'masks': {p, r, ap, f1, ap_class}}; plot=True draws
    Box*/Mask* curve images."""
    out = {}
    for key, tp, prefix in (("boxes", tp_b, "Box"), ("masks", tp_m, "Mask")):
        _, _, p, r, f1, ap, ap_class = ap_per_class(tp, conf, pred_cls, target_cls, plot=plot, save_dir=save_dir,
                                                    names=names, prefix=prefix)
        out[key] = {"p": p, "r": r, "ap": ap, "f1": f1, "ap_class": ap_class}
    return out


class Metric:
    """Per-class P, R, F1 and AP (nc, 10) of one kind (boxes or masks) and their means; empty until updated."""

    def __init__(self):
        self.p, self.r, self.f1 = np.zeros(0), np.zeros(0), np.zeros(0)
        self.all_ap = np.zeros((0, 10))
        self.ap_class_index = np.zeros(0, int)

    def update(self, p: np.ndarray, r: np.ndarray, ap: np.ndarray, f1: np.ndarray, ap_class: np.ndarray) -> None:
        self.p, self.r, self.all_ap, self.f1, self.ap_class_index = p, r, ap, f1, ap_class

    @property
    def ap50(self) -> np.ndarray:
        """AP at IoU 0.5 per class."""
        return self.all_ap[:, 0]

    @property
    def ap(self) -> np.ndarray:
        """AP over IoU 0.5:0.95 per class."""
        return self.all_ap.mean(1)

    @property
    def mp(self) -> float:
        return float(self.p.mean()) if len(self.p) else 0.0

    @property
    def mr(self) -> float:
        return float(self.r.mean()) if len(self.r) else 0.0

    @property
    def map50(self) -> float:
        return float(self.all_ap[:, 0].mean()) if len(self.all_ap) else 0.0

    @property
    def map(self) -> float:
        return float(self.all_ap.mean()) if len(self.all_ap) else 0.0

    def mean_results(self) -> tuple[float, float, float, float]:
        """(mean P, mean R, mAP50, mAP50-95)."""
        return self.mp, self.mr, self.map50, self.map

    def class_result(self, i: int) -> tuple:
        """(P, R, AP50, AP50-95) of the i-th labelled class."""
        return self.p[i], self.r[i], self.ap50[i], self.ap[i]

    def get_maps(self, nc: int) -> np.ndarray:
        """mAP50-95 per class index; classes without labels get the overall mAP50-95."""
        maps = np.zeros(nc) + self.map
        maps[self.ap_class_index] = self.ap
        return maps


class Metrics:
    """Box and mask metrics of a segmentation validation, laid out box first, as v7.0's table and results."""

    def __init__(self):
        self.metric_box, self.metric_mask = Metric(), Metric()

    def update(self, results: dict) -> None:
        """Take ap_per_class_box_and_mask's output."""
        self.metric_box.update(**results["boxes"])
        self.metric_mask.update(**results["masks"])

    def mean_results(self) -> tuple:
        return self.metric_box.mean_results() + self.metric_mask.mean_results()

    def class_result(self, i: int) -> tuple:
        return self.metric_box.class_result(i) + self.metric_mask.class_result(i)

    def get_maps(self, nc: int) -> np.ndarray:
        """v7.0's per-class maps: box mAP50-95 plus mask mAP50-95, added elementwise."""
        return self.metric_box.get_maps(nc) + self.metric_mask.get_maps(nc)

    @property
    def ap_class_index(self) -> np.ndarray:
        return self.metric_box.ap_class_index
