"""Annotator: boxes and labels land where asked, in the class colour, readable at small and large sizes."""

from __future__ import annotations

import numpy as np
import pytest

from utils.annotator import FONT_FILE, Annotator, colors, is_ascii


def test_colors_cycle_and_bgr_order():
    assert colors(0) == colors(20)
    assert colors(0) != colors(1)
    r, g, b = colors(3)
    assert colors(3, bgr=True) == (b, g, r)
    assert all(0 <= v <= 255 for i in range(20) for v in colors(i))


def test_font_ships_with_matplotlib():
    assert FONT_FILE.is_file()


def test_cv2_box_label_draws_in_place():
    im = np.zeros((200, 300, 3), dtype=np.uint8)
    a = Annotator(im)
    assert not a.pil
    a.box_label([50, 80, 150, 180], "person 0.90", color=(0, 0, 255))
    out = a.result()
    assert out is im  # drawn on the caller's array
    assert tuple(out[130, 50]) == (0, 0, 255)  # left edge of the box
    assert tuple(out[130, 100]) == (0, 0, 0)  # inside untouched
    tag = out[60:78, 52:100]
    assert (tag == (0, 0, 255)).all(-1).any() and (tag == 255).all(-1).any()  # filled tag with white text above


def test_label_at_top_edge_goes_inside_box():
    im = np.zeros((200, 300, 3), dtype=np.uint8)
    Annotator(im).box_label([10, 0, 200, 150], "bus", color=(0, 255, 0))
    assert (im[5:20, 12:40] == (0, 255, 0)).all(-1).any()


def test_line_width_scales_with_image_size():
    small = Annotator(np.zeros((100, 100, 3), dtype=np.uint8))
    large = Annotator(np.zeros((2000, 3000, 3), dtype=np.uint8))
    assert small.lw == 2 and large.lw > small.lw


def test_pil_mode_for_non_ascii_labels():
    assert not is_ascii("人") and is_ascii("person")
    im = np.zeros((120, 160, 3), dtype=np.uint8)
    a = Annotator(im, example="人")
    assert a.pil
    a.box_label([20, 40, 100, 100], "person 0.5", color=(255, 0, 0))
    a.text([5, 5], "hello", txt_color=(0, 255, 0))
    out = a.result()
    assert out.shape == im.shape and out.any()
    assert (out[70, 20] == (255, 0, 0)).all()


def test_rectangle_and_text_cv2():
    im = np.zeros((100, 100, 3), dtype=np.uint8)
    a = Annotator(im, line_width=1)
    a.rectangle([10, 10, 50, 50], fill=(1, 2, 3))
    a.text([60, 60], "x", txt_color=(9, 9, 9))
    assert tuple(im[30, 30]) == (1, 2, 3) and (im[55:75, 55:80] == 9).any()


def test_non_contiguous_image_is_refused():
    im = np.zeros((50, 60, 3), dtype=np.uint8)[:, ::-1]
    with pytest.raises(ValueError, match="contiguous"):
        Annotator(im)
