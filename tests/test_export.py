"""export.py: TorchScript / ONNX / OpenVINO files beside the weights, carrying metadata, equal to PyTorch."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import onnx
import pytest
import torch

import export
from models.backends import DetectMultiBackend
from tests.detect_helpers import close, copy_weights
from utils.errors import UserError

CPU = torch.device("cpu")
IMGSZ = 128
HAS_OPENVINO = importlib.util.find_spec("openvino") is not None


def export_dynamic(src, tmp_path_factory, include) -> tuple:
    """(weights copy, exported files, the PyTorch model to compare with)."""
    w = copy_weights(src, tmp_path_factory.mktemp("export"))
    files = export.run(weights=w, imgsz=(IMGSZ,), include=include, dynamic=True)
    return w, files, DetectMultiBackend(w, CPU)


@pytest.fixture(scope="module")
def yolov5n_exports(tmp_path_factory):
    from tests.conftest import shared_path

    include = ("torchscript", "onnx", "openvino") if HAS_OPENVINO else ("torchscript", "onnx")
    return export_dynamic(shared_path("weights/yolov5n.pt"), tmp_path_factory, include)


@pytest.fixture(scope="module")
def ghost_exports(tmp_path_factory):
    from tests.conftest import shared_path

    include = ("onnx", "openvino") if HAS_OPENVINO else ("onnx",)
    return export_dynamic(shared_path("weights/yolov5n-ghostdyn-seedpatch.pt"), tmp_path_factory, include)


def assert_matches_pytorch(ref, exported, shapes=((1, IMGSZ, IMGSZ), (4, IMGSZ, IMGSZ), (2, 96, 160))):
    for f in exported:
        m = DetectMultiBackend(f, CPU)
        for bs, h, w in shapes:
            x = torch.rand(bs, 3, h, w, generator=torch.Generator().manual_seed(bs))
            y0, y = ref(x)[0], m(x)
            assert y.shape == y0.shape, f
            assert close(y, y0), f"{f} batch {bs}: max diff {(y - y0).abs().max():.2e}"


def test_files_written_beside_weights(yolov5n_exports):
    w, files, _ = yolov5n_exports
    stem = w.with_suffix("")
    expected = [f"{stem}.torchscript", f"{stem}.onnx"] + ([f"{stem}_openvino_model"] if HAS_OPENVINO else [])
    assert files == expected
    if HAS_OPENVINO:
        assert {p.suffix for p in (w.parent / f"{w.stem}_openvino_model").iterdir()} == {".xml", ".bin", ".yaml"}


def test_metadata_stride_and_names(yolov5n_exports):
    w, _, _ = yolov5n_exports
    meta = {p.key: p.value for p in onnx.load(str(w.with_suffix(".onnx"))).metadata_props}
    assert meta["stride"] == "32"
    assert json.loads(meta["names"])["0"] == "person" and len(json.loads(meta["names"])) == 80
    extra = {"config.txt": ""}
    torch.jit.load(str(w.with_suffix(".torchscript")), _extra_files=extra)
    config = json.loads(extra["config.txt"])
    assert config["stride"] == 32 and config["names"]["5"] == "bus"


def test_yolov5n_exports_equal_pytorch_any_batch(yolov5n_exports):
    _, files, ref = yolov5n_exports
    assert_matches_pytorch(ref, files)


def test_ghost_model_exports_equal_pytorch_any_batch(ghost_exports):
    _, files, ref = ghost_exports
    assert_matches_pytorch(ref, files)


def test_onnx_dynamic_axes(ghost_exports):
    w, _, _ = ghost_exports
    model = onnx.load(str(w.with_suffix(".onnx")))
    dims = [d.dim_param or d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ["batch", 3, "height", "width"]
    assert model.graph.output[0].name == "output0"


def test_fixed_shape_export_records_its_input(tmp_path, yolov5n_pt):
    w = copy_weights(yolov5n_pt, tmp_path)
    simplify = importlib.util.find_spec("onnxslim") is not None
    (f,) = export.run(weights=w, imgsz=(64, 96), batch_size=2, include=("onnx",), simplify=simplify)
    m = DetectMultiBackend(f, CPU)
    assert m.input_shape == (2, 3, 64, 96)
    with pytest.raises(UserError, match="exported for 64x96"):
        m.check_input_size((64, 64), 2)
    assert_matches_pytorch(DetectMultiBackend(w, CPU), [f], shapes=((2, 64, 96),))


@pytest.mark.parametrize("kwargs, message", [
    ({"include": ("tflite",)}, "invalid --include"),
    ({"include": ("onnx",), "half": True}, "--half only compatible with GPU"),
])
def test_bad_options_are_user_errors(tmp_path, yolov5n_pt, kwargs, message):
    with pytest.raises(UserError, match=message):
        export.run(weights=copy_weights(yolov5n_pt, tmp_path), **kwargs)


def test_cli_exit_code_on_user_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        export.main(export.parse_opt(["--weights", str(tmp_path / "missing.pt"), "--include", "onnx"]))
    assert e.value.code == 2
    assert "ERROR:" in capsys.readouterr().err


@pytest.mark.skipif(not HAS_OPENVINO or importlib.util.find_spec("nncf") is None, reason="needs openvino and nncf")
def test_openvino_int8_calibrated_on_data(tmp_path, yolov5n_pt):
    w = copy_weights(yolov5n_pt, tmp_path)
    (_, f) = export.run(weights=w, imgsz=(64,), include=("openvino",), int8=True, data="coco8.yaml")
    m = DetectMultiBackend(f, CPU)
    assert m.names[0] == "person" and m(torch.rand(1, 3, 64, 64)).shape == (1, 252, 85)
    assert any(p.suffix == ".bin" and p.stat().st_size < 3e6 for p in Path(f).iterdir())  # int8, not 7 MB fp32


def test_optimize_needs_xnnpack(tmp_path, yolov5n_pt):
    from torch.backends import xnnpack

    w = copy_weights(yolov5n_pt, tmp_path)
    if not xnnpack.enabled:
        with pytest.raises(UserError, match="XNNPACK"):
            export.run(weights=w, imgsz=(64,), include=("torchscript",), optimize=True)
    else:
        (f,) = export.run(weights=w, imgsz=(64,), include=("torchscript",), optimize=True)
        assert Path(f).stat().st_size > 1e6
