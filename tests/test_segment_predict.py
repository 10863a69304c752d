"""segment/predict.py: YOLOv5 v7.0's console lines and run folder (masked images, polygon labels, crops, videos) with
a freshly built seg model and the YOLOv5-written one; Annotator.masks' blending; bad input in one line."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from models.checkpoints import save_checkpoint
from models.yolo import SegmentationModel
from segment import predict
from tests.conftest import ROOT, shared_path
from tests.detect_helpers import make_video, video_props
from utils.annotator import Annotator
from utils.errors import UserError

BUS = ROOT / "data/images/bus.jpg"


@pytest.fixture(scope="module")
def tiny_seg_pt(tmp_path_factory) -> Path:
    """A freshly built yolov5n-seg (random weights, 3 classes) saved as a checkpoint."""
    torch.manual_seed(0)
    model = SegmentationModel("yolov5n-seg.yaml", nc=3)
    model.names = {0: "a", 1: "b", 2: "c"}
    f = tmp_path_factory.mktemp("seg") / "tiny-seg.pt"
    save_checkpoint({"epoch": -1, "model": model.half()}, f)
    return f


def _polygon_rows(file: Path) -> list[list[float]]:
    return [[float(v) for v in line.split()] for line in file.read_text().splitlines()]


def test_fresh_model_writes_masked_image_polygons_and_crops(tiny_seg_pt, tmp_path, log_lines):
    save_dir = predict.run(weights=tiny_seg_pt, source=BUS, imgsz=(160, 160), conf_thres=0.0, max_det=5,
                           project=tmp_path, save_txt=True, save_conf=True, save_crop=True)
    assert save_dir == tmp_path / "exp"
    line = next(x for x in log_lines if x.startswith("image 1/1"))
    assert re.fullmatch(rf"image 1/1 {re.escape(str(BUS))}: 160x128 (\d+ [abc]s?, )+[\d.]+ms", line), line
    assert any(x.startswith("Speed: ") and x.endswith("per image at shape (1, 3, 160, 160)") for x in log_lines)
    assert f"1 labels saved to {save_dir / 'labels'}" in "\n".join(log_lines)
    im = cv2.imread(str(save_dir / "bus.jpg"))
    assert im.shape == cv2.imread(str(BUS)).shape
    rows = _polygon_rows(save_dir / "labels" / "bus.txt")
    assert 1 <= len(rows) <= 5
    for r in rows:  # class, x1 y1 ... (normalized), conf
        assert r[0] in (0, 1, 2) and len(r) % 2 == 0 and all(0 <= v <= 1 for v in r[1:])
    assert list((save_dir / "crops").rglob("*.jpg"))


@pytest.fixture
def seg_pt() -> Path:
    return shared_path("weights/yolov5n-seg-coco128seg.pt")


def test_yolov5_seg_model_on_bus(seg_pt, bus_jpg, tmp_path, log_lines):
    """The YOLOv5-written model at 320: 2 persons on bus.jpg, their outlines inside their boxes, masks painted."""
    save_dir = predict.run(weights=seg_pt, source=bus_jpg, imgsz=(320, 320), project=tmp_path, save_txt=True)
    assert re.search(r"bus.jpg: 320x256 2 persons, [\d.]+ms$", next(x for x in log_lines if "bus.jpg" in x))
    rows = _polygon_rows(save_dir / "labels" / "bus.txt")
    assert [r[0] for r in rows] == [0, 0] and all(len(r) > 7 for r in rows)
    out, src = cv2.imread(str(save_dir / "bus.jpg")).astype(float), cv2.imread(str(bus_jpg)).astype(float)
    assert out.shape == src.shape and np.abs(out - src).mean() > 2


def test_retina_masks_and_video_frames(seg_pt, bus_jpg, tmp_path, log_lines):
    """--retina-masks paints at the image's own resolution; a video gives one masked frame per frame, same size and
    fps, and per-frame polygon files."""
    video = make_video(tmp_path / "clip.mp4", size=(160, 128), fps=8.0, frames=[cv2.imread(str(bus_jpg))] * 3)
    save_dir = predict.run(weights=seg_pt, source=video, imgsz=(160, 160), project=tmp_path, conf_thres=0.1,
                           save_txt=True, retina_masks=True)
    assert video_props(save_dir / "clip.mp4") == video_props(video) == (3, 160, 128, 8.0)
    assert any(x.startswith("video 1/1 (3/3)") for x in log_lines)
    assert {p.name for p in (save_dir / "labels").iterdir()} <= {f"clip_{i}.txt" for i in range(1, 4)}


def test_annotator_masks_blend_at_alpha_half():
    """One mask: the pixel is half image, half the BGR colour; outside it the image is unchanged."""
    im = np.full((4, 6, 3), 100, np.uint8)
    masks = torch.zeros(1, 4, 6)
    masks[0, :2] = 1
    rgb = torch.full((3, 4, 6), 100 / 255)
    Annotator(im).masks(masks, [(0, 0, 250)], rgb, retina_masks=True)
    assert (im[:2] == (50, 50, 175)).all() and (im[2:] == 100).all()


def test_detection_weights_and_augment_are_one_line_errors(yolov5n_pt, tmp_path):
    with pytest.raises(UserError, match="not a segmentation model"):
        predict.run(weights=yolov5n_pt, source=BUS, imgsz=(64, 64), project=tmp_path)
    with pytest.raises(UserError, match="--augment"):
        predict.run(weights=yolov5n_pt, source=BUS, imgsz=(64, 64), project=tmp_path, augment=True)


def test_cli_defaults_are_yolov5s():
    opt = predict.parse_opt([])
    assert (opt.project.as_posix().endswith("runs/predict-seg") and opt.imgsz == [640, 640] and not opt.retina_masks
            and opt.conf_thres == 0.25 and opt.max_det == 1000)
