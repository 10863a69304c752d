"""AutoShape: every accepted image form gives the detections of the same 8-bit picture; the rest is one UserError."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from models.autoshape import AutoShape, to_rgb_array
from models.loading import attempt_load
from utils.errors import UserError


@pytest.fixture(scope="module")
def model():
    from tests.conftest import shared_path

    return AutoShape(attempt_load(shared_path("weights/yolov5n.pt"), torch.device("cpu")))


@pytest.fixture(scope="module")
def bus(model) -> np.ndarray:
    from tests.conftest import shared_path

    return np.asarray(Image.open(shared_path("images/bus.jpg")).convert("RGB"))


def _names(det) -> list[str]:
    return sorted(det.pandas().xyxy[0]["name"])


def test_depths_and_layouts_of_one_picture_give_its_detections(model, bus):
    expected = _names(model(bus, size=320))
    assert expected.count("person") >= 3 and "bus" in expected
    forms = {
        "float numpy in [0, 1]": bus / 255.0,
        "float32 CHW tensor in [0, 1]": torch.from_numpy(bus.transpose(2, 0, 1) / 255.0).float(),
        "float numpy in [0, 255]": bus.astype(np.float32),
        "uint16 numpy": bus.astype(np.uint16) * 257,
        "int64 numpy": bus.astype(np.int64),
        "RGBA": np.dstack([bus, np.full(bus.shape[:2], 255, np.uint8)]),
        "PIL 16-bit grey": Image.fromarray((bus.mean(2) * 257).astype(np.uint16)),
    }
    for what, im in forms.items():
        got = _names(model(im, size=320))
        if what == "PIL 16-bit grey":
            assert got and "person" in got, what  # grey: fewer classes, still the people
        else:
            assert got == expected, (what, got, expected)


def test_normalization_rules():
    assert to_rgb_array(np.array([[0.0, 1.0]]), 0)[0].tolist() == [[[0, 0, 0], [255, 255, 255]]]
    assert to_rgb_array(np.array([[0, 65535]], np.uint16), 0)[0][0, :, 0].tolist() == [0, 255]
    assert to_rgb_array(np.full((2, 2, 2), 9, np.uint8), 0)[0].shape == (2, 2, 3)  # grey + alpha
    im, name = to_rgb_array(torch.full((1, 8, 8), 0.5, dtype=torch.bfloat16), 3)
    assert im.shape == (8, 8, 3) and im.dtype == np.uint8 and int(im[0, 0, 0]) == 128 and name == "image3.jpg"


@pytest.mark.parametrize("ims, kwargs, message", [
    ([], {}, "no images given"),
    ((), {}, "no images given"),
    (np.zeros((0, 0, 3), np.uint8), {}, "input 0 (image0) cannot be used: no pixels (shape (0, 0, 3))"),
    (np.zeros((0, 5), np.float32), {}, "no pixels"),
    (np.full((8, 8, 3), np.nan), {}, "NaN or infinity"),
    (np.full((8, 8, 3), -1.0), {}, "float pixel values span [-1, -1]"),
    (np.full((8, 8, 3), 300.0), {}, "expected [0, 1] or [0, 255]"),
    (np.full((8, 8, 3), 70000, np.int32), {}, "expected 8 or 16 bits"),
    (np.zeros((8, 8, 5), np.uint8), {}, "shape (8, 8, 5) is not an image"),
    (np.zeros((2, 8, 8, 3), np.uint8), {}, "is not an image"),
    (np.zeros((8, 8), bool), {}, "a boolean mask"),
    ([np.zeros((8, 8, 3), np.uint8), 5], {}, "input 1 is a int"),
    (np.zeros((8, 8, 3), np.uint8), {"size": 0}, "size=0 is invalid: give an integer in [1, 16384]"),
    (np.zeros((8, 8, 3), np.uint8), {"size": -320}, "size=-320 is invalid"),
    (np.zeros((8, 8, 3), np.uint8), {"size": (320, 320, 3)}, "size=(320, 320, 3) is invalid"),
    (np.zeros((8, 8, 3), np.uint8), {"size": 320.5}, "size=320.5 is invalid"),
    (np.zeros((8, 8, 3), np.uint8), {"size": 10**6}, "size=1000000 is invalid"),
])
def test_what_cannot_be_used_is_one_line(model, ims, kwargs, message):
    with pytest.raises(UserError) as e:
        model(ims, **kwargs)
    assert message in str(e.value) and "\n" not in str(e.value), str(e.value)
