"""utils.masks against YOLOv5 v7.0's outputs on seg_general.npz (crop, process_mask*, scale_image, IoU, outlines)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from tests.conftest import golden
from utils.masks import (crop_mask, mask_iou, masks2segments, masks_iou, process_mask, process_mask_native,
                         process_mask_upsample, scale_image)


@pytest.fixture(scope="module")
def g() -> dict:
    return golden("seg_general.npz")


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a))


def test_crop_mask(g):
    out = crop_mask(_t(g["crop__masks"]), _t(g["crop__boxes"]))
    np.testing.assert_array_equal(out.numpy(), g["crop__out"])
    assert not out[4].any()  # x2 < x1: empty box


@pytest.mark.parametrize("case", ["square", "rect"])
def test_process_mask(g, case):
    assert case in g["pm__cases"]
    protos, coef, boxes = (_t(g[f"{case}__{k}"]) for k in ("protos", "masks_in", "bboxes"))
    shape = tuple(int(s) for s in g[f"{case}__shape"])
    expected = {
        "process_mask": process_mask(protos, coef, boxes, shape),
        "process_mask_upsample_true": process_mask(protos, coef, boxes, shape, upsample=True),
        "process_mask_upsample": process_mask_upsample(protos, coef, boxes, shape),
    }
    for key, out in expected.items():
        assert out.dtype == torch.float32
        np.testing.assert_array_equal(out.numpy(), g[f"{case}__{key}"], err_msg=key)
    np.testing.assert_array_equal(boxes.numpy(), g[f"{case}__bboxes"])  # the caller's boxes are not scaled in place


def test_process_mask_native_without_padding_is_the_upsampled_path(g):
    """At the input's own size (no letterbox padding) native masks are process_mask_upsample's."""
    protos, coef, boxes = (_t(g[f"square__{k}"]) for k in ("protos", "masks_in", "bboxes"))
    native = process_mask_native(protos, coef, boxes, (64, 64))
    np.testing.assert_array_equal(native.numpy(), g["square__process_mask_upsample"])


def test_process_mask_native_cuts_the_letterbox_padding(g):
    """rect protos (12x16) seen as a 16x16 letterbox of a 48x64 image: the 2 padded rows each side are dropped."""
    protos, coef, boxes = (_t(g[f"rect__{k}"]) for k in ("protos", "masks_in", "bboxes"))
    padded = torch.nn.functional.pad(protos, (0, 0, 2, 2), value=-30.0)  # 12 -> 16 rows
    native = process_mask_native(padded, coef, boxes, (48, 64))
    np.testing.assert_array_equal(native.numpy(), g["rect__process_mask_upsample"])


@pytest.mark.parametrize("case", ["auto_pad_f32", "given_pad_u8", "mask_2d_upscale", "odd_pad_f32"])
def test_scale_image(g, case):
    assert case in g["si__cases"]
    ratio_pad = None if g[f"{case}__ratio_pad_is_none"] else g[f"{case}__ratio_pad"].tolist()
    out = scale_image(tuple(g[f"{case}__im1_shape"]), g[f"{case}__masks"], tuple(g[f"{case}__im0_shape"]), ratio_pad)
    ref = g[f"{case}__out"]
    assert out.shape == ref.shape and out.dtype == ref.dtype
    if out.dtype == np.uint8:
        np.testing.assert_array_equal(out, ref)
    else:
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-6)


def test_scale_image_refuses_1d():
    with pytest.raises(ValueError, match="scale_image"):
        scale_image((8, 8), np.zeros(8, np.float32), (4, 4, 3))


def test_mask_iou(g):
    m1, m2 = _t(g["miou__mask1"]), _t(g["miou__mask2"])
    np.testing.assert_allclose(mask_iou(m1, m2).numpy(), g["miou__mask_iou"], rtol=1e-6, atol=0)
    out = masks_iou(m1[:4], m2)
    assert out.shape == g["miou__masks_iou"].shape == (1, 4)
    np.testing.assert_allclose(out.numpy(), g["miou__masks_iou"], rtol=1e-6, atol=0)


@pytest.mark.parametrize("strategy", ["largest", "concat"])
def test_masks2segments(g, strategy):
    assert strategy in g["m2s__strategies"]
    segs = masks2segments(_t(g["m2s__masks"]), strategy)
    lengths = g[f"m2s__{strategy}__lengths"]
    assert [len(s) for s in segs] == lengths.tolist()
    assert all(s.dtype == np.float32 and s.shape[1:] == (2,) for s in segs)
    np.testing.assert_array_equal(np.concatenate(segs), g[f"m2s__{strategy}__points"])


def test_masks2segments_outline_refills_the_blob(g):
    """The 'largest' outline of a solid blob (the ellipse) fills back to the same pixels."""
    mask = g["m2s__masks"][1].astype(np.uint8)
    seg = masks2segments(torch.from_numpy(mask[None]))[0]
    refilled = cv2.fillPoly(np.zeros_like(mask), [seg.astype(np.int32)], 1)
    np.testing.assert_array_equal(refilled, mask)


def test_masks2segments_refuses_unknown_strategy():
    with pytest.raises(ValueError, match="strategy"):
        masks2segments(torch.zeros(1, 4, 4), "biggest")


def test_scale_image_takes_more_channels_than_one_opencv_resize(g):
    """300 detections (val's max_det) exceed OpenCV 5's 128 channels per resize: the same per-channel result."""
    masks = np.tile(g["auto_pad_f32__masks"], (1, 1, 100))  # 300 channels
    out = scale_image((64, 64), masks, tuple(g["auto_pad_f32__im0_shape"]))
    assert out.shape == (40, 50, 300)
    # OpenCV's float path rounds a little differently by channel count: 2e-6 here, 1e-6 for the golden 3 channels
    np.testing.assert_allclose(out[..., 297:], g["auto_pad_f32__out"], rtol=0, atol=2e-6)
    assert scale_image((64, 64), masks[..., :0], (40, 50, 3)).shape == (40, 50, 0)
