"""Augmentations: letterbox geometry, warps keeping boxes on their objects, mosaic, mixup, copy-paste, HSV, flips."""

from __future__ import annotations

import random
import sys
import types

import cv2
import numpy as np
import pytest

from tests.conftest import golden
from utils.data import augmentations as aug
from utils.data.augmentations import (Albumentations, augment_hsv, bbox_ioa, box_candidates, copy_paste, draw_flips,
                                      flip, letterbox, mixup, mixup_segments, mosaic4, random_flips,
                                      random_perspective, random_perspective_segments)


@pytest.fixture(autouse=True)
def seeded():
    random.seed(0)
    np.random.seed(0)


def _image_with_box(h: int = 120, w: int = 200, box=(40, 30, 100, 90), value: int = 255) -> np.ndarray:
    im = np.zeros((h, w, 3), np.uint8)
    x1, y1, x2, y2 = box
    im[y1:y2, x1:x2] = value
    return im


def _white_box(im: np.ndarray) -> tuple[int, int, int, int]:
    """The xyxy extent of the bright pixels of an image."""
    ys, xs = np.where(im[..., 0] > 200)
    return xs.min(), ys.min(), xs.max() + 1, ys.max() + 1


@pytest.mark.parametrize("auto, scale_fill, scaleup, expected", [
    (False, False, True, (320, 320)),  # padded square
    (True, False, True, (192, 320)),  # padded to a stride multiple only
    (False, True, True, (320, 320)),  # stretched
    (False, False, False, (320, 320)),  # never enlarged
])
def test_letterbox_shapes(auto, scale_fill, scaleup, expected):
    im = _image_with_box()
    out, ratio, (dw, dh) = letterbox(im, 320, auto=auto, scaleFill=scale_fill, scaleup=scaleup, stride=32)
    assert out.shape[:2] == expected
    if scale_fill:
        assert ratio == (320 / 200, 320 / 120) and (dw, dh) == (0, 0)
    elif not scaleup:
        assert ratio == (1.0, 1.0) and (dw, dh) == (60, 100)
    else:
        x1, y1, x2, y2 = _white_box(out)  # the box maps through ratio and padding
        assert abs(x1 - (40 * ratio[0] + dw)) <= 1 and abs(y2 - (90 * ratio[1] + dh)) <= 1
        assert (out[0, 0] == 114).all() or dh == 0


def test_random_perspective_moves_boxes_with_the_image():
    im = _image_with_box()
    targets = np.array([[3, 40, 30, 100, 90]], dtype=np.float32)
    for _ in range(5):
        out, t = random_perspective(im, targets.copy(), degrees=0, translate=0.2, scale=0.3, shear=0)
        assert out.shape == im.shape and len(t) == 1 and t[0, 0] == 3
        np.testing.assert_allclose(t[0, 1:], _white_box(out), atol=2)


def test_random_perspective_drops_boxes_pushed_out_and_crops_with_border():
    im = _image_with_box(400, 400, box=(0, 0, 20, 20))
    targets = np.array([[0, 0, 0, 20, 20], [1, 150, 150, 250, 250]], dtype=np.float32)
    out, t = random_perspective(im, targets, degrees=0, translate=0, scale=0, shear=0, border=(-100, -100))
    assert out.shape == (200, 200, 3)  # border -100 crops 400 -> 200 around the centre
    assert t[:, 0].tolist() == [1]  # the corner box fell outside and was dropped
    np.testing.assert_allclose(t[0, 1:], [50, 50, 150, 150])


def test_random_perspective_follows_polygons():
    im = np.zeros((100, 100, 3), np.uint8)
    targets = np.array([[0, 10, 10, 60, 60]], dtype=np.float32)
    triangle = np.array([[10, 10], [60, 10], [10, 60]], dtype=np.float32)
    _, t = random_perspective(im, targets, [triangle], degrees=0, translate=0, scale=0, shear=0)
    np.testing.assert_allclose(t[0, 1:], [10, 10, 60, 60], atol=0.1)


