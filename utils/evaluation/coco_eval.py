"""COCO-format JSON for --save-json: predictions, ground truth built from YOLO labels, and pycocotools mAPs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from utils.boxes import xyxy2xywh
from utils.files import ROOT, yaml_load
from utils.logger import LOGGER

COCO_YAML = ROOT / "data" / "coco.yaml"  # the 80 COCO class names, in order


def image_id(path: str | Path) -> int | str:
    """COCO image id of an image file: its stem as an int when numeric (000000000139.jpg -> 139), else the stem."""
    stem = Path(path).stem
    return int(stem) if stem.isnumeric() else stem


def coco_class_map(names: dict[int, str]) -> list[int]:
    """COCO category ids (1-90) when names are the 80 COCO names in order (as in data/coco.yaml), else class indices."""
    from utils.data.config import coco80_to_coco91_class

    coco_names = yaml_load(COCO_YAML).get("names", {}) if COCO_YAML.is_file() else {}
    if list(names.values()) == list(coco_names.values()):
        return coco80_to_coco91_class()
    return list(range(max(names, default=0) + 1))


def predictions_to_json(predn: torch.Tensor, path: str | Path, class_map: list[int]) -> list[dict]:
    """COCO result records for one image's detections (n, 6) [x1, y1, x2, y2, conf, cls] in original pixels."""
    box = xyxy2xywh(predn[:, :4])
    box[:, :2] -= box[:, 2:] / 2  # xy centre -> top-left corner
    iid = image_id(path)
    return [{"image_id": iid, "category_id": class_map[int(p[5])], "bbox": [round(x, 3) for x in b],
             "score": round(p[4], 5)} for p, b in zip(predn.tolist(), box.tolist())]


def labels_to_coco(im_files: list[str], labels: list[np.ndarray], shapes: np.ndarray, names: dict[int, str],
                   class_map: list[int], segments: list | None = None) -> dict:
    """COCO ground truth from YOLO labels (cls, xc, yc, w, h normalized) and image sizes (w, h); no crowd boxes.
    With segments (per image, one normalized (k, 2) polygon per label) each annotation carries its polygon and its
    area is the polygon's pixel area, so the ground truth scores 'segm' too."""
    images, annotations = [], []
    for i, (f, lb, (w, h)) in enumerate(zip(im_files, labels, shapes)):
        iid = image_id(f)
        images.append({"id": iid, "file_name": Path(f).name, "width": int(w), "height": int(h)})
        for j, (c, xc, yc, bw, bh) in enumerate(np.asarray(lb, dtype=np.float64).reshape(-1, 5)):
            box = [(xc - bw / 2) * w, (yc - bh / 2) * h, bw * w, bh * h]
            ann = {"id": len(annotations) + 1, "image_id": iid, "category_id": class_map[int(c)],
                   "bbox": [float(v) for v in box], "area": float(box[2] * box[3]), "iscrowd": 0}
            if segments is not None:
                ann.update(_polygon_annotation(segments[i][j], int(w), int(h)))
            annotations.append(ann)
    categories = [{"id": class_map[i], "name": n} for i, n in names.items()]
    return {"images": images, "annotations": annotations, "categories": categories}


def _polygon_annotation(polygon: np.ndarray, w: int, h: int) -> dict:
    """COCO 'segmentation' (one flat pixel polygon) and 'area' (its rasterized pixel count) of a normalized polygon."""
    from pycocotools import mask as mask_utils

    poly = (np.asarray(polygon, dtype=np.float64).reshape(-1, 2) * (w, h)).reshape(-1).tolist()
    return {"segmentation": [poly], "area": float(mask_utils.area(mask_utils.frPyObjects([poly], h, w)).sum())}


def find_annotations(dataset_root: str | Path | None, candidates: tuple[str, ...]) -> Path | None:
    """The first COCO annotations file that exists among candidates, relative to the dataset root."""
    for c in candidates:
        p = Path(dataset_root or ".") / c
        if p.is_file():
            return p
    return None


def write_json(obj: object, file: str | Path) -> Path:
    """Write obj as JSON and return the path."""
    with open(file, "w", encoding="utf-8") as f:
        json.dump(obj, f)
    return Path(file)


def pycocotools_map(anno_json: str | Path, pred_json: str | Path, img_ids: list,
                    iou_type: str = "bbox") -> tuple[float, float]:
    """(mAP50-95, mAP50) by pycocotools on the given images, of boxes ('bbox') or masks ('segm'); its summary table
    is printed."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    anno = COCO(str(anno_json))
    pred = anno.loadRes(str(pred_json))
    evaluator = COCOeval(anno, pred, iou_type)
    evaluator.params.imgIds = img_ids
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    LOGGER.info("")
    return float(evaluator.stats[0]), float(evaluator.stats[1])
