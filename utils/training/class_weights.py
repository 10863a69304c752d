"""--image-weights: sample training images by how rare (and how poorly detected) their classes are."""

from __future__ import annotations

import numpy as np
import torch


def labels_to_class_weights(labels: list[np.ndarray], nc: int = 80) -> torch.Tensor:
    """Inverse class frequency over a dataset's labels, normalised to sum to 1 (absent classes count once)."""
    rows = [x for x in labels if len(x)]
    if not rows:
        return torch.ones(nc) / nc
    counts = np.bincount(np.concatenate(rows, 0)[:, 0].astype(int), minlength=nc).astype(float)
    counts[counts == 0] = 1
    weights = 1 / counts
    return torch.from_numpy(weights / weights.sum()).float()


def labels_to_image_weights(labels: list[np.ndarray], nc: int = 80,
                            class_weights: np.ndarray | None = None) -> np.ndarray:
    """Per-image sampling weight: the sum of its objects' class weights."""
    class_weights = np.ones(nc) if class_weights is None else class_weights
    counts = np.array([np.bincount(x[:, 0].astype(int), minlength=nc) for x in labels])
    return (class_weights.reshape(1, nc) * counts).sum(1)