def test_box_candidates():
    before = np.array([[0, 0, 100, 100], [0, 0, 100, 100], [0, 0, 100, 100], [0, 0, 100, 100]], dtype=float).T
    after = np.array([[0, 0, 90, 90], [0, 0, 1.5, 50], [0, 0, 25, 25], [0, 0, 99, 3.5]], dtype=float).T
    assert box_candidates(before, after).tolist() == [True, False, False, False]  # ok, too thin, too small, too slim
    assert not box_candidates(before[:, :1], np.array([[0, 0, 300, 2.9]]).T).any()


def test_mosaic4_places_tiles_and_labels():
    s = 64
    tiles = []
    for v in (50, 100, 150, 200):
        im = np.full((64, 48, 3), v, np.uint8)
        tiles.append((im, np.array([[v, 0.5, 0.5, 0.5, 0.5]], dtype=np.float32), []))
    canvas, labels, segments = mosaic4(tiles, s)
    assert canvas.shape == (128, 128, 3) and labels.shape == (4, 5) and segments == []
    assert (labels[:, 1:] >= 0).all() and (labels[:, 1:] <= 2 * s).all()
    checked = 0
    for cls, x1, y1, x2, y2 in labels:  # each unclipped box lies on its own tile's pixels
        if x2 - x1 == 24 and y2 - y1 == 32:
            assert (canvas[int(y1):int(y2), int(x1):int(x2), 0] == cls).all()
            checked += 1
    assert checked >= 1


def test_mixup_blends_and_joins_labels():
    a, b = np.zeros((8, 8, 3), np.uint8), np.full((8, 8, 3), 200, np.uint8)
    im, labels = mixup(a, np.ones((2, 5)), b, np.zeros((3, 5)))
    assert labels.shape == (5, 5) and 60 < im.mean() < 140  # Beta(32, 32) stays near 0.5


def test_copy_paste_adds_mirrored_objects():
    im = _image_with_box(100, 100, box=(10, 20, 30, 60))
    labels = np.array([[5, 10, 20, 30, 60]], dtype=np.float32)
    poly = np.array([[10, 20], [30, 20], [30, 60], [10, 60]], dtype=np.float32)
    out, new_labels, segments = copy_paste(im, labels, [poly], p=1.0)
    assert new_labels.shape == (2, 5) and len(segments) == 2
    np.testing.assert_allclose(new_labels[1], [5, 70, 20, 90, 60])
    assert out[40, 80].max() == 255 and im[40, 80].max() == 0  # pasted pixels, input untouched
    assert copy_paste(im, labels, [], p=1.0)[1].shape == (1, 5)


def test_bbox_ioa():
    boxes = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [20, 20, 30, 30]], dtype=float)
    np.testing.assert_allclose(bbox_ioa(np.array([0, 0, 10, 10.0]), boxes), [1, 0.25, 0], atol=1e-6)


def test_augment_hsv_in_place_and_off_switch():
    im = np.random.randint(0, 255, (16, 16, 3), dtype=np.uint8)
    before = im.copy()
    augment_hsv(im, 0, 0, 0)
    assert np.array_equal(im, before)
    augment_hsv(im, 0.5, 0.5, 0.5)
    assert not np.array_equal(im, before)


def test_random_flips():
    im = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    labels = np.array([[0, 0.2, 0.3, 0.1, 0.1]])
    out, lb = random_flips(im, labels.copy(), flipud=1.0, fliplr=1.0)
    assert np.array_equal(out, im[::-1, ::-1]) and np.allclose(lb[0, 1:3], [0.8, 0.7])
    out, lb = random_flips(im, labels.copy(), flipud=0.0, fliplr=0.0)
    assert out is im and np.array_equal(lb, labels)


