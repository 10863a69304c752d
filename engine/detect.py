"""Detection as a Task: YOLO box labels, the anchor-based loss, mAP validation and the detection plots."""

from __future__ import annotations

import argparse
import random

import numpy as np
import torch
import torch.nn as nn

from models.checkpoints import load_checkpoint
from models.yolo import Model
from utils.checks import check_img_size, check_suffix
from utils.data.config import check_dataset
from utils.data.loaders import create_dataloader
from utils.distributed import local_rank, torch_distributed_zero_first, world_size
from utils.downloads import attempt_download
from utils.evaluation.coco_eval import coco_class_map
from utils.evaluation.detection import class_names, coco_evaluate, evaluate, report
from utils.evaluation.metrics import fitness
from utils.logger import LOGGER, colorstr
from utils.torch_utils import de_parallel, intersect_dicts, to_float_image
from utils.training.autoanchor import check_anchors
from utils.training.class_weights import labels_to_class_weights, labels_to_image_weights
from utils.training.loss import ComputeLoss, scale_loss_gains
from utils.training.run_logger import PROGRESS_COLUMNS, RESULT_KEYS, TRAIN_PLOT_BATCHES, progress_row


def build_model(opt: argparse.Namespace, nc: int, hyp: dict, device: torch.device,
                model_class=Model) -> tuple[nn.Module, dict | None]:
    """The model to train: from --cfg, from --weights, or --cfg with every matching tensor of --weights."""
    weights = str(opt.weights)
    check_suffix(weights, (".pt",), "--weights ")
    if not weights.endswith(".pt"):
        return model_class(opt.cfg, ch=3, nc=nc, anchors=hyp.get("anchors")).to(device), None
    with torch_distributed_zero_first(local_rank()):
        weights = attempt_download(weights)
    ckpt = load_checkpoint(weights, map_location="cpu")
    model = model_class(opt.cfg or ckpt["model"].yaml, ch=3, nc=nc, anchors=hyp.get("anchors")).to(device)
    exclude = ["anchor"] if (opt.cfg or hyp.get("anchors")) and not opt.resume else []
    state = intersect_dicts(ckpt["model"].float().state_dict(), model.state_dict(), exclude=exclude)
    model.load_state_dict(state, strict=False)
    LOGGER.info(f"Transferred {len(state)}/{len(model.state_dict())} items from {weights}")
    return model, ckpt


