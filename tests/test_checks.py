"""check_args: every numeric flag is refused out of range in one line naming it; image sizes round up to the stride."""

from __future__ import annotations

import subprocess
import sys

import pytest

from utils.checks import MAX_IMAGE_SIZE, check_args, check_freeze, check_img_size, check_imshow
from utils.errors import UserError

AUTOBATCH = {"batch_size": ((-1, "AutoBatch"),)}


@pytest.mark.parametrize("args, message", [
    ({"batch_size": 0}, "--batch-size 0 is invalid: it must be an integer >= 1"),
    ({"batch_size": -16}, "--batch-size -16 is invalid"),
    ({"batch_size": 2.5}, "--batch-size 2.5 is invalid"),
    ({"batch_size": True}, "--batch-size True is invalid"),
    ({"imgsz": 0}, "--imgsz 0 is invalid: it must be an integer in [1, 16384]"),
    ({"imgsz": -640}, "--imgsz -640 is invalid"),
    ({"imgsz": [640, 640, 3]}, "--imgsz takes 1 or 2 values (size, or height width), got 3: 640 640 3"),
    ({"imgsz": []}, "--imgsz takes 1 or 2 values"),
    ({"imgsz": [640, 0]}, "--imgsz 0 is invalid"),
    ({"imgsz": MAX_IMAGE_SIZE + 1}, f"--imgsz {MAX_IMAGE_SIZE + 1} is invalid"),
    ({"imgsz": "640"}, "--imgsz 640 is invalid"),
    ({"val_imgsz": 0}, "--val-imgsz 0 is invalid"),
    ({"max_det": 0}, "--max-det 0 is invalid: it must be an integer >= 1"),
    ({"line_thickness": -1}, "--line-thickness -1 is invalid: it must be an integer in [1, 1000] (or 0 for a width"),
    ({"line_thickness": 10**6}, "--line-thickness 1000000 is invalid"),
    ({"conf_thres": 1.5}, "--conf-thres 1.5 is invalid: it must be a number in [0, 1]"),
    ({"conf_thres": float("nan")}, "--conf-thres nan is invalid"),
    ({"iou_thres": -0.1}, "--iou-thres -0.1 is invalid"),
    ({"iou_thres": float("inf")}, "--iou-thres inf is invalid"),
    ({"workers": -1}, "--workers -1 is invalid: it must be an integer >= 0"),
    ({"epochs": 0}, "--epochs 0 is invalid: it must be an integer >= 1"),
    ({"vid_stride": 0}, "--vid-stride 0 is invalid"),
    ({"seed": -1}, "--seed -1 is invalid: it must be an integer in [0, 4294967295]"),
    ({"freeze": [0, -3]}, "--freeze -3 is invalid"),
    ({"classes": [0, -1]}, "--classes -1 is invalid"),
    ({"label_smoothing": 2.0}, "--label-smoothing 2.0 is invalid"),
    ({"patience": -5}, "--patience -5 is invalid"),
    ({"evolve": 0}, "--evolve 0 is invalid"),
])
def test_out_of_range_arguments_are_one_line_errors_naming_the_flag(args, message):
    with pytest.raises(UserError) as e:
        check_args({"epochs": 3, "name": "exp", **args}, special=AUTOBATCH)
    assert str(e.value).startswith(message) and "\n" not in str(e.value), str(e.value)


def test_valid_and_special_values_pass():
    check_args({"batch_size": -1, "imgsz": [640], "line_thickness": 0, "conf_thres": 0, "iou_thres": 1,
                "max_det": 1, "workers": 0, "classes": None, "evolve": None, "freeze": [0], "seed": 0,
                "weights": "x.pt", "save_period": -1}, special=AUTOBATCH)
    check_args({"imgsz": [480, 640], "conf_thres": 0.25})


def test_autobatch_is_train_only():
    with pytest.raises(UserError, match="--batch-size -1 is invalid: it must be an integer >= 1$"):
        check_args({"batch_size": -1})


def test_image_size_rounds_up_to_the_stride():
    assert check_img_size(33, 32) == 64
    assert check_img_size([33], 32, floor=64) == [64, 64]


def test_python_api_arguments_are_named_as_written():
    from utils.checks import Bound

    with pytest.raises(UserError, match=r"^classes=0 is invalid: it must be an integer in \[1, 100\]$"):
        check_args({"classes": 0}, bounds={"classes": Bound(1, 100)}, python=True)
    with pytest.raises(UserError, match=r"^imgsz takes 1 or 2 values"):
        check_args({"imgsz": [1, 2, 3]}, python=True)


def test_numpy_numbers_pass_as_python_callers_give_them():
    import numpy as np

    check_args({"max_det": np.int64(300), "classes": np.array([0, 5]), "conf_thres": np.float32(0.25),
                "imgsz": (np.int32(320),)}, python=True)
    with pytest.raises(UserError, match=r"^classes=-1 is invalid"):
        check_args({"classes": np.array([0, -1])}, python=True)


@pytest.mark.parametrize("freeze, message", [
    ([30], "--freeze 30 freezes the first 30 layers, but the model has 25 (0-24) and nothing would be left to train; "
           "give at most 24"),
    ([25], "--freeze 25 freezes the first 25 layers, but the model has 25"),
    ([3, 40], "--freeze 3 40: layer 40 is beyond the model's 25 layers (0-24)"),
    (list(range(25)), "freezes all 25 layers of the model; nothing would be left to train"),
])
def test_freeze_beyond_the_model_is_one_line_with_the_layer_count(freeze, message):
    with pytest.raises(UserError) as e:
        check_freeze(freeze, 25)
    assert message in str(e.value) and "\n" not in str(e.value)


def test_freeze_within_the_model_passes():
    for freeze in ([0], [10], [24], [0, 1, 2], [24, 23]):
        check_freeze(freeze, 25)


def test_no_display_means_no_window_and_one_warning(monkeypatch, log_lines):
    """With no display the GUI build of OpenCV aborts the process, so the check must not call imshow here at all."""
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("probed without a display"))
    assert check_imshow(warn=True) is False
    assert log_lines == ["WARNING ⚠️ --view-img is ignored: no display (DISPLAY and WAYLAND_DISPLAY are unset)"]


def test_a_display_that_refuses_windows_is_probed_in_a_child(monkeypatch, log_lines):
    """DISPLAY set but unusable (or headless OpenCV): the child process fails, this one warns and goes on."""
    monkeypatch.setenv("DISPLAY", ":12345")
    assert check_imshow(warn=True) is False
    assert log_lines == ["WARNING ⚠️ --view-img is ignored: OpenCV cannot open a window (headless OpenCV, or the "
                         "display refused it)"]
