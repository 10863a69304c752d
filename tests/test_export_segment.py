"""export.py and DetectMultiBackend with segmentation models: TorchScript, ONNX (static and --dynamic, outputs
output0 and output1 = protos) and OpenVINO give PyTorch's rows, prototypes, boxes and masks; other formats refuse in
one line."""

from __future__ import annotations

import importlib.util

import onnx
import pytest
import torch

import export
from models.backends import DetectMultiBackend
from tests.conftest import shared_path
from tests.detect_helpers import close, copy_weights
from utils.boxes import xywh2xyxy
from utils.errors import UserError
from utils.inference.nms import non_max_suppression
from utils.masks import process_mask

CPU = torch.device("cpu")
IMGSZ = 160
HAS_OPENVINO = importlib.util.find_spec("openvino") is not None
WITH_OPENVINO = ("openvino",) if HAS_OPENVINO else ()


def _export(name: str, tmp_path_factory, include: tuple, dynamic: bool) -> tuple:
    """(PyTorch backend of a weights copy, the files exported beside it)."""
    w = copy_weights(shared_path(f"weights/{name}"), tmp_path_factory.mktemp("export-seg"))
    files = export.run(weights=w, imgsz=(IMGSZ,), include=include, dynamic=dynamic)
    return DetectMultiBackend(w, CPU), files


@pytest.fixture(scope="module")
def static_exports(tmp_path_factory):
    return _export("yolov5n-seg-coco128seg.pt", tmp_path_factory, ("torchscript", "onnx", *WITH_OPENVINO), False)


@pytest.fixture(scope="module")
def dynamic_exports(tmp_path_factory):
    return _export("yolov5n-seg-ghostdyn-seedpatch.pt", tmp_path_factory, ("onnx", *WITH_OPENVINO), True)


def _image(bs: int, h: int, w: int) -> torch.Tensor:
    """A real photo (bus.jpg) resized, so that the barely trained models find objects and masks to compare."""
    import cv2

    im = cv2.imread(str(shared_path("images/bus.jpg")))[..., ::-1]
    x = torch.from_numpy(cv2.resize(im, (w, h)).copy()).permute(2, 0, 1).float() / 255
    return x[None].repeat(bs, 1, 1, 1)


def _top_masks(pred: torch.Tensor, protos: torch.Tensor, rows: torch.Tensor, shape: tuple) -> torch.Tensor:
    """Binary masks at the input size of the given rows of one image (the barely trained Ghost model has no row
    above NMS thresholds: its most confident rows are compared instead), as segment/predict.py makes them."""
    return process_mask(protos, pred[rows, -32:], xywh2xyxy(pred[rows, :4]), shape, upsample=True)


def assert_seg_parity(ref: DetectMultiBackend, files: list[str], shapes: tuple) -> None:
    """Each export gives [rows, protos] equal to PyTorch's, the same NMS detections, and masks of its 20 most
    confident rows that differ from PyTorch's in under 0.1% of the pixels."""
    for f in files:
        m = DetectMultiBackend(f, CPU)
        for bs, h, w in shapes:
            x = _image(bs, h, w)
            with torch.no_grad():
                y0, y = ref(x), m(x)
            assert len(y0) == len(y) == 2, f
            assert y[0].shape == y0[0].shape and y[1].shape == y0[1].shape == (bs, 32, h // 4, w // 4), f
            assert close(y[0], y0[0], 1e-3), f"{f}: rows differ by {(y[0] - y0[0]).abs().max():.2e}"
            assert close(y[1], y0[1], 1e-3), f"{f}: protos differ by {(y[1] - y0[1]).abs().max():.2e}"
            dets = (non_max_suppression(p[0], 0.05, 0.45, nm=32) for p in (y0, y))
            for d0, d in zip(*dets):
                assert d.shape == d0.shape and close(d[:, :6], d0[:, :6], 1e-3), f
            for i in range(bs):
                rows = y0[0][i, :, 4].topk(20).indices
                m0, mk = (_top_masks(p[0][i], p[1][i], rows, (h, w)) for p in (y0, y))
                assert m0.any() and (m0 != mk).float().mean() < 1e-3, f"{f}: {(m0 != mk).float().mean():.2e} differ"


def test_static_exports_equal_pytorch(static_exports):
    ref, files = static_exports
    assert [f.rsplit(".", 1)[-1] for f in files[:2]] == ["torchscript", "onnx"] and len(files) == 2 + len(WITH_OPENVINO)
    assert_seg_parity(ref, files, ((1, IMGSZ, IMGSZ),))


def test_dynamic_exports_equal_pytorch_any_batch_and_size(dynamic_exports):
    ref, files = dynamic_exports
    assert_seg_parity(ref, files, ((1, IMGSZ, IMGSZ), (2, 96, 192)))


def test_onnx_outputs_named_as_yolov5(static_exports, dynamic_exports):
    """output0 (rows) and output1 (protos); with --dynamic, batch and mask height/width are free."""
    for (_, files), dynamic in ((static_exports, False), (dynamic_exports, True)):
        graph = onnx.load(next(f for f in files if f.endswith(".onnx"))).graph
        assert [o.name for o in graph.output] == ["output0", "output1"]
        dims = [d.dim_param or d.dim_value for d in graph.output[1].type.tensor_type.shape.dim]
        assert dims == (["batch", 32, "mask_height", "mask_width"] if dynamic else [1, 32, IMGSZ // 4, IMGSZ // 4])


def test_pytorch_backend_gives_rows_and_protos(static_exports):
    ref, _ = static_exports
    assert ref.segmentation
    with torch.no_grad():
        y = ref(torch.zeros(1, 3, 64, 64))
    assert len(y) == 2 and y[0].shape == (1, 252, 117) and y[1].shape == (1, 32, 16, 16)


def test_other_formats_refuse_segmentation_in_one_line(tmp_path, log_lines):
    w = copy_weights(shared_path("weights/yolov5n-seg-coco128seg.pt"), tmp_path)
    include = ("saved_model", "pb", "tflite", "tfjs", "coreml", "paddle", "ncnn")
    with pytest.raises(UserError, match="export failed for TensorFlow SavedModel, TensorFlow GraphDef"):
        export.run(weights=w, imgsz=(64,), include=include)
    refused = [x for x in log_lines if "does not support segmentation models" in x]
    assert len(refused) == len(include) and all("\n" not in x for x in refused)
    assert sorted(p.name for p in tmp_path.iterdir()) == [w.name]


def test_onnx_through_opencv_dnn_gives_rows_and_protos(static_exports):
    """--dnn reads every output of the fixed-shape ONNX export, the prototypes included."""
    ref, files = static_exports
    m = DetectMultiBackend(next(f for f in files if f.endswith(".onnx")), CPU, dnn=True)
    x = _image(1, IMGSZ, IMGSZ)
    with torch.no_grad():
        y0, y = ref(x), m(x)
    assert len(y) == 2 and close(y[0], y0[0], 1e-3) and close(y[1], y0[1], 1e-3)
