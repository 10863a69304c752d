"""Segmentation validation as a library: box and mask metrics of a seg model on a seg loader, YOLOv5 v7.0's table,
and COCO JSON with RLE masks. segment/val.py and the training engine call `evaluate` and `report`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from utils.boxes import write_yolo_labels
from utils.evaluation.coco_eval import predictions_to_json
from utils.evaluation.detection import PLOT_BATCHES, _labels_in_pixels, _score_image, class_names
from utils.evaluation.metrics import ConfusionMatrix, iou_thresholds
from utils.evaluation.plots import output_to_target, plot_confusion_matrix, plot_images
from utils.evaluation.seg_metrics import Metrics, ap_per_class_box_and_mask, match_mask_predictions
from utils.inference.nms import non_max_suppression
from utils.logger import LOGGER
from utils.masks import process_mask, process_mask_upsample, scale_image
from utils.torch_utils import to_float_image
from utils.training.run_logger import TQDM_BAR_FORMAT
from utils.inference.stages import Stages

PLOT_MASKS = 15  # predictions drawn per image in val_batch*_pred.jpg, as v7.0

HEADER = ("%22s" + "%11s" * 10) % ("Class", "Images", "Instances", "Box(P", "R", "mAP50", "mAP50-95)", "Mask(P", "R",
                                   "mAP50", "mAP50-95)")
ROW = "%22s" + "%11i" * 2 + "%11.3g" * 8


@dataclass
class SegEvaluation:
    """One pass over a seg validation set: box and mask metrics, label counts, mean losses, ms per image."""

    metrics: Metrics
    nt: np.ndarray  # labels per class
    nc: int
    seen: int
    names: dict
    loss: list[float]  # mean val box, seg, obj, cls losses (zeros without compute_loss)
    times: tuple[float, float, float]  # ms per image: pre-process, inference, NMS
    jdict: list  # COCO JSON predictions with RLE masks, collected when a class_map was given

    def results(self, coco: tuple[float, float, float, float] | None = None) -> tuple[tuple, np.ndarray, tuple]:
        """v7.0's segment val.run return value: ((box P, R, mAP50, mAP50-95, mask P, R, mAP50, mAP50-95, *losses),
        per-class box + mask mAPs, times); pycocotools' (box mAP50-95, mAP50, mask mAP50-95, mAP50) replace the
        YOLOv5 ones when given."""
        mp_b, mr_b, map50_b, map_b, mp_m, mr_m, map50_m, map_m = self.metrics.mean_results()
        if coco is not None:
            map_b, map50_b, map_m, map50_m = coco
        return ((mp_b, mr_b, map50_b, map_b, mp_m, mr_m, map50_m, map_m, *self.loss),
                self.metrics.get_maps(self.nc), self.times)


def rle_masks(masks: np.ndarray) -> list[dict]:
    """COCO run-length encodings (JSON-ready) of (h, w, n) 0/1 uint8 masks."""
    from pycocotools import mask as mask_utils

    rles = mask_utils.encode(np.asfortranarray(masks))
    for r in rles:
        r["counts"] = r["counts"].decode("utf-8")
    return rles


def _forward(model, im: torch.Tensor, augment: bool, compute_loss, targets: torch.Tensor,
             masks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """Decoded predictions, prototypes and, with compute_loss, the [box, seg, obj, cls] loss of one batch."""
    if compute_loss:
        preds, protos, train_out = model(im)
        return preds, protos, compute_loss((train_out, protos), targets, masks)[1]
    preds, protos = model(im, augment=augment)[:2]
    return preds, protos, None


@torch.no_grad()
def evaluate(model, dataloader, nc: int, conf_thres: float = 0.001, iou_thres: float = 0.6, max_det: int = 300,
             single_cls: bool = False, augment: bool = False, half: bool = False, compute_loss=None,
             save_hybrid: bool = False, plots: bool = False, save_dir: Path = Path(""), save_txt: bool = False,
             save_conf: bool = False, class_map: list | None = None, overlap: bool = False, nm: int = 32,
             progress: bool = False) -> SegEvaluation:
    """Box and mask metrics of a seg `model` on a loader of (imgs, targets, paths, shapes, masks) batches.

    overlap: the loader's masks are one index mask per image. class_map collects COCO JSON records with masks made
    at input resolution (more accurate, as v7.0 does for --save-json); otherwise masks stay at prototype resolution."""
    device = model.device if hasattr(model, "device") else next(model.parameters()).device
    half &= device.type != "cpu"
    model.half() if half else model.float()
    model.eval()
    iouv = iou_thresholds(device)
    confusion_matrix = ConfusionMatrix(nc=nc)
    names = class_names(model)
    process = process_mask_upsample if class_map is not None else process_mask
    seen, stages, loss, jdict, stats = 0, Stages(), torch.zeros(4, device=device), [], []
    batches = tqdm(dataloader, desc=HEADER, bar_format=TQDM_BAR_FORMAT) if progress else dataloader
    for batch_i, (im, targets, paths, shapes, masks) in enumerate(batches):
        plot_masks = []  # the first PLOT_MASKS predicted masks of each image, for the val_batch*_pred plots
        stages.start()
        im, targets, masks = to_float_image(im, device, half), targets.to(device), masks.to(device).float()
        nb, _, height, width = im.shape
        stages.end(0)
        preds, protos, batch_loss = _forward(model, im, augment, compute_loss, targets, masks)
        if batch_loss is not None:
            loss += batch_loss
        stages.end(1)
        targets[:, 2:] *= torch.tensor((width, height, width, height), device=targets.device)
        lb = [targets[targets[:, 0] == i, 1:] for i in range(nb)] if save_hybrid else []
        preds = non_max_suppression(preds, conf_thres, iou_thres, labels=lb, multi_label=True, agnostic=single_cls,
                                    max_det=max_det, nm=nm)
        stages.end(2)

        for si, (pred, proto) in enumerate(zip(preds, protos)):
            seen += 1
            path, shape0, ratio_pad = Path(paths[si]), shapes[si][0], shapes[si][1]
            labelsn = _labels_in_pixels(targets, si, im[si].shape[1:], shape0, ratio_pad)
            if pred.shape[0] == 0:
                if labelsn.shape[0]:
                    no_match = torch.zeros((0, iouv.numel()), dtype=torch.bool, device=device)
                    stats.append((no_match, no_match, *torch.zeros((2, 0), device=device), labelsn[:, 0]))
                    if plots:
                        confusion_matrix.process_batch(detections=None, labels=labelsn)
                continue
            gt_masks = masks[[si]] if overlap else masks[targets[:, 0] == si]
            pred_masks = process(proto, pred[:, 6:], pred[:, :4], shape=im[si].shape[1:])
            if plots and batch_i < PLOT_BATCHES:
                plot_masks.append(pred_masks[:PLOT_MASKS].cpu())
            if single_cls:
                pred[:, 5] = 0
            predn, correct_boxes = _score_image(pred[:, :6], labelsn, im[si].shape[1:], shape0, ratio_pad, iouv)
            correct_masks = match_mask_predictions(predn, labelsn, iouv, pred_masks, gt_masks, overlap)
            if plots:
                confusion_matrix.process_batch(predn, labelsn)
            stats.append((correct_masks, correct_boxes, pred[:, 4], pred[:, 5], labelsn[:, 0]))
            if save_txt:
                write_yolo_labels(save_dir / "labels" / f"{path.stem}.txt", predn, shape0, save_conf)
            if class_map is not None:
                jdict += _json_records(predn, pred_masks, path, class_map, im[si].shape[1:], shape0, ratio_pad)

        if plots and batch_i < PLOT_BATCHES:
            plot_images(im, targets, paths, save_dir / f"val_batch{batch_i}_labels.jpg", names, masks=masks,
                        index_masks=overlap)
            plot_images(im, output_to_target(preds, max_det=PLOT_MASKS), paths,
                        save_dir / f"val_batch{batch_i}_pred.jpg", names,
                        masks=torch.cat(plot_masks) if plot_masks else None)

    metrics, nt = _summarize(stats, nc, names, plots, save_dir)
    if plots:
        plot_confusion_matrix(confusion_matrix.matrix, nc, names, save_dir)
    model.float()
    times = stages.per_image(seen)
    losses = (loss.cpu() / max(len(dataloader), 1)).tolist()
    return SegEvaluation(metrics, nt, nc, seen, names, losses, times, jdict)


def _json_records(predn: torch.Tensor, pred_masks: torch.Tensor, path: Path, class_map: list, img_shape: tuple,
                  shape0: tuple, ratio_pad) -> list[dict]:
    """COCO records of one image: boxes as detection's, each with its mask mapped to the original image as RLE."""
    masks = pred_masks.to(torch.uint8).permute(1, 2, 0).contiguous().cpu().numpy()
    masks = scale_image(img_shape, masks, shape0, ratio_pad)
    records = predictions_to_json(predn, path, class_map)
    for record, rle in zip(records, rle_masks(masks)):
        record["segmentation"] = rle
    return records


