"""Python API: torch.hub.load(..., source='local') and the Detections it returns for any kind of image input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from tests.detect_helpers import ROOT, close, copy_weights
from models.checkpoints import load_checkpoint
from utils.errors import UserError


@pytest.fixture(scope="module")
def model():
    from tests.conftest import shared_path

    return torch.hub.load(str(ROOT), "custom", path=str(shared_path("weights/yolov5n.pt")), source="local")


def test_custom_on_bus_pandas(model, bus_jpg):
    results = model(str(bus_jpg))
    df = results.pandas().xyxy[0]
    assert list(df.columns) == ["xmin", "ymin", "xmax", "ymax", "confidence", "class", "name"]
    assert sorted(df["name"]) == ["bus", "person", "person", "person", "person"]
    assert (df["confidence"] >= model.conf).all() and (df["xmax"] <= 810).all()
    assert str(results).startswith("image 1/1: 1080x810 4 persons, 1 bus\nSpeed: ")
    assert len(results.pandas().xywhn[0]) == 5 and float(results.xyxyn[0][:, :4].max()) <= 1


def test_every_input_kind_single_or_list(model, bus_jpg, zidane_jpg):
    rgb = np.asarray(Image.open(zidane_jpg))
    inputs = [zidane_jpg, Image.open(zidane_jpg), rgb, torch.from_numpy(rgb.transpose(2, 0, 1).copy())]
    results = model(inputs, size=320)
    assert len(results) == 4 and results.files[0] == "zidane.jpg" and results.files[2] == "image2.jpg"
    counts = [len(d) for d in results.xyxy]
    assert counts[0] > 0 and len(set(counts)) == 1  # the same picture gives the same boxes in every form
    raw = model(torch.zeros(1, 3, 64, 64))  # a batch tensor gets the decoded predictions alone, as in YOLOv5
    assert isinstance(raw, torch.Tensor) and raw.shape == (1, 252, 85)


def test_save_crop_render(model, bus_jpg, tmp_path):
    results = model(bus_jpg, size=320)
    save_dir = results.save(save_dir=tmp_path / "exp")
    assert (save_dir / "bus.jpg").is_file()
    crops = results.crop(save_dir=tmp_path / "exp")
    assert len(crops) == len(results.xyxy[0]) and {"box", "conf", "cls", "label", "im"} <= set(crops[0])
    assert list((tmp_path / "exp2" / "crops").iterdir())
    before = results.ims[0].copy()
    rendered = results.render()
    assert rendered[0].shape == before.shape and (rendered[0] != before).any()


def test_named_model_from_current_folder(yolov5n_pt, tmp_path, monkeypatch):
    copy_weights(yolov5n_pt, tmp_path)
    monkeypatch.chdir(tmp_path)
    m = torch.hub.load(str(ROOT), "yolov5n", source="local", device="cpu")
    assert m.names[0] == "person" and m.stride == 32


def test_unreadable_input_is_user_error(model, tmp_path):
    (tmp_path / "bad.jpg").write_text("no image")
    with pytest.raises(UserError, match="bad.jpg"):
        model(str(tmp_path / "bad.jpg"))


def test_new_class_count_keeps_matching_weights(yolov5n_pt, tmp_path, monkeypatch):
    copy_weights(yolov5n_pt, tmp_path)
    monkeypatch.chdir(tmp_path)
    m = torch.hub.load(str(ROOT), "yolov5n", source="local", classes=3, autoshape=False, device="cpu")
    assert m.model[-1].nc == 3 and m.model[-1].m[0].out_channels == 3 * 8
    ref = load_checkpoint(yolov5n_pt)["model"].float().state_dict()
    assert torch.equal(m.state_dict()["model.0.conv.weight"], ref["model.0.conv.weight"])


@pytest.mark.parametrize("kwargs, message", [({"classes": 0}, "classes=0 is invalid"),
                                             ({"channels": -3}, "channels=-3 is invalid")])
def test_bad_model_arguments_are_one_line(kwargs, message):
    with pytest.raises(UserError, match=message):
        torch.hub.load(str(ROOT), "yolov5n", source="local", pretrained=False, **kwargs)


def test_yolov5_ci_step_traces_the_hub_wrapper(yolov5n_pt, tmp_path, monkeypatch):
    """YOLOv5's CI, unchanged: load by bare name from the working folder, call on a tensor, torch.jit.trace it."""
    copy_weights(yolov5n_pt, tmp_path, "yolov5n.pt")
    monkeypatch.chdir(tmp_path)
    model = torch.hub.load(str(ROOT), "custom", path="yolov5n", source="local")
    im = torch.zeros(1, 3, 64, 64)
    y = model(im)
    traced = torch.jit.trace(model, [im])
    assert isinstance(y, torch.Tensor) and y.shape == (1, 252, 85) and close(traced(im), y)
