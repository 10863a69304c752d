"""export.py: TorchScript / ONNX / OpenVINO files beside the weights, carrying metadata, equal to PyTorch."""

from __future__ import annotations

import ast
import importlib.util
import json
import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

import export
from models.backends import DetectMultiBackend
from tests.detect_helpers import close, copy_weights
from tests.tfjs_helpers import needs_tfjs_node, run_tfjs
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


def assert_matches_pytorch(ref, exported, shapes=((1, IMGSZ, IMGSZ), (4, IMGSZ, IMGSZ), (2, 96, 160)), tol=1e-4):
    for f in exported:
        m = DetectMultiBackend(f, CPU)
        for bs, h, w in shapes:
            x = torch.rand(bs, 3, h, w, generator=torch.Generator().manual_seed(bs))
            y0, y = ref(x)[0], m(x)
            assert y.shape == y0.shape, f
            assert close(y, y0, tol), f"{f} batch {bs}: max diff {(y - y0).abs().max():.2e}"


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
    names = ast.literal_eval(meta["names"])  # as YOLOv5's DetectMultiBackend reads it
    assert names[0] == "person" and len(names) == 80
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


def test_run_leaves_warning_filters_as_it_found_them(tmp_path, yolov5n_pt):
    """The exporters' notes are silenced for the export only: the caller's warning filters come back unchanged."""
    before = list(warnings.filters)
    export.run(weights=copy_weights(yolov5n_pt, tmp_path), imgsz=(64,), include=("torchscript",))
    assert warnings.filters == before


