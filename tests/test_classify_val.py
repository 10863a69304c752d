"""classify/val.py: YOLOv5's printed top-1/top-5 for the shared classifier, exports (TorchScript, ONNX static and
dynamic, OpenVINO) read back with the PyTorch figures, and bad input as one line."""

from __future__ import annotations

import shutil

import pytest
import torch

from classify import val as classify_val
from models.classify import load_classifier
from tests.cli_helpers import one_line_error
from tests.conftest import shared_path
from utils.data.classify_dataset import create_classification_dataloader
from utils.files import ROOT

SAMPLE = ROOT / "data" / "coco8-cls"


def test_shared_classifier_gives_yolov5s_figures(tmp_path, log_lines):
    """YOLOv5 v7.0 prints `all 55 top1_acc 0.873 top5_acc 0.964` for this checkpoint and dataset."""
    top1, top5, loss = classify_val.run(data=shared_path("datasets/coco128-cls"), batch_size=32, imgsz=224,
                                        weights=shared_path("weights/yolov5n-cls-coco128cls.pt"), workers=0,
                                        project=tmp_path, verbose=True)
    assert (round(top1, 3), round(top5, 3), loss) == (0.873, 0.964, 0.0)
    rows = {x.split()[0]: x.split()[1:] for x in log_lines if x.strip() and len(x.split()) == 4}
    assert rows["all"] == ["55", "0.873", "0.964"] and rows["person"][0] == "28"


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """The shared classifier exported at 32x32 (fixed and dynamic shapes) beside a copy of it."""
    import export

    d = tmp_path_factory.mktemp("cls-export")
    pt = shutil.copy(shared_path("weights/yolov5n-cls-coco128cls.pt"), d / "cls.pt")
    include = ["torchscript", "onnx"] + (["openvino"] if _has_openvino() else [])
    files = export.run(weights=pt, include=include, imgsz=(32, 32))
    (d / "dynamic").mkdir()
    dyn = shutil.copy(pt, d / "dynamic" / "cls.pt")
    files += export.run(weights=dyn, include=["onnx"], imgsz=(32, 32), dynamic=True)
    return pt, files


def _has_openvino() -> bool:
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


def _logits(weights, images: torch.Tensor) -> torch.Tensor:
    model = load_classifier(weights, torch.device("cpu"))
    return torch.cat([model(x[None]) for x in images]) if model.input_shape else model(images)


def test_exports_match_pytorch(exports):
    pt, files = exports
    images = next(iter(create_classification_dataloader(SAMPLE / "val", 32, 8, augment=False, workers=0,
                                                        shuffle=False)))[0]
    ref = _logits(pt, images)
    assert len(files) == 3 + _has_openvino()
    for f in files:
        y = _logits(f, images)
        assert y.shape == ref.shape and (y - ref).abs().max() < 1e-3 * ref.abs().max(), f
        assert torch.equal(y.argmax(1), ref.argmax(1)), f


def test_val_reads_every_export(exports, tmp_path):
    pt, files = exports
    data = shared_path("datasets/coco128-cls")
    top1, top5, _ = classify_val.run(data=data, weights=pt, imgsz=32, batch_size=16, workers=0, project=tmp_path)
    for f in files:
        y1, y5, _ = classify_val.run(data=data, weights=f, imgsz=32, batch_size=16, workers=0, project=tmp_path)
        assert (y1, y5) == (top1, top5), f


def test_bad_input_is_one_line(capsys, tmp_path, yolov5n_pt):
    pt = str(shared_path("weights/yolov5n-cls-coco128cls.pt"))
    common = ["--project", str(tmp_path), "--workers", "0", "--img", "32"]
    assert "detection dataset" in one_line_error("classify.val", ["--weights", pt, "--data", "coco8"] + common, capsys)
    assert "has 12 classes" in one_line_error("classify.val", ["--weights", pt, "--data", "coco8-cls"] + common, capsys)
    data = str(shared_path("datasets/coco128-cls"))
    err = one_line_error("classify.val", ["--weights", str(yolov5n_pt), "--data", data] + common, capsys)
    assert "not a classifier" in err or "classes" in err
    assert "not found" in one_line_error("classify.val", ["--weights", pt, "--data", "nowhere-cls"] + common, capsys)


def test_verbose_takes_a_boolean_word():
    opt = classify_val.parse_opt(["--verbose", "False", "--data", "x"])
    assert opt.verbose is False and classify_val.parse_opt(["--verbose"]).verbose is True
