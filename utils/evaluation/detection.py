"""Detection validation as a library: metrics of a model on a loader, the YOLOv5 table, and COCO JSON scoring.
val.py, the Trainer and tools call `evaluate` and `report`; val.py adds only the command line around them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from utils.boxes import scale_boxes, write_yolo_labels, xywh2xyxy
from utils.evaluation.coco_eval import (find_annotations, image_id, labels_to_coco, predictions_to_json,
                                        pycocotools_map, write_json)
from utils.evaluation.metrics import ConfusionMatrix, at_best_f1, class_curves, iou_thresholds, match_predictions
from utils.evaluation.plots import output_to_target, plot_ap_curves, plot_confusion_matrix, plot_images
from utils.inference.nms import non_max_suppression
from utils.logger import LOGGER
from utils.torch_utils import to_float_image
from utils.training.run_logger import TQDM_BAR_FORMAT
from utils.inference.stages import Stages

PLOT_BATCHES = 3  # val_batch{0,1,2}_{labels,pred}.jpg
HEADER = ("%22s" + "%11s" * 6) % ("Class", "Images", "Instances", "P", "R", "mAP50", "mAP50-95")
ROW = "%22s" + "%11i" * 2 + "%11.3g" * 4


def _labels_in_pixels(targets: torch.Tensor, si: int, img_shape: tuple, shape0: tuple, ratio_pad) -> torch.Tensor:
    """Image si's labels as (m, 5) [cls, x1, y1, x2, y2] in original-image pixels."""
    labels = targets[targets[:, 0] == si, 1:]
    tbox = xywh2xyxy(labels[:, 1:5])
    scale_boxes(img_shape, tbox, shape0, ratio_pad)
    return torch.cat((labels[:, 0:1], tbox), 1)


