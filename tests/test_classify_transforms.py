"""Classification transforms: v7.0's evaluation transform on the golden images, the torchvision training
augmentation, and the YOLOv5 transform objects pickled in classifier checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.conftest import golden, shared_path
from utils.data.classify_transforms import (IMAGENET_MEAN, IMAGENET_STD, CenterCrop, classify_train_transforms,
                                            classify_transforms)


@pytest.mark.parametrize("k", [0, 1, 2])
@pytest.mark.parametrize("s", [32, 64])
def test_eval_transform_equals_v7(k, s):
    g = golden("cls.npz")
    im = g[f"im{k}"]
    np.testing.assert_array_equal(CenterCrop(s)(im), g[f"im{k}__s{s}__crop"])
    out = classify_transforms(s)(im)
    assert out.dtype == torch.float32 and out.shape == (3, s, s)
    np.testing.assert_allclose(out.numpy(), g[f"im{k}__s{s}__out"], rtol=0, atol=1e-6)


def test_center_crop_takes_a_rectangle_size():
    im = np.arange(40 * 60 * 3, dtype=np.uint8).reshape(40, 60, 3)
    assert CenterCrop((20, 30))(im).shape == (20, 30, 3)


def test_train_transform_is_random_and_normalized():
    rng = np.random.default_rng(0)
    im = rng.integers(0, 255, (48, 80, 3), dtype=np.uint8)
    t = classify_train_transforms(32)
    torch.manual_seed(0)
    a, b = t(im), t(im)
    assert a.shape == b.shape == (3, 32, 32) and a.dtype == torch.float32
    assert not torch.equal(a, b)  # random crop / flip / jitter differ between draws
    lo = (0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    hi = (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)
    for c in range(3):
        assert lo[c] - 1e-5 <= float(a[c].min()) and float(a[c].max()) <= hi[c] + 1e-5


def test_train_transform_flip_only_is_the_mirrored_image():
    """scale (1, 1) on a square image keeps it whole (any crop of full area and another aspect does not fit, and the
    fallback is the whole square); hflip 1 mirrors it; no jitter: the evaluation tensor mirrored."""
    im = np.random.default_rng(1).integers(0, 255, (32, 32, 3), dtype=np.uint8)
    t = classify_train_transforms(32, scale=(1.0, 1.0), hflip=1.0, jitter=0.0)
    torch.manual_seed(0)
    for _ in range(3):
        torch.testing.assert_close(t(im), classify_transforms(32)(im).flip(-1), atol=1e-5, rtol=0)


def test_checkpoint_transforms_match_ours():
    from models.checkpoints import load_checkpoint

    model = load_checkpoint(shared_path("weights/yolov5n-cls-coco128cls.pt"))["model"]
    im = golden("cls.npz")["im0"]
    np.testing.assert_allclose(model.transforms(im).numpy(), classify_transforms(224)(im).numpy(), atol=1e-6)
