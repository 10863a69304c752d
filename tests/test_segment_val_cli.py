"""segment/val.py: a YOLOv5-written seg checkpoint validated on the in-repo coco8-seg sample (table, run folder,
--save-txt, --save-json scored for bbox and segm), and one-line refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shared_path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "coco8-seg.yaml"


@pytest.fixture(scope="module")
def seg_pt() -> Path:
    return shared_path("weights/yolov5n-seg-coco128seg.pt")


def test_run_prints_box_and_mask_rows_and_saves_txt_and_json(seg_pt, tmp_path, log_lines):
    from segment.val import run

    (results, maps, times) = run(DATA, seg_pt, batch_size=4, imgsz=160, workers=0, save_txt=True, save_json=True,
                                 project=tmp_path, name="v", plots=False)
    assert len(results) == 12 and len(maps) == 80 and len(times) == 3  # 8 metrics + box, seg, obj, cls losses
    assert all(0 <= r <= 1 for r in results[:8])
    header = [ln for ln in log_lines if "all" in ln.split()[:1]]
    assert header and len(header[0].split()) == 11  # all, images, instances, 4 box and 4 mask figures
    run_dir = tmp_path / "v"
    assert list((run_dir / "labels").glob("*.txt"))
    records = json.loads((run_dir / f"{seg_pt.stem}_predictions.json").read_text())
    assert records and {"image_id", "category_id", "bbox", "score", "segmentation"} <= set(records[0])
    assert isinstance(records[0]["segmentation"]["counts"], str)
    assert (run_dir / "annotations_from_labels.json").is_file()  # polygons as COCO ground truth for 'segm'


def test_detection_weights_are_refused_in_one_line(yolov5n_pt, tmp_path):
    r = subprocess.run([sys.executable, "segment/val.py", "--weights", str(yolov5n_pt), "--data", str(DATA),
                        "--img", "64", "--project", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2
    errors = [ln for ln in r.stderr.splitlines() + r.stdout.splitlines() if ln.startswith("ERROR")]
    assert len(errors) == 1 and "segmentation model" in errors[0] and "Traceback" not in r.stderr


def test_unknown_task_is_refused_in_one_line(tmp_path):
    r = subprocess.run([sys.executable, "segment/val.py", "--task", "study", "--data", str(DATA),
                        "--project", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 2 and "--task study" in r.stderr + r.stdout and "Traceback" not in r.stderr


def test_cli_defaults_are_v7():
    from segment.val import parse_opt

    opt = parse_opt([])
    assert (opt.batch_size, opt.imgsz, opt.conf_thres, opt.iou_thres, opt.max_det) == (32, 640, 0.001, 0.6, 300)
    assert str(opt.project).endswith("runs/val-seg") and str(opt.data).endswith("coco128-seg.yaml")