def _score_image(pred: torch.Tensor, labelsn: torch.Tensor, img_shape: tuple, shape0: tuple, ratio_pad,
                 iouv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Detections moved to original-image pixels, and which are true positives at each IoU threshold."""
    predn = pred.clone()
    scale_boxes(img_shape, predn[:, :4], shape0, ratio_pad)
    return predn, match_predictions(predn, labelsn, iouv)


def _summarize(stats: list, nc: int, names: dict, plots: bool, save_dir: Path) -> dict:
    """Metrics over the whole set from per-image (correct, conf, cls, target_cls) tuples."""
    stats = [torch.cat(x, 0).cpu().numpy() for x in zip(*stats)]
    out = {"mp": 0.0, "mr": 0.0, "map50": 0.0, "map": 0.0, "ap_class": np.zeros(0, int)}
    if len(stats) and stats[0].any():
        curves = class_curves(*stats)
        if plots:
            plot_ap_curves(curves, save_dir, names)
        tp, fp, p, r, f1, ap, ap_class = at_best_f1(curves)
        ap50, ap = ap[:, 0], ap.mean(1)
        out.update(mp=p.mean(), mr=r.mean(), map50=ap50.mean(), map=ap.mean(), p=p, r=r, ap50=ap50, ap=ap,
                   ap_class=ap_class, tp=tp, fp=fp, f1=f1)
    out["nt"] = np.bincount(stats[3].astype(int), minlength=nc) if len(stats) else np.zeros(nc, int)
    return out


def class_names(model) -> dict:
    """{index: name} of a model, a DetectMultiBackend or a DataParallel-wrapped model."""
    names = model.names if hasattr(model, "names") else model.module.names
    return dict(enumerate(names)) if isinstance(names, (list, tuple)) else names


def coco_evaluate(jdict: list, dataset, data: dict, task: str, weights, names: dict, class_map: list,
                  save_dir: Path, iou_types: tuple[str, ...] = ("bbox",)) -> tuple[float, ...] | None:
    """Save predictions.json and score it with pycocotools against the dataset's or the labels' COCO ground truth:
    (mAP50-95, mAP50) per iou type, in order ('segm' needs masks in the predictions and polygons in the dataset)."""
    w = Path(weights[0] if isinstance(weights, list) else weights).stem if weights is not None else ""
    pred_json = save_dir / f"{w}_predictions.json"
    LOGGER.info(f"\nEvaluating pycocotools mAP... saving {pred_json}...")
    write_json(jdict, pred_json)
    split = Path(str(data.get(task) or "")).stem
    anno_json = find_annotations(data.get("path"), (f"annotations/instances_{split}.json",))
    if anno_json is None:
        segments = dataset.segments if "segm" in iou_types else None
        anno_json = write_json(labels_to_coco(dataset.im_files, dataset.labels, dataset.shapes, names, class_map,
                                              segments), save_dir / "annotations_from_labels.json")
        LOGGER.info(f"no annotations/instances_{split}.json under {data.get('path')}, "
                    f"ground truth built from the YOLO labels: {anno_json}")
    try:
        ids = [image_id(f) for f in dataset.im_files]
        return tuple(m for t in iou_types for m in pycocotools_map(anno_json, pred_json, ids, t))
    except Exception as e:  # pycocotools asserts on mismatched files; the YOLOv5 metrics above still stand
        LOGGER.info(f"pycocotools unable to run: {e}")
        return None


@dataclass
class Evaluation:
    """One pass over a validation set: the summary of _summarize, images seen, mean losses, ms per image."""

    metrics: dict
    nc: int
    seen: int
    names: dict
    loss: list[float]  # mean val box, obj, cls losses (zeros without compute_loss)
    times: tuple[float, float, float]  # ms per image: pre-process, inference, NMS
    jdict: list  # COCO JSON predictions, collected when a class_map was given

    def results(self, coco: tuple[float, float] | None = None) -> tuple[tuple, np.ndarray, tuple]:
        """YOLOv5's val.run return value: ((P, R, mAP50, mAP50-95, *losses), per-class mAPs, times); the
        pycocotools (mAP50-95, mAP50) replace the YOLOv5 ones when given."""
        m = self.metrics
        map_, map50 = coco if coco is not None else (m["map"], m["map50"])
        maps = np.zeros(self.nc) + map_
        for i, c in enumerate(m["ap_class"]):
            maps[c] = m["ap"][i]
        return (m["mp"], m["mr"], map50, map_, *self.loss), maps, self.times


@torch.no_grad()
def evaluate(model, dataloader, nc: int, conf_thres: float = 0.001, iou_thres: float = 0.6, max_det: int = 300,
             single_cls: bool = False, augment: bool = False, half: bool = False, compute_loss=None,
             save_hybrid: bool = False, plots: bool = False, save_dir: Path = Path(""), save_txt: bool = False,
             save_conf: bool = False, class_map: list | None = None, progress: bool = False) -> Evaluation:
    """Metrics of `model` on `dataloader`. Writes only what is asked: plots and --save-txt labels into save_dir."""
    device = model.device if hasattr(model, "device") else next(model.parameters()).device
    half &= device.type != "cpu"
    model.half() if half else model.float()
    model.eval()
    iouv = iou_thresholds(device)
    confusion_matrix = ConfusionMatrix(nc=nc)
    names = class_names(model)
    seen, stages, loss, jdict, stats = 0, Stages(), torch.zeros(3, device=device), [], []
    batches = tqdm(dataloader, desc=HEADER, bar_format=TQDM_BAR_FORMAT) if progress else dataloader
    for batch_i, (im, targets, paths, shapes) in enumerate(batches):
        stages.start()
        im, targets = to_float_image(im, device, half), targets.to(device)
        nb, _, height, width = im.shape
        stages.end(0)
        preds, train_out = model(im) if compute_loss else (model(im, augment=augment), None)
        stages.end(1)
        if compute_loss:
            loss += compute_loss(train_out, targets)[1]
        targets[:, 2:] *= torch.tensor((width, height, width, height), device=targets.device)
        lb = [targets[targets[:, 0] == i, 1:] for i in range(nb)] if save_hybrid else []
        preds = non_max_suppression(preds, conf_thres, iou_thres, labels=lb, multi_label=True, agnostic=single_cls,
                                    max_det=max_det)
        stages.end(2)

        for si, pred in enumerate(preds):
            seen += 1
            path, shape0, ratio_pad = Path(paths[si]), shapes[si][0], shapes[si][1]
            labelsn = _labels_in_pixels(targets, si, im[si].shape[1:], shape0, ratio_pad)
            if pred.shape[0] == 0:
                if labelsn.shape[0]:
                    no_match = torch.zeros((0, iouv.numel()), dtype=torch.bool, device=device)
                    stats.append((no_match, *torch.zeros((2, 0), device=device), labelsn[:, 0]))
                    if plots:
                        confusion_matrix.process_batch(detections=None, labels=labelsn)
                continue
            if single_cls:
                pred[:, 5] = 0
            predn, correct = _score_image(pred, labelsn, im[si].shape[1:], shape0, ratio_pad, iouv)
            if plots:
                confusion_matrix.process_batch(predn, labelsn)
            stats.append((correct, pred[:, 4], pred[:, 5], labelsn[:, 0]))
            if save_txt:
                write_yolo_labels(save_dir / "labels" / f"{path.stem}.txt", predn, shape0, save_conf)
            if class_map is not None:
                jdict += predictions_to_json(predn, path, class_map)

        if plots and batch_i < PLOT_BATCHES:
            plot_images(im, targets, paths, save_dir / f"val_batch{batch_i}_labels.jpg", names)
            plot_images(im, output_to_target(preds, max_det=max_det), paths, save_dir / f"val_batch{batch_i}_pred.jpg",
                        names)

    metrics = _summarize(stats, nc, names, plots, save_dir)
    if plots:
        plot_confusion_matrix(confusion_matrix.matrix, nc, names, save_dir)
    model.float()
    times = stages.per_image(seen)
    losses = (loss.cpu() / max(len(dataloader), 1)).tolist()
    return Evaluation(metrics, nc, seen, names, losses, times, jdict)


def report(ev: Evaluation, per_class: bool, task: str = "val") -> None:
    """The YOLOv5 metrics table: the 'all' row, and one row per labelled class when asked."""
    m, seen = ev.metrics, ev.seen
    LOGGER.info(ROW % ("all", seen, m["nt"].sum(), m["mp"], m["mr"], m["map50"], m["map"]))
    if m["nt"].sum() == 0:
        LOGGER.warning(f"WARNING ⚠️ no labels found in {task} set, can not compute metrics without labels")
    if per_class and "ap" in m:
        for i, c in enumerate(m["ap_class"]):
            LOGGER.info(ROW % (ev.names[c], seen, m["nt"][c], m["p"][i], m["r"][i], m["ap50"][i], m["ap"][i]))

