"""segment/val.py on the seg checkpoint YOLOv5 wrote gives the rows YOLOv5 v7.0 prints for it.

The Box P and R of this barely trained model are read where its smoothed mean F1 peaks, and it has two peaks 2e-10
apart, so they follow the last bit of the convolutions. YOLOv5 v7.0 (pip yolov5==7.0.0 on this machine) prints
0.65 0.0286 with its model fused, as in its own repository, and 0.636 0.0319 (the row in ../shared/README.md) where
its fuse() finds no Conv to fold (a pip install unpickles the checkpoint's `models.common.Conv` as a class other than
its own): docs/validation.md has the runs. Both rows are pinned."""

from __future__ import annotations

import functools

import yaml

from tests.conftest import shared_path
from utils.files import ROOT, yaml_load


def _row(tmp_path) -> list[str]:
    import segment.val as seg_val

    weights = shared_path("weights/yolov5n-seg-coco128seg.pt")
    data = yaml_load(ROOT / "data" / "coco128-seg.yaml")
    data.update(path=str(shared_path("datasets/coco128-seg")), train="images/train2017", val="images/train2017")
    data.pop("download", None)
    (tmp_path / "coco128-seg.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    results = seg_val.run(data=str(tmp_path / "coco128-seg.yaml"), weights=str(weights), imgsz=320, batch_size=16,
                          workers=0, project=str(tmp_path), plots=False, half=False)[0][:8]
    return [f"{v:.3g}" for v in results]


MAPS_AND_MASK_ROW = ["0.0361", "0.0208", "0.764", "0.0205", "0.0278", "0.0124"]


def test_fused_row_matches_yolov5_v7_fused(tmp_path):
    """As users run it (BatchNorm folded): YOLOv5 v7.0's row from its repository, digit for digit."""
    assert _row(tmp_path) == ["0.65", "0.0286", *MAPS_AND_MASK_ROW]


def test_unfused_row_matches_printed_v7_row(tmp_path, monkeypatch):
    """With YOLOv5's unfused arithmetic (BatchNorm kept, the head as one convolution per level): the row printed in
    ../shared/README.md, digit for digit."""
    import val
    from models.backends import DetectMultiBackend
    from models.yolo import Detect

    monkeypatch.setattr(val, "DetectMultiBackend", functools.partial(DetectMultiBackend, fuse=False))
    monkeypatch.setattr(Detect, "_head_by_rows", Detect._head)
    assert _row(tmp_path) == ["0.636", "0.0319", *MAPS_AND_MASK_ROW]