def test_albumentations_is_optional(monkeypatch):
    monkeypatch.setitem(sys.modules, "albumentations", None)  # import fails as if not installed
    im, labels = np.zeros((8, 8, 3), np.uint8), np.zeros((1, 5))
    a = Albumentations()
    assert a.transform is None and a(im, labels) == (im, labels)


def test_albumentations_pass_when_installed(monkeypatch):
    calls = []

    class Step:
        def __init__(self, p):
            self.p = p

    def compose(steps, bbox_params):
        def run(image, bboxes, class_labels):
            calls.append(len(steps))
            return {"image": image + 1, "bboxes": [tuple(b) for b in bboxes], "class_labels": list(class_labels)}
        return run

    fake = types.SimpleNamespace(Blur=Step, MedianBlur=Step, ToGray=Step, CLAHE=Step, Compose=compose,
                                 BboxParams=lambda **kw: kw)
    monkeypatch.setitem(sys.modules, "albumentations", fake)
    labels = np.array([[2, 0.5, 0.5, 0.2, 0.2]], dtype=np.float32)
    im, out = Albumentations()(np.zeros((8, 8, 3), np.uint8), labels)
    assert calls == [4] and im.max() == 1 and np.allclose(out, labels)


# --- YOLOv5 v7.0 golden numbers (../shared/golden/letterbox.npz, augment_deterministic.npz; README tolerances) ---

LETTERBOX_SETTINGS = ["s64", "s64_auto", "s64_noscaleup", "s64_scalefill", "rect_48x80", "s64_auto_noscaleup"]


@pytest.mark.parametrize("setting", LETTERBOX_SETTINGS)
def test_letterbox_matches_yolov5(setting):
    g = golden("letterbox.npz")
    for k in range(int(g["images"])):
        new_shape, color = tuple(g[f"{setting}__new_shape"].tolist()), tuple(g["color"].tolist())
        out, ratio, pad = letterbox(g[f"im{k}"], new_shape, color=color,
                                    auto=bool(g[f"{setting}__auto"]), scaleFill=bool(g[f"{setting}__scaleFill"]),
                                    scaleup=bool(g[f"{setting}__scaleup"]), stride=int(g[f"{setting}__stride"]))
        ref = f"{setting}__im{k}"
        assert list(ratio) == g[f"{ref}__ratio"].tolist() and list(pad) == g[f"{ref}__pad"].tolist(), ref
        np.testing.assert_array_equal(out, g[f"{ref}__out"], err_msg=ref)


def test_box_candidates_match_yolov5():
    g = golden("augment_deterministic.npz")
    for thr, key in ((0.1, "bc__area_thr_0_1"), (0.01, "bc__area_thr_0_01")):
        np.testing.assert_array_equal(box_candidates(g["bc__box1"], g["bc__box2"], area_thr=thr), g[key], err_msg=key)


class _Draws:
    """Stands in for one random function: returns the stored draws in call order and records the arguments."""

    def __init__(self, values):
        self.values, self.calls = list(values), []

    def __call__(self, *args, **kwargs):
        self.calls.append(args + tuple(kwargs.values()))
        return self.values.pop(0)


@pytest.mark.parametrize("case", range(4))
def test_augment_hsv_matches_yolov5(case, monkeypatch):
    g = golden("augment_deterministic.npz")
    draw = _Draws([g[f"hsv{case}__uniform_draws"]])
    monkeypatch.setattr(np.random, "uniform", draw)
    im = g["hsv__image"].copy()
    augment_hsv(im, *g[f"hsv{case}__gains"].tolist())
    assert draw.calls == [(-1, 1, 3)]
    np.testing.assert_array_equal(im, g[f"hsv{case}__out"])


