"""Instance segmentation as a Task: detection's data, loss and validation with polygon masks and mask coefficients."""

from __future__ import annotations

import argparse

import numpy as np
import torch

from engine.detect import DetectTask
from models.yolo import SegmentationModel
from utils.evaluation.segment_val import evaluate, report
from utils.evaluation.seg_metrics import seg_fitness
from utils.files import root_rel
from utils.training.run_logger import PROGRESS_COLUMNS, TRAIN_PLOT_BATCHES
from utils.training.seg_loss import SegmentationLoss

METRIC_KEYS = ("metrics/precision(B)", "metrics/recall(B)", "metrics/mAP_0.5(B)", "metrics/mAP_0.5:0.95(B)",
               "metrics/precision(M)", "metrics/recall(M)", "metrics/mAP_0.5(M)", "metrics/mAP_0.5:0.95(M)")


class SegmentTask(DetectTask):
    """YOLOv5 v7.0 segmentation: batches add masks at 1/--mask-ratio (one index mask per image unless --no-overlap),
    the loss adds a mask term, validation scores boxes and masks, fitness weighs both."""

    name = "segment"
    loss_names = ("box_loss", "seg_loss", "obj_loss", "cls_loss")
    metric_keys = METRIC_KEYS
    csv_width = 23  # YOLOv5's seg and cls runs write results.csv through its GenericLogger
    model_class = SegmentationModel

    @staticmethod
    def cli_defaults() -> dict:
        return {"weights": root_rel() / "yolov5s-seg.pt", "data": root_rel() / "data/coco128-seg.yaml",
                "project": root_rel() / "runs/train-seg"}

    @staticmethod
    def add_arguments(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--mask-ratio", type=int, default=4, help="Downsample the truth masks to saving memory")
        parser.add_argument("--no-overlap", action="store_true", help="Overlap masks train faster at slightly less mAP")

    def overlap(self, trainer) -> bool:
        return not trainer.opt.no_overlap

    def loader(self, trainer, path, batch_size: int, train: bool, **kwargs):
        return super().loader(trainer, path, batch_size, train, segments=True, mask_ratio=trainer.opt.mask_ratio,
                              overlap=self.overlap(trainer), **kwargs)

    def criterion(self, trainer):
        super().criterion(trainer)  # the scaled gains and class weights on the model, as for detection
        self.compute_loss = SegmentationLoss(trainer.model, self.compute_loss.hyp, overlap=self.overlap(trainer))
        return lambda preds, batch: self.compute_loss(preds, batch["targets"], batch["masks"])

    def preprocess(self, batch, device: torch.device) -> dict:
        out = super().preprocess(batch[:4], device)
        out["masks"] = batch[4].to(device).float()
        return out

    def validate(self, trainer, model, final: bool):
        """Each epoch: the 'all' row of boxes and masks; final (best.pt): per-class rows and plots."""
        ev = evaluate(model, trainer.val_loader, trainer.nc, iou_thres=0.6, single_cls=trainer.opt.single_cls,
                      half=trainer.amp, compute_loss=self.compute_loss, overlap=self.overlap(trainer),
                      plots=final and trainer.plots, save_dir=trainer.save_dir, progress=True)
        report(ev, per_class=final and trainer.nc > 1)
        results, maps, _ = ev.results()
        return results, maps

    def fitness(self, results: tuple) -> float:
        return float(seg_fitness(np.array(results).reshape(1, -1))[0])

    def progress_columns(self) -> tuple[str, ...]:
        return (*PROGRESS_COLUMNS[:3], "seg_loss", *PROGRESS_COLUMNS[3:])

    def plot_batch(self, trainer, batch: dict, ni: int) -> None:
        if ni < TRAIN_PLOT_BATCHES:
            from utils.evaluation.plots import plot_images

            plot_images(batch["img"], batch["targets"], batch["paths"], trainer.save_dir / f"train_batch{ni}.jpg",
                        names=trainer.names, masks=batch["masks"], index_masks=self.overlap(trainer))
