"""classify/predict.py: each image's top-5 line, annotated images and --save-txt files, the same classes from an
ONNX export, and bad input as one line."""

from __future__ import annotations

import re
import shutil

import cv2

from classify import predict
from tests.cli_helpers import one_line_error
from tests.conftest import shared_path

LINE = re.compile(r"^image (\d)/2 (\S+): 224x224 ((?:\w+ \d\.\d\d, ){5})[\d.]+ms$")


def _top5(log_lines: list[str]) -> dict[str, list[str]]:
    """{file name: the five class names of its console line}, checking the line's format."""
    out = {}
    for line in log_lines:
        m = LINE.match(line)
        if m:
            out[m.group(2).rsplit("/", 1)[-1]] = [x.split()[0] for x in m.group(3).rstrip(", ").split(", ")]
    return out


def test_predict_prints_saves_and_writes_labels(tmp_path, log_lines):
    weights = shared_path("weights/yolov5n-cls-coco128cls.pt")
    save_dir = predict.run(weights=weights, source=shared_path("images"), project=tmp_path, save_txt=True)
    top5 = _top5(log_lines)
    assert sorted(top5) == ["bus.jpg", "zidane.jpg"] and top5["zidane.jpg"][0] == "person"
    assert all(len(set(v)) == 5 for v in top5.values())
    im = cv2.imread(str(save_dir / "zidane.jpg"))
    assert im.shape == cv2.imread(str(shared_path("images/zidane.jpg"))).shape
    lines = (save_dir / "labels" / "zidane.txt").read_text().splitlines()
    assert len(lines) == 5 and [x.split()[1] for x in lines] == top5["zidane.jpg"]
    scores = [float(x.split()[0]) for x in lines]
    assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0 + 1e-6


def test_onnx_export_predicts_the_same_classes(tmp_path, log_lines):
    import export

    pt = shutil.copy(shared_path("weights/yolov5n-cls-coco128cls.pt"), tmp_path / "cls.pt")
    (onnx,) = export.run(weights=pt, include=["onnx"], imgsz=(224, 224))
    predict.run(weights=pt, source=shared_path("images/zidane.jpg"), project=tmp_path, name="pt", nosave=True)
    predict.run(weights=onnx, source=shared_path("images/zidane.jpg"), project=tmp_path, name="onnx", nosave=True)
    lines = [x for x in log_lines if x.startswith("image 1/1")]
    assert len(lines) == 2 and re.sub(r"[\d.]+ms$", "", lines[0]) == re.sub(r"[\d.]+ms$", "", lines[1])


def test_bad_input_is_one_line(capsys, tmp_path, yolov5n_pt):
    args = ["--project", str(tmp_path), "--source", str(shared_path("images/bus.jpg"))]
    assert "not found" in one_line_error("classify.predict", ["--weights", str(tmp_path / "no.pt")] + args, capsys)
    err = one_line_error("classify.predict", ["--weights", str(yolov5n_pt)] + args, capsys)
    assert "not a classifier" in err
    src = ["--weights", str(shared_path("weights/yolov5n-cls-coco128cls.pt")), "--project", str(tmp_path)]
    assert "does not exist" in one_line_error("classify.predict", src + ["--source", str(tmp_path / "x")], capsys)
