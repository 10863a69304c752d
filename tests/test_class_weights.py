"""--image-weights helpers: inverse class frequencies and per-image sums."""

from __future__ import annotations

import numpy as np
import torch

from utils.training.class_weights import labels_to_class_weights, labels_to_image_weights


def _labels():
    return [np.array([[0, .5, .5, .1, .1], [0, .2, .2, .1, .1]]), np.array([[1, .5, .5, .1, .1]]), np.zeros((0, 5))]


def test_rare_classes_weigh_more():
    w = labels_to_class_weights(_labels(), nc=3)
    # counts 2, 1, 0 (absent counts as 1): weights 1/2, 1, 1 normalised by 2.5
    assert torch.allclose(w, torch.tensor([0.2, 0.4, 0.4]))


def test_image_weight_sums_its_objects_class_weights():
    iw = labels_to_image_weights(_labels(), nc=3, class_weights=np.array([1.0, 5.0, 0.0]))
    assert iw.tolist() == [2.0, 5.0, 0.0]
