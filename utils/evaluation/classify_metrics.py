"""Classifier accuracy as YOLOv5 v7.0's classify/val.py computes it: top-1 and top-5 over all samples, the loss
averaged over batches (not samples), and its console table (`Class Images top1_acc top5_acc`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable

import torch
import torch.nn as nn
from tqdm import tqdm

from utils.data.label_scan import TQDM_BAR_FORMAT
from utils.errors import UserError
from utils.logger import LOGGER
from utils.inference.stages import Stages


@dataclass
class ClassifyResults:
    """What one evaluation found: accuracies, mean batch loss, per-sample (top1, top5) hits and their labels."""

    top1: float
    top5: float
    loss: float
    correct: torch.Tensor  # (n, 2) float: label is the top-1 class / among the top 5
    targets: torch.Tensor  # (n,) labels
    seconds: tuple[float, float, float]  # pre-process, inference, post-process (all batches)

    def class_accuracy(self, c: int) -> tuple[int, float, float]:
        """(images, top1, top5) of the samples labelled c; nan accuracies when there are none (as YOLOv5)."""
        hits = self.correct[self.targets == c]
        top1, top5 = hits.mean(0).tolist() if len(hits) else (float("nan"), float("nan"))
        return len(hits), top1, top5


def check_scores(y: object) -> None:
    """A classifier's output is one (batch, classes) tensor; a detector's (tuple, or 3-D rows) is refused here."""
    if not (isinstance(y, torch.Tensor) and y.ndim == 2):
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else f"a {type(y).__name__}"
        raise UserError(f"the model outputs {shape}, not (batch, classes) scores: it is not a classifier")


def topk_hits(topk: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(n, 2) hits from each sample's top-k class indices (best first): label == first index, label among them."""
    correct = (targets[:, None] == topk).float()
    return torch.stack((correct[:, 0], correct.max(1).values), dim=1)


@torch.no_grad()
def evaluate(model: nn.Module | Callable, dataloader: Iterable, criterion: Callable | None = None,
             device: torch.device | str | None = None, desc: str = "validating",
             progress: bool = True) -> ClassifyResults:
    """Run model over (images, labels) batches; autocast on CUDA as YOLOv5. The loss is criterion's value summed
    over batches and divided by their count."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if isinstance(model, nn.Module):
        model.eval()
    topk, targets, loss, n, stages = [], [], 0.0, 0, Stages()
    bar = tqdm(dataloader, desc, bar_format=TQDM_BAR_FORMAT, disable=not progress)
    with torch.autocast(device.type, enabled=device.type == "cuda"):
        for images, labels in bar:
            stages.start()
            images, labels = images.to(device, non_blocking=True), labels.to(device)
            stages.end(0)
            y = model(images)
            stages.end(1)
            check_scores(y)
            topk.append(y.argsort(1, descending=True)[:, :5])
            targets.append(labels)
            if criterion:
                loss = loss + criterion(y, labels)
            n += 1
            stages.end(2)
    targets = torch.cat(targets)
    correct = topk_hits(torch.cat(topk), targets)
    top1, top5 = correct.mean(0).tolist()
    loss = float(loss / n) if criterion else 0.0
    return ClassifyResults(top1, top5, loss, correct.cpu(), targets.cpu(), tuple(stages.seconds))


def print_results(results: ClassifyResults, names: dict[int, str], per_class: bool = True) -> None:
    """YOLOv5's table: the 'all' row, then one row per class name when per_class."""
    LOGGER.info(f"{'Class':>24}{'Images':>12}{'top1_acc':>12}{'top5_acc':>12}")
    LOGGER.info(f"{'all':>24}{len(results.targets):>12}{results.top1:>12.3g}{results.top5:>12.3g}")
    if per_class:
        for i, c in names.items():
            n, top1, top5 = results.class_accuracy(i)
            LOGGER.info(f"{c:>24}{n:>12}{top1:>12.3g}{top5:>12.3g}")