def _warp_recorder(monkeypatch) -> list:
    """Record the matrix random_perspective hands to OpenCV's warp (as 3x3)."""
    seen = []
    for name in ("warpAffine", "warpPerspective"):
        real = getattr(cv2, name)

        def wrapper(im, m, *args, _real=real, **kwargs):
            seen.append(np.vstack((m, [0, 0, 1])) if m.shape[0] == 2 else m.copy())
            return _real(im, m, *args, **kwargs)

        monkeypatch.setattr(cv2, name, wrapper)
    return seen


@pytest.mark.parametrize("case", ["affine", "perspective", "mosaic_border", "segments", "identity"])
def test_random_perspective_matches_yolov5(case, monkeypatch):
    g = golden("augment_deterministic.npz")
    draw = _Draws(g[f"{case}__draws"].tolist())
    monkeypatch.setattr(aug.random, "uniform", draw)
    warps = _warp_recorder(monkeypatch)
    segments = ()
    if f"{case}__segments" in g:
        ends = np.cumsum(g[f"{case}__segment_lengths"])[:-1]
        segments = np.split(g[f"{case}__segments"], ends)
    degrees, translate, scale, shear, perspective = g[f"{case}__params"].tolist()
    im, targets = random_perspective(g[f"{case}__image"].copy(), g[f"{case}__targets"].copy(), segments,
                                     degrees=degrees, translate=translate, scale=scale, shear=shear,
                                     perspective=perspective, border=tuple(g[f"{case}__border"].tolist()))
    np.testing.assert_allclose(np.array(draw.calls), g[f"{case}__draw_bounds"], rtol=0, atol=0)
    assert len(warps) == int(g[f"{case}__warped"])
    if warps:
        np.testing.assert_allclose(warps[0], g[f"{case}__M"], rtol=1e-12, atol=0)
    np.testing.assert_array_equal(im, g[f"{case}__out_image"])
    ref = g[f"{case}__out_targets"]
    assert targets.shape == ref.shape
    np.testing.assert_array_equal(targets[:, 0], ref[:, 0])
    np.testing.assert_allclose(targets[:, 1:], ref[:, 1:], rtol=0, atol=1e-4)


def test_mixup_matches_yolov5(monkeypatch):
    g = golden("augment_deterministic.npz")
    for k, r in enumerate(g["mixup__r"].tolist()):
        draw = _Draws([r])
        monkeypatch.setattr(np.random, "beta", draw)
        im, labels = mixup(g["mixup__im"], g["mixup__labels"], g["mixup__im2"], g["mixup__labels2"])
        assert draw.calls == [tuple(g[f"mixup{k}__beta_args"].tolist())]
        np.testing.assert_array_equal(im, g[f"mixup{k}__out_image"])
        np.testing.assert_array_equal(labels, g[f"mixup{k}__out_labels"])


def test_mixup_ratio_is_beta_32_32():
    """The drawn blend ratio has Beta(32, 32)'s spread (std 0.062), not a flat one's (0.29), on a seeded generator."""
    np.random.seed(0)
    white, black, none = np.full((1, 1, 3), 250, np.uint8), np.zeros((1, 1, 3), np.uint8), np.zeros((0, 5))
    ratios = np.array([mixup(white, none, black, none)[0][0, 0, 0] / 250 for _ in range(400)])
    assert abs(ratios.mean() - 0.5) < 0.02 and 0.045 < ratios.std() < 0.08


def test_augment_hsv_hue_wraps_modulo_180_at_the_largest_gain(monkeypatch):
    """YOLOv5's hue table is (h * r) % 180; golden gains stay below r = 1.42 where a wrong modulus still hides."""
    hue = np.arange(180, dtype=np.uint8).reshape(12, 15)
    hsv = np.dstack((hue, np.full_like(hue, 255), np.full_like(hue, 255)))
    im = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
    monkeypatch.setattr(np.random, "uniform", _Draws([np.array([1.0, 0.0, 0.0])]))
    out = im.copy()
    augment_hsv(out, 0.5, 0.5, 0.5)  # r = (1.5, 1, 1)
    lut = ((np.arange(256) * 1.5) % 180).astype(np.uint8)
    expected = cv2.cvtColor(np.dstack((lut[hue], hsv[..., 1], hsv[..., 2])), cv2.COLOR_HSV2BGR)
    np.testing.assert_array_equal(out, expected)


