"""The Task seam: what a task (detection, segmentation, classification) supplies to the one training loop.

The Trainer (engine/trainer.py) owns the loop, devices, DDP, AMP, EMA, optimizer and schedule, checkpoints, resume,
early stopping and callbacks; everything that depends on what the model predicts comes from a Task. Tasks are plain
classes written against this protocol (composition, no base class to inherit); a new task is one such class plus its
entry script (see docs/architecture.md).

Optional members, read with getattr: `lr_keys` (results.csv LR columns, default x/lr0..2), `lr_after_step` (PyTorch's
schedule convention and the LR logged after the step, as classify/train.py; default: detection's one-epoch lag),
`csv_columns` / `csv_width` (results.csv's column order and field width where YOLOv5 writes them otherwise than
detection's: its seg and cls runs pad to 23, and cls puts val/loss second), `cli_defaults()` / `add_arguments(parser)`
(train.py's flags for the task), and any callback hook method
(`on_train_epoch_start(trainer)`, ...: the Trainer registers the task like a plug-in).
"""

from __future__ import annotations

import argparse
from typing import Any, Protocol

import torch
import torch.nn as nn


class Task(Protocol):
    name: str  # 'detect', 'segment', 'classify': logs and trackers name the run's task with it
    loss_names: tuple[str, ...]  # the loss items the criterion returns, in order ('box_loss', 'obj_loss', ...)
    metric_keys: tuple[str, ...]  # results.csv metric columns, in the order `validate` returns them

    def check_dataset(self, opt: argparse.Namespace) -> dict:
        """The data dict: 'train', 'val', 'nc', 'names' at least; raises UserError naming what is wrong."""

    def build_model(self, opt: argparse.Namespace, nc: int, hyp: dict, device: torch.device) -> tuple[nn.Module, Any]:
        """(model, checkpoint dict or None) from --cfg/--weights/--model; the head checked against the task."""

    def image_size(self, model: nn.Module, opt: argparse.Namespace) -> tuple[int, int]:
        """(grid size, checked training image size)."""

    def dataloaders(self, trainer) -> tuple[Any, Any, Any]:
        """(train loader, train dataset, val loader or None off rank 0)."""

    def before_training(self, trainer) -> None:
        """Rank 0, once data and model are ready: dataset checks against the model (AutoAnchor), label plots."""

    def criterion(self, trainer) -> Any:
        """The loss: called as criterion(preds, batch) -> (loss scaled by batch size, detached loss items)."""

    def preprocess(self, batch: Any, device: torch.device) -> dict:
        """A loader batch as a dict with at least 'img' (float, on device), 'paths' and what the criterion reads."""

    def amp_scores(self, output: Any) -> torch.Tensor:
        """The part of an eval-mode output that the AMP check compares between fp32 and autocast."""

    def validate(self, trainer, model: nn.Module, final: bool) -> tuple[tuple[float, ...], Any]:
        """(metrics in metric_keys order followed by the val loss items, per-class values) of model on the val set;
        final: the closing validation of best.pt (per-class table, plots, JSON)."""

    def fitness(self, results: tuple[float, ...]) -> float:
        """The single number that picks best.pt and drives early stopping."""

    def progress_columns(self) -> tuple[str, ...]:
        """Titles of the progress-bar columns."""

    def progress_row(self, epoch: int, epochs: int, mean_loss: torch.Tensor, batch: dict) -> str:
        """The progress-bar description for the running mean losses of this batch."""

    def plot_batch(self, trainer, batch: dict, ni: int) -> None:
        """train_batch{ni}.jpg for the first batches (when plots are on)."""
