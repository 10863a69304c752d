"""Instance masks from polygons: YOLOv5 v7.0's numbers (seg_data.npz), and the per-object path against a full fill."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import golden
from utils.data.polygon_masks import overlap_order, polygon2mask, polygons2masks, polygons2masks_overlap


def _pms_polygons(g: dict) -> list[np.ndarray]:
    return np.split(g["pms__polygons"], np.cumsum(g["pms__lengths"])[:-1])


@pytest.mark.parametrize("case", ["one_r1", "two_r1_color255", "one_r4", "two_r4", "odd_size_r4"])
def test_polygon2mask_matches_yolov5(case):
    g = golden("seg_data.npz")
    assert case in g["p2m__cases"].tolist()
    out = polygon2mask(tuple(g[f"{case}__img_size"].tolist()), g[f"{case}__polygons"], int(g[f"{case}__color"]),
                       int(g[f"{case}__ratio"]))
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, g[f"{case}__out"])


def test_polygon2mask_truncates_negative_and_fractional_points_toward_zero():
    g = golden("seg_data.npz")
    np.testing.assert_array_equal(polygon2mask((20, 24), g["p2m__polygons_negative"]), g["p2m__negative__out"])


@pytest.mark.parametrize("ratio", [1, 4])
def test_polygons2masks_matches_yolov5(ratio):
    g = golden("seg_data.npz")
    assert ratio in g["pms__ratios"].tolist()
    masks = polygons2masks(tuple(g["pms__img_size"].tolist()), _pms_polygons(g), color=1, downsample_ratio=ratio)
    np.testing.assert_array_equal(masks, g[f"pms__r{ratio}__masks"])


@pytest.mark.parametrize("ratio", [1, 4])
def test_polygons2masks_overlap_matches_yolov5(ratio):
    """Order: empty first, then largest first; a pixel belongs to the last (smaller) instance covering it."""
    g = golden("seg_data.npz")
    mask, order = polygons2masks_overlap(tuple(g["pms__img_size"].tolist()), _pms_polygons(g), ratio)
    np.testing.assert_array_equal(order, g[f"pms__r{ratio}__overlap_index"])
    assert mask.dtype == np.uint8
    np.testing.assert_array_equal(mask, g[f"pms__r{ratio}__overlap_masks"])


def test_overlap_order_puts_empty_masks_first_then_largest():
    assert overlap_order(np.array([5, 0, 9, 7, 0])).tolist()[:2] in ([1, 4], [4, 1])
    assert overlap_order(np.array([5, 0, 9, 7, 0])).tolist()[2:] == [2, 3, 0]


def _random_polygon(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A self-crossing polygon anywhere in or around an h x w image (often partly, sometimes wholly, outside)."""
    centre = rng.uniform(-0.3, 1.3, 2) * [w, h]
    return (centre + rng.normal(0, rng.uniform(1, 60), (rng.integers(3, 30), 2))).astype(np.float32)


@pytest.mark.parametrize("ratio", [1, 2, 4, 8])
def test_per_object_fill_equals_v7_full_image_fill(ratio):
    """The fast path (fill and shrink inside each polygon's block-aligned box) gives v7.0's full-image pixels,
    also for polygons that cross or miss the image and for sizes that do not divide by the ratio."""
    rng = np.random.default_rng(ratio)
    for size in [(64, 96), (96, 32), (50, 66), (33, 40)]:
        polygons = [_random_polygon(rng, *size) for _ in range(40)]
        full = np.stack([polygon2mask(size, [p], 1, ratio) for p in polygons])
        np.testing.assert_array_equal(polygons2masks(size, polygons, 1, ratio), full)


def test_overlap_mask_with_more_than_255_instances_is_int32():
    polygons = [np.array([[x, 0], [x + 1, 0], [x + 1, 3], [x, 3]], np.float32) for x in range(0, 600, 2)]
    mask, order = polygons2masks_overlap((4, 640), polygons, 1)
    assert mask.dtype == np.int32 and mask.max() == 300 and sorted(order.tolist()) == list(range(300))


def test_no_polygons_give_empty_masks():
    assert polygons2masks((32, 32), [], 1, 4).shape == (0, 8, 8)
    mask, order = polygons2masks_overlap((32, 32), [], 4)
    assert mask.shape == (8, 8) and not mask.any() and len(order) == 0
