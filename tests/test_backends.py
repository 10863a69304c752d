"""DetectMultiBackend: format detection, metadata and name fall-backs, fixed-shape checks, OpenCV DNN."""

from __future__ import annotations

import warnings

import onnx
import pytest
import torch

import detect
import export
from models.backends import DetectMultiBackend, model_type, parse_names
from tests.conftest import shared_path
from tests.detect_helpers import close, copy_weights
from utils.errors import UserError

CPU = torch.device("cpu")


@pytest.mark.parametrize("path, kind", [
    ("best.pt", "pt"), ("a/best.torchscript", "jit"), ("best.onnx", "onnx"),
    ("best_openvino_model", "openvino"), ("best_openvino_model/best.xml", "openvino"),
    ("best_saved_model", "saved_model"), ("best.pb", "pb"), ("best-fp32.tflite", "tflite"),
    ("best-int8_edgetpu.tflite", "edgetpu"), ("best_web_model", "tfjs"), ("best_paddle_model", "paddle"),
    ("best_ncnn_model", "ncnn"), ("best.mlpackage", "coreml"), ("best.mlmodel", "coreml"), ("best.engine", "engine"),
])
def test_model_type(path, kind):
    assert model_type(path) == kind


def test_unsupported_format_is_user_error():
    with pytest.raises(UserError, match="not supported"):
        model_type("best.h5")


def test_parse_names_from_any_metadata_form():
    assert parse_names('{"0": "person", "1": "bus"}') == {0: "person", 1: "bus"}
    assert parse_names("{0: 'person', 1: 'bus'}") == {0: "person", 1: "bus"}  # YOLOv5's str(dict) metadata
    assert parse_names(["person", "bus"]) == {0: "person", 1: "bus"}


@pytest.fixture(scope="module")
def fixed_onnx(tmp_path_factory):
    """yolov5n exported at a fixed 64x64, batch 1, and its PyTorch model."""
    from tests.conftest import shared_path

    w = copy_weights(shared_path("weights/yolov5n.pt"), tmp_path_factory.mktemp("backends"))
    (f,) = export.run(weights=w, imgsz=(64,), include=("onnx",))
    return w, f, DetectMultiBackend(w, CPU)


def test_pt_backend_reads_stride_and_names(fixed_onnx):
    _, _, pt = fixed_onnx
    assert pt.pt and not pt.onnx and pt.stride == 32 and pt.names[0] == "person" and pt.input_shape is None
    y = pt(torch.zeros(1, 3, 64, 64))
    assert isinstance(y, list) and y[0].shape == (1, 252, 85)  # (predictions, raw head outputs) like YOLOv5


def test_onnx_backend_checks_fixed_input(fixed_onnx):
    _, f, _ = fixed_onnx
    m = DetectMultiBackend(f, CPU)
    assert m.onnx and m.stride == 32 and m.names[5] == "bus" and m.input_shape == (1, 3, 64, 64)
    m.check_input_size((64, 64), 1)
    with pytest.raises(UserError, match="exported for batch size 1"):
        m.check_input_size((64, 64), 8)


def test_opencv_dnn_runs_fixed_onnx(fixed_onnx):
    _, f, pt = fixed_onnx
    m = DetectMultiBackend(f, CPU, dnn=True)
    x = torch.rand(1, 3, 64, 64)
    assert close(m(x), pt(x)[0], tol=1e-3)


def test_names_fall_back_to_data_yaml_then_generic(fixed_onnx, tmp_path):
    _, f, _ = fixed_onnx
    model = onnx.load(str(f))
    del model.metadata_props[:]
    bare = tmp_path / "bare.onnx"
    onnx.save(model, str(bare))
    data = tmp_path / "d.yaml"
    data.write_text("names: [cat, dog]\n")
    assert DetectMultiBackend(bare, CPU, data=data).names == {0: "cat", 1: "dog"}
    m = DetectMultiBackend(bare, CPU)
    assert m.names[3] == "class3" and m.stride == 32


def test_missing_export_is_user_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        DetectMultiBackend(tmp_path / "gone.onnx", CPU)
    with pytest.raises(UserError, match="no .xml"):
        (tmp_path / "x_openvino_model").mkdir()
        DetectMultiBackend(tmp_path / "x_openvino_model", CPU)


def test_onnx_metadata_is_yolov5s_python_literal(fixed_onnx):
    import ast

    _, f, _ = fixed_onnx
    meta = {p.key: p.value for p in onnx.load(str(f)).metadata_props}
    assert int(meta["stride"]) == 32 and ast.literal_eval(meta["names"])[5] == "bus"  # YOLOv5's own parsing


def test_older_json_onnx_metadata_still_read(fixed_onnx, tmp_path):
    _, f, _ = fixed_onnx
    model = onnx.load(str(f))
    for p in model.metadata_props:
        if p.key == "names":
            p.value = '{"0": "cat", "1": "dog"}'  # what this project wrote before YOLOv5's form
    old = tmp_path / "old.onnx"
    onnx.save(model, str(old))
    assert DetectMultiBackend(old, CPU).names == {0: "cat", 1: "dog"}


@pytest.mark.parametrize("name, message", [("m.engine", "NVIDIA GPU"), ("m-int8_edgetpu.tflite", "Coral"),
                                           ("m_web_model", "browser")])
def test_unrunnable_formats_say_why(tmp_path, name, message):
    (tmp_path / name).touch()
    with pytest.raises(UserError, match=message):
        DetectMultiBackend(tmp_path / name, CPU)


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
def test_fixed_shape_exports_letterbox_other_sizes_to_their_own(fixed_onnx, fmt, tmp_path, log_lines):
    # YOLOv5 pads to the export's shape: a TorchScript traced at 64x64 used to fail inside its Detect grids.
    w, f, _ = fixed_onnx
    if fmt == "torchscript":
        (f,) = export.run(weights=w, imgsz=(64,), include=("torchscript",))
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # torch.jit.load's deprecation notice stays silent
        m = DetectMultiBackend(f, CPU)
    assert m.input_shape == (1, 3, 64, 64) and m.export_imgsz((128, 96)) == (64, 64)
    assert any("exported for 64x64 input: images are letterboxed to 64x64" in line for line in log_lines)
    for size in (128, 32):
        out = detect.run(weights=f, source=shared_path("images/bus.jpg"), imgsz=(size, size), project=tmp_path,
                         name=f"{fmt}{size}", save_txt=True, nosave=True)
        assert out.is_dir()