def _summarize(stats: list, nc: int, names: dict, plots: bool, save_dir: Path) -> tuple[Metrics, np.ndarray]:
    """Box and mask metrics over the whole set from per-image (mask tp, box tp, conf, cls, target cls) tuples, and
    labels per class. As v7.0, all stay zero when no mask is a true positive."""
    stats = [torch.cat(x, 0).cpu().numpy() for x in zip(*stats)]
    metrics = Metrics()
    if len(stats) and stats[0].any():
        metrics.update(ap_per_class_box_and_mask(*stats, plot=plots, save_dir=save_dir, names=names))
    nt = np.bincount(stats[4].astype(int), minlength=nc) if len(stats) else np.zeros(nc, int)
    return metrics, nt


def report(ev: SegEvaluation, per_class: bool, task: str = "val") -> None:
    """v7.0's seg metrics table: the 'all' row, and one row per labelled class when asked."""
    LOGGER.info(ROW % ("all", ev.seen, ev.nt.sum(), *ev.metrics.mean_results()))
    if ev.nt.sum() == 0:
        LOGGER.warning(f"WARNING ⚠️ no labels found in {task} set, can not compute metrics without labels")
    if per_class:
        for i, c in enumerate(ev.metrics.ap_class_index):
            LOGGER.info(ROW % (ev.names[c], ev.seen, ev.nt[c], *ev.metrics.class_result(i)))
