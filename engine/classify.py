"""Image classification as a Task: ImageNet-style folders, label-smoothed cross-entropy, top-1/top-5 validation."""

from __future__ import annotations

import argparse

import torch
import torch.nn as nn

from models.classify import build_classifier
from utils.data.classify_config import check_cls_dataset
from utils.data.classify_dataset import create_classification_dataloader
from utils.distributed import local_rank, world_size
from utils.evaluation.classify_metrics import evaluate, print_results
from utils.logger import colorstr
from utils.torch_utils import smartCrossEntropyLoss
from utils.training.lr_schedule import CLASSIFY_LRF


def classify_hyp(opt: argparse.Namespace) -> dict:
    """classify/train.py has no hyp file: lr0 and decay are flags, momentum 0.9, a linear decay to lr0 * 0.01, no
    warmup and no gradient accumulation (YOLOv5 v7.0)."""
    return {"lr0": opt.lr0, "lrf": CLASSIFY_LRF, "momentum": 0.9, "weight_decay": opt.decay, "warmup_epochs": 0,
            "accumulate": False}


class ClassifyTask:
    """YOLOv5 v7.0 classification: (images, labels) batches, cross-entropy, top1 as fitness; the LR schedule without
    detection's one-epoch lag, 'lr/0' logged after the scheduler step (the next epoch's LR, as v7.0 writes it)."""

    name = "classify"
    loss_names = ("loss",)
    metric_keys = ("metrics/accuracy_top1", "metrics/accuracy_top5")
    lr_keys = ("lr/0",)
    lr_after_step = True
    csv_columns = ("train/loss", "val/loss", "metrics/accuracy_top1", "metrics/accuracy_top5", "lr/0")
    csv_width = 23

    def check_dataset(self, opt: argparse.Namespace) -> dict:
        return check_cls_dataset(opt.data)

    def build_model(self, opt: argparse.Namespace, nc: int, hyp: dict, device: torch.device):
        model = build_classifier(opt.model, nc, cutoff=opt.cutoff or 10, pretrained=opt.pretrained,
                                 dropout=opt.dropout)
        return model.to(device), None

    def image_size(self, model: nn.Module, opt: argparse.Namespace) -> tuple[int, int]:
        return 32, opt.imgsz

    def dataloaders(self, trainer):
        opt, per_rank = trainer.opt, trainer.batch_size // world_size()
        train = create_classification_dataloader(trainer.data["train"], trainer.imgsz, per_rank, augment=True,
                                                 cache=opt.cache, rank=local_rank(), workers=opt.workers,
                                                 seed=opt.seed, prefix=colorstr("train: "))
        classes = train.dataset.classes
        val = None
        if trainer.main:
            val = create_classification_dataloader(trainer.data["val"], trainer.imgsz, per_rank * 2, augment=False,
                                                   cache=opt.cache, rank=-1, workers=opt.workers, shuffle=False,
                                                   classes=classes, prefix=colorstr("val: "))
        trainer.model.names = dict(enumerate(classes))  # transforms are not pickled: predict.py makes its own
        return train, train.dataset, val

    def before_training(self, trainer) -> None:
        """Nothing to fit to the data: a classifier has no anchors."""

    def criterion(self, trainer):
        self.compute_loss = smartCrossEntropyLoss(label_smoothing=trainer.opt.label_smoothing)

        def loss(preds: torch.Tensor, batch: dict) -> tuple[torch.Tensor, torch.Tensor]:
            value = self.compute_loss(preds, batch["labels"])
            return value, value.detach().view(1)
        return loss

    def preprocess(self, batch, device: torch.device) -> dict:
        images, labels = batch
        return {"img": images.to(device, non_blocking=True), "labels": labels.to(device)}

    def amp_scores(self, output) -> torch.Tensor:
        return output.softmax(1)

    def validate(self, trainer, model: nn.Module, final: bool):
        res = evaluate(model, trainer.val_loader, self.compute_loss, device=trainer.device)
        print_results(res, trainer.names, per_class=final and getattr(trainer.opt, "verbose", False))
        return (res.top1, res.top5, res.loss), None

    def fitness(self, results: tuple) -> float:
        return float(results[0])

    def progress_columns(self) -> tuple[str, ...]:
        return "Epoch", "GPU_mem", "train_loss"

    def progress_row(self, epoch: int, epochs: int, mean_loss: torch.Tensor, batch: dict) -> str:
        mem = f"{torch.cuda.memory_reserved() / 1e9 if torch.cuda.is_available() else 0:.3g}G"
        return ("%11s" * 2 + "%11.4g") % (f"{epoch}/{epochs - 1}", mem, float(mean_loss[0]))

    def plot_batch(self, trainer, batch: dict, ni: int) -> None:
        """Classifier batches are not drawn (YOLOv5's train_images.jpg is left out)."""
