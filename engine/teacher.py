"""--teacher as a training plug-in: a frozen teacher's outputs and features become extra loss terms of the detection
task, without the training loop knowing about teachers (the terms themselves are engine/distillation.py's)."""

from __future__ import annotations

import torch

from engine.distillation import DIST_HYP, Distiller, load_teacher
from engine.warm_start import warm_start
from utils.logger import LOGGER
from utils.torch_compile import compile_fn
from utils.torch_utils import is_parallel


class Distillation:
    """--teacher WEIGHTS: loads the teacher once the student exists, optionally warm-starts the student on it, then
    adds the Distiller's loss to every step; its 1x1 adapters train with the student but never enter a checkpoint."""

    hyp_defaults = DIST_HYP  # hyp files and --evolve may set them

    def __init__(self, weights: str, warmup_steps: int = 0, warmup_images: str = ""):
        self.weights, self.warmup_steps, self.warmup_images = weights, warmup_steps, warmup_images
        self.teacher = self.distiller = None

    def on_model_ready(self, trainer) -> None:
        opt = trainer.opt
        self.teacher = load_teacher(self.weights, trainer.model, trainer.device)
        if self.warmup_steps and not opt.resume and trainer.main:
            warm_start(trainer.model, self.weights, self.warmup_images or trainer.data["train"], trainer.imgsz,
                       self.warmup_steps, trainer.batch_size, trainer.hyp, opt.seed)

    def param_groups(self, trainer) -> list[list[torch.nn.Parameter]]:
        """The adapters' parameters as one optimizer group (the Distiller is built here, after the student's
        optimizer, so the adapters draw their initial weights where they always did)."""
        self.distiller = Distiller(trainer.model, self.teacher, trainer.hyp)
        return [self.distiller.params] if self.distiller.params else []

    def wrap_forward(self, trainer, forward):
        """The student's forward with its Detect inputs kept for the feature term: with --compile (one process), the
        model's forward_with_head_inputs compiled whole; otherwise the trainer's forward under a pre-hook on Detect
        (DDP's forward must run for its gradient sync)."""
        model = trainer.model
        if getattr(trainer.opt, "compile", False) and not is_parallel(model):
            run = compile_fn(model.forward_with_head_inputs, trainer.device, "train: ")

            def compiled(imgs: torch.Tensor):
                preds, features = run(imgs)
                self.distiller.keep_student_inputs(features)
                return preds
            return compiled
        return lambda imgs: self.distiller.student_forward(model, imgs, forward)

    def loss(self, batch: dict, preds) -> torch.Tensor:
        return self.distiller.loss(batch["img"], preds)

    def on_train_epoch_end(self, trainer) -> None:
        if trainer.main:
            LOGGER.info(self.distiller.summary())

    def optimizer_state(self, optimizer: torch.optim.Optimizer, state: dict) -> dict:
        return self.distiller.optimizer_state(optimizer)