def test_draw_flips_draws_up_down_then_left_right(monkeypatch):
    monkeypatch.setattr(aug.random, "random", _Draws([0.3, 0.7]))
    assert draw_flips(0.5, 0.5) == (True, False)
    im, labels = np.arange(6, dtype=np.uint8).reshape(1, 2, 3), np.array([[0, 0.25, 0.1, 0.1, 0.1]])
    out, lb = flip(im, labels, ud=False, lr=True)
    assert np.array_equal(out, im[:, ::-1]) and lb[0, 1] == 0.75


@pytest.mark.parametrize("case", ["affine", "perspective", "mosaic_border", "shrink", "identity"])
def test_random_perspective_segments_matches_yolov5(case, monkeypatch):
    """v7.0's utils.segment.augmentations.random_perspective: boxes from the warped 1000-point polygons, which
    come back unclipped with the surviving targets."""
    g = golden("seg_data.npz")
    assert case in g["persp__cases"].tolist()
    draw = _Draws(g[f"{case}__draws"].tolist())
    monkeypatch.setattr(aug.random, "uniform", draw)
    warps = _warp_recorder(monkeypatch)
    segments = np.split(g[f"{case}__segments"], np.cumsum(g[f"{case}__segment_lengths"])[:-1])
    degrees, translate, scale, shear, perspective = g[f"{case}__params"].tolist()
    im, targets, segments = random_perspective_segments(
        g[f"{case}__image"].copy(), g[f"{case}__targets"].copy(), segments, degrees=degrees, translate=translate,
        scale=scale, shear=shear, perspective=perspective, border=tuple(g[f"{case}__border"].tolist()))
    np.testing.assert_array_equal(np.array(draw.calls), g[f"{case}__draw_bounds"])
    assert len(warps) == int(g[f"{case}__warped"])
    if warps:
        np.testing.assert_allclose(warps[0], g[f"{case}__M"], rtol=1e-12, atol=0)
    np.testing.assert_array_equal(im, g[f"{case}__out_image"])
    ref = g[f"{case}__out_targets"]
    assert targets.shape == ref.shape and len(segments) == len(ref)
    np.testing.assert_array_equal(targets[:, 0], ref[:, 0])
    np.testing.assert_allclose(targets[:, 1:], ref[:, 1:], rtol=0, atol=1e-4)
    np.testing.assert_allclose(np.stack(segments), g[f"{case}__out_segments"], rtol=0, atol=1e-4)


def test_random_perspective_segments_without_targets():
    im, targets, segments = random_perspective_segments(np.zeros((32, 32, 3), np.uint8), np.zeros((0, 5)), [])
    assert im.shape == (32, 32, 3) and targets.shape == (0, 5) and segments == []


def test_mixup_segments_matches_yolov5(monkeypatch):
    g = golden("seg_data.npz")
    for k, r in enumerate(g["mixup__r"].tolist()):
        draw = _Draws([r])
        monkeypatch.setattr(np.random, "beta", draw)
        im, labels, segments = mixup_segments(g["mixup__im"], g["mixup__labels"], list(g["mixup__segments"]),
                                              g["mixup__im2"], g["mixup__labels2"], list(g["mixup__segments2"]))
        assert draw.calls == [tuple(g[f"mixup{k}__beta_args"].tolist())]
        np.testing.assert_array_equal(im, g[f"mixup{k}__out_image"])
        np.testing.assert_array_equal(labels, g[f"mixup{k}__out_labels"])
        np.testing.assert_array_equal(np.stack(segments), g[f"mixup{k}__out_segments"])
