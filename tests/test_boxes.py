"""utils/boxes.py: the YOLO label lines that val.py --save-txt and detect.py --save-txt write."""

from __future__ import annotations

import torch

from utils.boxes import write_yolo_labels


def test_yolo_label_lines_are_normalized_and_appended(tmp_path):
    det = torch.tensor([[10.0, 20.0, 30.0, 60.0, 0.5, 3.0], [0.0, 0.0, 200.0, 100.0, 0.25, 0.0]])
    f = tmp_path / "a.txt"
    write_yolo_labels(f, det, (100, 200), save_conf=True)
    write_yolo_labels(f, det[:1], (100, 200, 3))
    assert f.read_text() == "3 0.1 0.4 0.1 0.4 0.5\n0 0.5 0.5 1 1 0.25\n3 0.1 0.4 0.1 0.4\n"


def test_no_detections_write_no_file(tmp_path):
    write_yolo_labels(tmp_path / "b.txt", torch.zeros((0, 6)), (100, 200))
    assert not (tmp_path / "b.txt").exists()


def test_save_format_1_writes_normalized_pascal_voc_corners(tmp_path):
    det = torch.tensor([[10.0, 20.0, 30.0, 60.0, 0.5, 3.0]])
    write_yolo_labels(tmp_path / "c.txt", det, (100, 200), save_conf=True, save_format=1)  # detect.py --save-format 1
    assert (tmp_path / "c.txt").read_text() == "3 0.05 0.2 0.15 0.6 0.5\n"