class DetectTask:
    """YOLOv5 detection: (img, targets, paths, shapes) batches, ComputeLoss, val.py's mAP, fitness 0.1/0.9."""

    name = "detect"
    loss_names = ("box_loss", "obj_loss", "cls_loss")
    metric_keys = RESULT_KEYS[3:7]
    model_class = Model

    def check_dataset(self, opt: argparse.Namespace) -> dict:
        with torch_distributed_zero_first(local_rank()):
            data = check_dataset(opt.data)
        self.is_coco = isinstance(data["val"], str) and data["val"].endswith("coco/val2017.txt")
        return data

    def build_model(self, opt, nc: int, hyp: dict, device: torch.device):
        return build_model(opt, nc, hyp, device, self.model_class)

    def image_size(self, model: nn.Module, opt: argparse.Namespace) -> tuple[int, int]:
        gs = max(int(model.stride.max()), 32)
        return gs, check_img_size(opt.imgsz, gs, floor=gs * 2)

    def loader(self, trainer, path, batch_size: int, train: bool, **kwargs):
        """create_dataloader with the run's settings; the task's own keyword arguments (masks) added by kwargs."""
        opt = trainer.opt
        if train:
            return create_dataloader(
                path, trainer.imgsz, batch_size, trainer.gs, opt.single_cls, hyp=trainer.hyp, augment=True,
                cache=None if opt.cache == "val" else opt.cache, rect=opt.rect, rank=local_rank(),
                workers=opt.workers, image_weights=opt.image_weights, quad=opt.quad, prefix=colorstr("train: "),
                shuffle=True, seed=opt.seed, nc=int(trainer.data["nc"]), **kwargs)
        return create_dataloader(
            path, trainer.imgsz, batch_size, trainer.gs, opt.single_cls, hyp=trainer.hyp,
            cache=None if opt.noval else opt.cache, rect=True, rank=-1, workers=opt.workers * 2, pad=0.5,
            prefix=colorstr("val: "), nc=int(trainer.data["nc"]), **kwargs)

    def dataloaders(self, trainer):
        per_rank = trainer.batch_size // world_size()
        train_loader, dataset = self.loader(trainer, trainer.data["train"], per_rank, train=True)
        val_loader = self.loader(trainer, trainer.data["val"], per_rank * 2, train=False)[0] if trainer.main else None
        return train_loader, dataset, val_loader

    def before_training(self, trainer) -> None:
        """AutoAnchor (not with a teacher: its outputs are distilled per anchor) and labels.jpg."""
        opt = trainer.opt
        if not opt.resume:
            if getattr(opt, "teacher", "") and not opt.noautoanchor:
                LOGGER.info(f"{colorstr('AutoAnchor: ')}skipped with --teacher: its outputs are distilled per anchor")
            elif not opt.noautoanchor:
                check_anchors(trainer.dataset, model=trainer.model, thr=trainer.hyp["anchor_t"], imgsz=trainer.imgsz)
            trainer.model.half().float()  # round the anchors to what an fp16 checkpoint stores
        if trainer.plots:
            from utils.evaluation.plots import plot_labels

            labels = [x for x in trainer.dataset.labels if len(x)]
            plot_labels(np.concatenate(labels or [np.zeros((0, 5))], 0), trainer.names, trainer.save_dir)

    def criterion(self, trainer):
        """ComputeLoss with the gains scaled to this model and image size; the model keeps them as YOLOv5's `hyp`."""
        m = de_parallel(trainer.model)
        hyp = scale_loss_gains({**trainer.hyp, "weight_decay": trainer.weight_decay}, m.model[-1].nl, trainer.nc,
                               trainer.imgsz, trainer.opt.label_smoothing)
        m.nc, m.hyp, m.names = trainer.nc, hyp, trainer.names
        m.class_weights = labels_to_class_weights(trainer.dataset.labels, trainer.nc).to(trainer.device) * trainer.nc
        self.compute_loss = ComputeLoss(trainer.model, hyp)
        return lambda preds, batch: self.compute_loss(preds, batch["targets"])

    def preprocess(self, batch, device: torch.device) -> dict:
        imgs, targets, paths, shapes = batch
        return {"img": to_float_image(imgs, device), "targets": targets.to(device),
                "paths": paths, "shapes": shapes}

    def amp_scores(self, output) -> torch.Tensor:
        return output[0][..., 4:]

    def on_train_epoch_start(self, trainer) -> None:
        """--image-weights: draw this epoch's images by class weights and last epoch's per-class mAP."""
        if trainer.opt.image_weights:
            cw = de_parallel(trainer.model).class_weights.cpu().numpy() * (1 - trainer.maps) ** 2 / trainer.nc
            iw = labels_to_image_weights(trainer.dataset.labels, nc=trainer.nc, class_weights=cw)
            trainer.dataset.indices = random.choices(range(trainer.dataset.n), weights=iw, k=trainer.dataset.n)

    def validate(self, trainer, model: nn.Module, final: bool):
        """Each epoch: the 'all' row; final (best.pt): the per-class table, plots, and on COCO pycocotools' mAP."""
        if not final:
            ev = evaluate(model, trainer.val_loader, trainer.nc, single_cls=trainer.opt.single_cls, half=trainer.amp,
                          compute_loss=self.compute_loss, progress=True)
            report(ev, per_class=False)
            results, maps, _ = ev.results()
            return results, maps
        class_map = coco_class_map(class_names(model)) if self.is_coco else None
        ev = evaluate(model, trainer.val_loader, trainer.nc, iou_thres=0.65 if self.is_coco else 0.60,
                      single_cls=trainer.opt.single_cls, half=trainer.amp, compute_loss=self.compute_loss,
                      plots=trainer.plots, save_dir=trainer.save_dir, class_map=class_map, progress=True)
        report(ev, per_class=trainer.nc > 1)
        coco = None
        if ev.jdict:
            coco = coco_evaluate(ev.jdict, trainer.val_loader.dataset, trainer.data, "val", None, ev.names, class_map,
                                 trainer.save_dir)
        results, maps, _ = ev.results(coco)
        return results, maps

    def fitness(self, results: tuple) -> float:
        return float(fitness(np.array(results).reshape(1, -1))[0])

    def progress_columns(self) -> tuple[str, ...]:
        return PROGRESS_COLUMNS

    def progress_row(self, epoch: int, epochs: int, mean_loss: torch.Tensor, batch: dict) -> str:
        return progress_row(epoch, epochs, mean_loss, batch["targets"].shape[0], batch["img"].shape[-1])

    def plot_batch(self, trainer, batch: dict, ni: int) -> None:
        if ni < TRAIN_PLOT_BATCHES:
            from utils.evaluation.plots import plot_images

            plot_images(batch["img"], batch["targets"], batch["paths"], trainer.save_dir / f"train_batch{ni}.jpg",
                        names=trainer.names)
