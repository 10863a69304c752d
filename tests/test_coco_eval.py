"""COCO JSON: image ids, prediction records, ground truth from YOLO labels, and pycocotools on a known case."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from utils.evaluation.coco_eval import (coco_class_map, find_annotations, image_id, labels_to_coco, predictions_to_json,
                             pycocotools_map, write_json)


def test_image_id_numeric_and_text_stems():
    assert image_id("/data/images/000000000139.jpg") == 139
    assert image_id("bus.jpg") == "bus"


def test_prediction_records_use_top_left_xywh_and_category_map():
    predn = torch.tensor([[10.0, 20.0, 50.0, 80.0, 0.876543, 1.0]])
    rec = predictions_to_json(predn, "000000000042.jpg", class_map=[1, 2, 3])
    assert rec == [{"image_id": 42, "category_id": 2, "bbox": [10.0, 20.0, 40.0, 60.0], "score": 0.87654}]


def test_labels_to_coco_pixel_boxes_and_areas():
    labels = [np.array([[0, 0.5, 0.5, 0.2, 0.4]]), np.zeros((0, 5))]
    gt = labels_to_coco(["a/1.jpg", "a/x.jpg"], labels, np.array([[100, 50], [10, 10]]), {0: "person"}, [1])
    assert gt["images"] == [{"id": 1, "file_name": "1.jpg", "width": 100, "height": 50},
                            {"id": "x", "file_name": "x.jpg", "width": 10, "height": 10}]
    (ann,) = gt["annotations"]
    assert ann["image_id"] == 1 and ann["category_id"] == 1 and ann["iscrowd"] == 0
    assert ann["bbox"] == pytest.approx([40.0, 15.0, 20.0, 20.0]) and ann["area"] == pytest.approx(400.0)
    assert gt["categories"] == [{"id": 1, "name": "person"}]


def test_pycocotools_scores_perfect_predictions_one(tmp_path):
    labels = [np.array([[0, 0.5, 0.5, 0.5, 0.5], [1, 0.2, 0.2, 0.2, 0.2]])]
    shapes = np.array([[200, 100]])
    anno = write_json(labels_to_coco(["7.jpg"], labels, shapes, {0: "a", 1: "b"}, [1, 2]), tmp_path / "gt.json")
    predn = torch.tensor([[50.0, 25.0, 150.0, 75.0, 0.9, 0.0], [20.0, 10.0, 60.0, 30.0, 0.8, 1.0]])
    pred = write_json(predictions_to_json(predn, "7.jpg", [1, 2]), tmp_path / "pred.json")
    map_, map50 = pycocotools_map(anno, pred, [7])
    assert map_ == pytest.approx(1.0) and map50 == pytest.approx(1.0)


def test_find_annotations(tmp_path):
    assert find_annotations(tmp_path, ("annotations/instances_val2017.json",)) is None
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_val2017.json").write_text("{}")
    assert find_annotations(tmp_path, ("annotations/instances_val2017.json",)).name == "instances_val2017.json"


def test_coco_class_map_for_coco_names_only():
    from utils.files import ROOT, yaml_load

    coco = yaml_load(ROOT / "data" / "coco.yaml")["names"]
    ids = coco_class_map(coco)
    assert len(ids) == 80 and ids[:3] == [1, 2, 3] and ids[-1] == 90 and 12 not in ids
    assert coco_class_map({0: "cat", 1: "dog"}) == [0, 1]
