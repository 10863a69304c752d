"""What both the metrics and their plots use, below both: the model-selection score, the F1 curve's smoothing and
the per-class curves record (metrics computes them, plots draws them)."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


def fitness(x: np.ndarray) -> np.ndarray:
    """Model selection score per row of [P, R, mAP50, mAP50-95, ...]: 0.1 * mAP50 + 0.9 * mAP50-95."""
    w = np.array([0.0, 0.0, 0.1, 0.9])
    return (np.asarray(x)[:, :4] * w).sum(1)


def smooth(y: np.ndarray, f: float = 0.05) -> np.ndarray:
    """Box-filter y over a window of fraction f of its length, edges padded, so the F1 maximum is not a spike."""
    nf = round(len(y) * f * 2) // 2 + 1  # odd window length
    pad = np.ones(nf // 2)
    padded = np.concatenate((pad * y[0], y, pad * y[-1]))
    return np.convolve(padded, np.ones(nf) / nf, mode="valid")


class ClassCurves(NamedTuple):
    """Per labelled class, over confidence thresholds px (0..1): precision, recall, F1; the IoU 0.5 PR curve py
    (over recall px); AP (nc, n_iou). What ap_per_class summarizes and plots.plot_ap_curves draws."""

    px: np.ndarray
    py: list
    p: np.ndarray
    r: np.ndarray
    f1: np.ndarray
    ap: np.ndarray
    classes: np.ndarray
    n_labels: np.ndarray
