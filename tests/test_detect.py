"""detect.py: YOLOv5's console lines and run folder for images, videos, exported models and failing cameras."""

from __future__ import annotations

import csv
import glob
import time

import cv2
import pytest
import torch

import detect
from tests.detect_helpers import copy_weights, make_video, video_props
from utils.errors import UserError


def test_reference_images(yolov5n_pt, bus_jpg, log_lines, tmp_path):
    save_dir = detect.run(weights=yolov5n_pt, source=bus_jpg.parent, project=tmp_path, imgsz=(640, 640))
    lines = [m for m in log_lines if m.startswith("image ")]
    assert lines[0].startswith(f"image 1/2 {bus_jpg}: 640x480 4 persons, 1 bus, ") and lines[0].endswith("ms")
    assert lines[1].startswith(f"image 2/2 {bus_jpg.parent / 'zidane.jpg'}: 384x640 2 persons, 1 tie, ")
    assert any(m.startswith("Speed: ") and m.endswith("per image at shape (1, 3, 640, 640)") for m in log_lines)
    assert any(m.startswith("Results saved to ") for m in log_lines)
    assert save_dir == tmp_path / "exp"
    annotated = cv2.imread(str(save_dir / "bus.jpg"))
    assert annotated.shape == (1080, 810, 3) and (annotated != cv2.imread(str(bus_jpg))).any()


def test_video_keeps_frame_count_size_and_fps(yolov5n_pt, coco128, tmp_path):
    frames = [cv2.imread(f) for f in sorted(glob.glob(str(coco128 / "images/train2017/*.jpg")))[:8]]
    video = make_video(tmp_path / "clip.mp4", size=(160, 120), fps=12.0, frames=frames)
    save_dir = detect.run(weights=yolov5n_pt, source=video, project=tmp_path, imgsz=(160, 160), save_txt=True)
    assert video_props(save_dir / "clip.mp4") == video_props(video) == (8, 160, 120, 12.0)
    assert {p.name for p in (save_dir / "labels").iterdir()} <= {f"clip_{i}.txt" for i in range(1, 9)}


def test_labels_crops_csv_and_nosave(yolov5n_pt, bus_jpg, tmp_path):
    save_dir = detect.run(weights=yolov5n_pt, source=bus_jpg, project=tmp_path, imgsz=(320, 320), save_txt=True,
                          save_conf=True, save_crop=True, save_csv=True, nosave=True, classes=[0])
    assert not (save_dir / "bus.jpg").exists()
    rows = [r.split() for r in (save_dir / "labels" / "bus.txt").read_text().splitlines()]
    assert rows and all(len(r) == 6 and r[0] == "0" and 0 < float(r[5]) <= 1 for r in rows)
    assert all(0 <= float(v) <= 1 for r in rows for v in r[1:5])
    crops = list((save_dir / "crops" / "person").glob("*.jpg"))
    assert len(crops) == len(rows)
    with open(save_dir / "predictions.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == len(rows) and {r["Prediction"] for r in table} == {"person"}


def test_dynamic_onnx_gives_the_same_lines_as_pytorch(yolov5n_pt, bus_jpg, tmp_path, log_lines):
    import export

    w = copy_weights(yolov5n_pt, tmp_path)
    (f,) = export.run(weights=w, imgsz=(320,), include=("onnx",), dynamic=True)
    for weights in (w, f):
        detect.run(weights=weights, source=bus_jpg, project=tmp_path, imgsz=(320, 320), nosave=True)
    pt_line, onnx_line = (m.rsplit(", ", 1)[0] for m in log_lines if m.startswith("image 1/1"))
    assert pt_line == onnx_line and pt_line.startswith(f"image 1/1 {bus_jpg}: 320x256 ") and "person" in pt_line


def test_missing_camera_is_a_clear_error_within_seconds(yolov5n_pt, tmp_path, capsys):
    t = time.time()
    with pytest.raises(SystemExit) as e:
        detect.main(detect.parse_opt(["--weights", str(yolov5n_pt), "--source", "93", "--project", str(tmp_path)]))
    assert e.value.code == 2 and "ERROR: failed to open camera 93" in capsys.readouterr().err
    assert time.time() - t < 20  # model load included


def test_missing_source(yolov5n_pt, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        detect.run(weights=yolov5n_pt, source=tmp_path / "nothing.jpg", project=tmp_path)


@pytest.mark.parametrize("kwargs, message", [({"conf_thres": -0.1}, "conf_thres=-0.1 is invalid"),
                                             ({"imgsz": (640, 0)}, "imgsz=0 is invalid"),
                                             ({"max_det": 0}, "max_det=0 is invalid: it must be an integer >= 1")])
def test_python_run_checks_arguments_like_the_cli(tmp_path, kwargs, message):
    # refused before the weights, the source or the run folder are touched (all missing here)
    with pytest.raises(UserError, match=message):
        detect.run(weights=tmp_path / "missing.pt", source=tmp_path / "nothing.jpg", project=tmp_path / "runs", **kwargs)
    assert not (tmp_path / "runs").exists()


def test_save_crop_with_hostile_class_names_writes_only_inside_the_run(yolov5n_pt, bus_jpg, tmp_path):
    """Checkpoints are untrusted: class names such as ../../../../escaped or an absolute path stay folder names."""
    from models.checkpoints import load_checkpoint

    ckpt = load_checkpoint(yolov5n_pt)
    names = dict(enumerate(ckpt["model"].names)) if isinstance(ckpt["model"].names, list) else ckpt["model"].names
    names.update({0: "../../../../escaped", 5: str(tmp_path / "absolute")})
    ckpt["model"].names = names
    hostile = tmp_path / "hostile.pt"
    torch.save(ckpt, hostile)
    runs = tmp_path / "a" / "b" / "runs"
    save_dir = detect.run(weights=hostile, source=bus_jpg, project=runs, imgsz=(320, 320), save_crop=True, nosave=True)
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p != hostile]
    assert written and all(save_dir in p.parents for p in written), written
    crops = {p.name for p in (save_dir / "crops").iterdir()}
    assert {"_.._.._.._escaped", str(tmp_path / "absolute").replace("/", "_")} <= crops, crops