@pytest.mark.parametrize("kwargs, message", [
    ({"include": ("tflite2",)}, "invalid --include"),
    ({"include": ("onnx",), "half": True}, "--half only compatible with GPU"),
    ({"imgsz": (64, 0)}, "imgsz=0 is invalid"),  # run() from Python checks like the CLI
    ({"iou_thres": 2.0}, "iou_thres=2.0 is invalid"),
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


def test_optimize_needs_xnnpack(tmp_path, yolov5n_pt, log_lines):
    from torch.backends import xnnpack

    w = copy_weights(yolov5n_pt, tmp_path)
    if not xnnpack.enabled:
        with pytest.raises(UserError, match="export failed for TorchScript"):
            export.run(weights=w, imgsz=(64,), include=("torchscript",), optimize=True)
        assert any("XNNPACK" in line for line in log_lines)
    else:
        (f,) = export.run(weights=w, imgsz=(64,), include=("torchscript",), optimize=True)
        assert Path(f).stat().st_size > 1e6


def missing(*packages: str) -> list[str]:
    """pip names of the packages (import name = pip name with - as _ unless given as 'module=pip') not installed."""
    pairs = [p.split("=") if "=" in p else (p.replace("-", "_"), p) for p in packages]
    return [pip for module, pip in pairs if importlib.util.find_spec(module) is None]


def needs(*packages: str):
    """Skip, naming the missing packages (see requirements-export.txt)."""
    gone = missing(*packages)
    return pytest.mark.skipif(bool(gone), reason=f"needs {', '.join(gone)} (pip install -r requirements-export.txt)")


TF_PACKAGES = ("tensorflow", "onnx2tf", "onnxslim", "ai-edge-litert", "tf-keras", "onnx_graphsurgeon=onnx-graphsurgeon")


def test_failed_format_leaves_no_file_and_fails_run(tmp_path, yolov5n_pt, log_lines):
    w = copy_weights(yolov5n_pt, tmp_path)
    with pytest.raises(SystemExit) as e:
        export.main(export.parse_opt(["--weights", str(w), "--imgsz", "64", "--include", "torchscript", "onnx",
                                      "engine", "--opset", "99"]))
    assert e.value.code != 0
    assert w.with_suffix(".torchscript").exists() and not w.with_suffix(".onnx").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial file left
    failures = [line for line in log_lines if "export failure" in line]
    assert len(failures) == 2 and any("opset" in line.lower() for line in failures)  # TensorRT, then ONNX
    assert any("NVIDIA GPU" in line for line in failures)


@pytest.fixture(scope="module")
def ghost_ncnn(tmp_path_factory):
    from tests.conftest import shared_path

    w = copy_weights(shared_path("weights/yolov5n-ghostdyn-seedpatch.pt"), tmp_path_factory.mktemp("ncnn"))
    return w, export.run(weights=w, imgsz=(64, 96), include=("ncnn",))


@needs("pnnx", "ncnn")
def test_ghost_model_ncnn_equals_pytorch(ghost_ncnn):
    w, (f,) = ghost_ncnn
    m = DetectMultiBackend(f, CPU)
    assert m.ncnn and m.names[5] == "bus" and m.stride == 32 and m.input_shape == (1, 3, 64, 96)
    # fp32 storage (the runner turns ncnn's fp16 default off): 1.7e-4 px max, 1.5e-6 of the box range (fp16: 4e-2)
    assert_matches_pytorch(DetectMultiBackend(w, CPU), [f], shapes=((1, 64, 96),), tol=1e-3)


@needs("pnnx", "ncnn")
def test_ncnn_int8_is_one_failure_line(tmp_path, yolov5n_pt, log_lines):
    with pytest.raises(UserError, match="export failed for NCNN"):
        export.run(weights=copy_weights(yolov5n_pt, tmp_path), imgsz=(64,), include=("ncnn",), int8=True,
                   data="coco8.yaml")
    assert any("ncnn2int8" in line for line in log_lines) and not list(tmp_path.glob("*ncnn_model"))


@pytest.fixture(scope="module")
def tf_exports(tmp_path_factory):
    """yolov5n at 64 px: SavedModel, GraphDef and INT8 TFLite (calibrated on coco8) from one onnx2tf run."""
    from tests.conftest import shared_path

    w = copy_weights(shared_path("weights/yolov5n.pt"), tmp_path_factory.mktemp("tf"))
    return w, export.run(weights=w, imgsz=(64,), include=("saved_model", "pb", "tflite"), int8=True, data="coco8.yaml")


@needs(*TF_PACKAGES)
def test_tensorflow_family_equals_pytorch_with_metadata(tf_exports):
    w, files = tf_exports
    stem = w.with_suffix("")
    assert files == [f"{stem}_saved_model", f"{stem}.pb", f"{stem}-int8.tflite"]
    for f in files:
        m = DetectMultiBackend(f, CPU)
        assert m.names[5] == "bus" and m.stride == 32 and m.input_shape == (1, 3, 64, 64), f
    assert_matches_pytorch(DetectMultiBackend(w, CPU), files[:2], shapes=((1, 64, 64),))


@needs(*TF_PACKAGES)
def test_tflite_metadata_as_yolov5_reads_it(tf_exports):
    import zipfile

    _, files = tf_exports
    with zipfile.ZipFile(files[-1]) as z:
        meta = ast.literal_eval(z.read(z.namelist()[0]).decode("utf-8"))
    assert meta["stride"] == 32 and meta["names"][0] == "person"


def bus_at(bus_jpg: Path, size: int) -> torch.Tensor:
    import cv2

    im = cv2.resize(cv2.imread(str(bus_jpg)), (size, size))[:, :, ::-1].transpose(2, 0, 1).copy()
    return torch.from_numpy(im)[None].float() / 255


@needs(*TF_PACKAGES)
def test_tflite_int8_calibrated_close_to_fp32(tf_exports, bus_jpg):
    w, files = tf_exports
    int8 = files[-1]
    assert Path(int8).stat().st_size < 3e6  # int8 weights, not the 7 MB of fp32
    x = bus_at(bus_jpg, 64)
    y0, y = DetectMultiBackend(w, CPU)(x)[0], DetectMultiBackend(int8, CPU)(x)
    assert y.shape == y0.shape == (1, 252, 85)
    assert (y[..., 4] - y0[..., 4]).abs().mean() < 0.02  # objectness: measured 0.010


@needs(*TF_PACKAGES)
def test_tflite_int8_boxes_close_to_fp32(tf_exports, bus_jpg):
    w, files = tf_exports
    x = bus_at(bus_jpg, 64)
    y0, y = DetectMultiBackend(w, CPU)(x)[0], DetectMultiBackend(files[-1], CPU)(x)
    assert (y[..., :4] - y0[..., :4]).abs().mean() < 2  # pixels: measured 0.94 (26 while Detect decoded in pixels)


@needs(*TF_PACKAGES)
def test_tflite_int8_keeps_detect_head_in_float(tf_exports):
    """The backbone's convolutions run in INT8; Detect's output convolutions and its sigmoid scores stay float."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(tf_exports[1][-1])
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    ops = [o for o in interpreter._get_ops_details() if o["op_name"] in ("CONV_2D", "LOGISTIC")]
    outputs = [tensors[o["outputs"][0]] for o in ops]
    head = [t["dtype"] for t in outputs if t["shape"][-1] == 255]  # 3 anchors x 85: Detect's maps and scores
    body = [t["dtype"] for t in outputs if t["shape"][-1] != 255]
    assert head == [np.float32] * 6
    assert body.count(np.int8) == len(body) > 50


@pytest.fixture(scope="module")
def ghost_tf_exports(tmp_path_factory):
    """The Ghost model at 64 px: SavedModel, fp32 TFLite and TF.js from one onnx2tf run."""
    from tests.conftest import shared_path

    w = copy_weights(shared_path("weights/yolov5n-ghostdyn-seedpatch.pt"), tmp_path_factory.mktemp("ghost_tf"))
    return w, export.run(weights=w, imgsz=(64,), include=("tflite", "tfjs"))


@needs(*TF_PACKAGES)
def test_ghost_model_tensorflow_equals_pytorch(ghost_tf_exports, bus_jpg):
    w, files = ghost_tf_exports
    files = [f for f in files if not f.endswith("_web_model")]  # TF.js runs in Node.js: the next test
    ref = DetectMultiBackend(w, CPU)
    assert_matches_pytorch(ref, files, shapes=((1, 64, 64),), tol=1e-3)
    x = bus_at(bus_jpg, 64)
    for f in files:
        assert close(DetectMultiBackend(f, CPU)(x), ref(x)[0], 1e-3), f


@needs(*TF_PACKAGES)
@needs_tfjs_node
def test_ghost_model_tfjs_equals_pytorch_in_node(ghost_tf_exports, bus_jpg, tmp_path):
    """TF.js itself (Node.js) runs the web model: PyTorch's outputs within 1e-3, boxes normalized as in TFLite."""
    w, files = ghost_tf_exports
    (web,) = [f for f in files if f.endswith("_web_model")]
    meta = json.loads((Path(web) / "model.json").read_text())["userDefinedMetadata"]
    assert meta["stride"] == 32 and meta["names"]["5"] == "bus"
    x = bus_at(bus_jpg, 64)
    y = torch.from_numpy(run_tfjs(web, x.permute(0, 2, 3, 1).numpy(), tmp_path))
    y[..., :4] *= 64
    assert close(y, DetectMultiBackend(w, CPU)(x)[0], 1e-3)


@needs("coremltools")
def test_ghost_model_coreml_structure(tmp_path, bus_jpg):
    import coremltools as ct

    from tests.conftest import shared_path

    w = copy_weights(shared_path("weights/yolov5n-ghostdyn-seedpatch.pt"), tmp_path)
    (f,) = export.run(weights=w, imgsz=(64, 96), include=("coreml",))
    assert f.endswith(".mlpackage")
    m = DetectMultiBackend(f, CPU)  # read on Linux; prediction needs macOS
    assert m.coreml and m.input_shape == (1, 3, 64, 96) and m.stride == 32 and m.names[5] == "bus"
    (out,) = ct.utils.load_spec(f).description.output
    assert list(out.type.multiArrayType.shape) in ([], [1, 378, 85])  # ML programs may leave output shapes open


def test_missing_package_is_named_in_one_line(tmp_path, yolov5n_pt, log_lines, monkeypatch):
    import utils.export.outputs as outputs

    real = outputs.importlib.import_module
    monkeypatch.setattr(outputs.importlib, "import_module",
                        lambda name: (_ for _ in ()).throw(ImportError(name)) if name == "pnnx" else real(name))
    w = copy_weights(yolov5n_pt, tmp_path)
    with pytest.raises(UserError, match="export failed for NCNN"):
        export.run(weights=w, imgsz=(64,), include=("torchscript", "ncnn"))
    assert [line for line in log_lines if "export failure" in line and "pip install pnnx" in line]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["yolov5n.pt", "yolov5n.torchscript"]


def test_int8_calibration_reads_list_files_relative_to_the_list(tmp_path, monkeypatch):
    """A data YAML whose val is a .txt list (lines relative to the list's folder, as data/splits/ holds them) gives
    its images to INT8 calibration from any working directory (onnx2tf runs in a folder of its own)."""
    import shutil

    from utils.files import ROOT

    (tmp_path / "images").mkdir()
    (tmp_path / "lists").mkdir()
    for f in sorted((ROOT / "data/coco8/images/val").glob("*.jpg"))[:2]:
        shutil.copy(f, tmp_path / "images")
    (tmp_path / "lists/val.txt").write_text("".join(f"../images/{f.name}\n" for f in (tmp_path / "images").iterdir()))
    data = tmp_path / "data.yaml"
    data.write_text(f"path: {tmp_path}\ntrain: lists/val.txt\nval: lists/val.txt\nnames:\n  0: person\n")
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    batches = list(export.calibration_images(data, [64, 64], 32)())
    assert len(batches) == 2 and all(b.shape == (1, 3, 64, 64) and b.dtype == "float32" for b in batches)


def test_weights_in_a_read_only_folder_are_refused_before_converting(yolov5n_pt, tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    w = copy_weights(yolov5n_pt, folder)
    folder.chmod(0o555)
    try:
        with pytest.raises(UserError, match=f"{folder} is read-only and exports are written beside the weights"):
            export.run(weights=w, include=["torchscript"], imgsz=[64])
        assert sorted(p.name for p in folder.iterdir()) == ["yolov5n.pt"]
    finally:
        folder.chmod(0o755)
