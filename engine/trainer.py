"""The one training loop of every task: devices, DDP, AMP, EMA, optimizer and schedule, checkpoints, resume, early
stopping and callbacks. What depends on the task (data, model head, loss, validation, plots) comes from a Task
(engine/task.py); run logging, experiment trackers and distillation attach through utils/callbacks.py."""

from __future__ import annotations

import argparse
import math
import random
import time
from copy import deepcopy
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
from tqdm import tqdm

from engine.task import Task
from models.checkpoints import save_checkpoint, strip_optimizer
from models.loading import attempt_load
from utils.callbacks import Callbacks
from utils.distributed import local_rank, rank, world_size
from utils.checks import check_freeze
from utils.errors import UserError
from utils.files import yaml_save
from utils.logger import LOGGER, colorstr
from utils.loggers import experiment_loggers
from utils.torch_compile import compile_fn
from utils.torch_utils import ModelEMA, de_parallel, deterministic_algorithms, init_seeds, smart_optimizer
from utils.training.autobatch import check_train_batch_size
from utils.training.early_stopping import EarlyStopping
from utils.training.lr_schedule import accumulation, apply_warmup, lr_lambda, warmup_iterations
from engine.resume import restore_state, restore_training_state, training_state
from utils.training.run_logger import TQDM_BAR_FORMAT, RunLogger, progress_header

GRAD_CLIP = 10.0


def check_amp(model: nn.Module, device: torch.device, imgsz: int, scores=lambda y: y[0][..., 4:]) -> bool:
    """Mixed precision on CUDA only, and only when an autocast forward pass agrees with fp32 on this model."""
    prefix = colorstr("AMP: ")
    if device.type != "cuda":
        return False
    m = deepcopy(model).eval()
    x = torch.rand(1, 3, imgsz, imgsz, device=device, generator=torch.Generator(device).manual_seed(0))
    with torch.no_grad():
        fp32 = scores(m(x))
        with torch.autocast("cuda"):
            mixed = scores(m(x)).float()
    ok = bool(torch.isfinite(mixed).all()) and float((fp32 - mixed).abs().max()) < 0.05
    LOGGER.info(f"{prefix}checks passed ✅" if ok else
                f"{prefix}checks failed ❌, disabling Automatic Mixed Precision (outputs differ from fp32)")
    return ok


def freeze_layers(model: nn.Module, freeze: list[int]) -> None:
    """--freeze N: no gradients for the first N layers (--freeze 0 1 2: exactly those layers)."""
    layers = freeze if len(freeze) > 1 else range(freeze[0])
    prefixes = tuple(f"model.{x}." for x in layers)
    for name, p in model.named_parameters():
        p.requires_grad = True
        if name.startswith(prefixes):
            LOGGER.info(f"freezing {name}")
            p.requires_grad = False


class Trainer:
    """One training run of a Task: set up once, then trained epoch by epoch. Plug-ins read its attributes:
    opt, hyp, save_dir, last, best, data, names, nc, model, ema, optimizer, epoch, metrics, fitness, best_fitness."""

    def __init__(self, task: Task, hyp: dict, opt: argparse.Namespace, device: torch.device,
                 plugins: tuple | list = (), callbacks: Callbacks | None = None):
        self.task, self.opt, self.device = task, opt, device
        self.task_name = task.name
        self.cuda = device.type == "cuda"
        self.main = rank() in {-1, 0}
        self.callbacks = callbacks or Callbacks()
        self.plugins = list(plugins)
        for p in (task, *self.plugins):
            self.callbacks.register(p)
        self.save_dir = Path(opt.save_dir)
        self.wdir = self.save_dir / "weights"
        self.last, self.best = self.wdir / "last.pt", self.wdir / "best.pt"
        self.epoch, self.metrics, self.fitness = -1, {}, 0.0
        if self.main:
            (self.wdir.parent if opt.evolve else self.wdir).mkdir(parents=True, exist_ok=True)
        self.hyp = hyp
        self.plots = not opt.evolve and not opt.noplots
        self.callbacks.run("on_pretrain_routine_start", self)
        init_seeds(opt.seed + 1 + rank())  # deterministic kernels: run_training's deterministic_algorithms
        self.data = task.check_dataset(opt)
        self.nc = 1 if getattr(opt, "single_cls", False) else int(self.data["nc"])
        names = self.data["names"]
        self.names = {0: "item"} if getattr(opt, "single_cls", False) and len(names) != 1 else names
        self._setup_model()
        self.train_loader, self.dataset, self.val_loader = task.dataloaders(self)
        if self.main and not opt.resume:
            task.before_training(self)
        self._setup_optimization()
        self.callbacks.run("on_pretrain_routine_end", self)

    def _setup_model(self) -> None:
        opt = self.opt
        self.model, self.ckpt = self.task.build_model(opt, self.nc, self.hyp, self.device)
        self.amp = check_amp(self.model, self.device, 64, self.task.amp_scores)
        if hasattr(self.model, "model"):  # YOLOv5 models; a torchvision classifier has no numbered layers
            check_freeze(opt.freeze, len(self.model.model))
        freeze_layers(self.model, opt.freeze)
        self.gs, self.imgsz = self.task.image_size(self.model, opt)
        self.batch_size = opt.batch_size
        if self.batch_size == -1:  # single process only: init_distributed refuses -1
            self.batch_size = opt.batch_size = check_train_batch_size(self.model, self.imgsz, self.amp)
        for p in self.plugins:
            if hasattr(p, "on_model_ready"):
                p.on_model_ready(self)

    def _setup_optimization(self) -> None:
        opt, hyp = self.opt, self.hyp
        self.accumulate, decay_scale = accumulation(self.batch_size) if hyp.get("accumulate", True) else (1, 1.0)
        self.weight_decay = hyp["weight_decay"] * decay_scale
        self.optimizer = smart_optimizer(self.model, opt.optimizer, hyp["lr0"], hyp["momentum"], self.weight_decay)
        for p in self.plugins:
            for params in p.param_groups(self) if hasattr(p, "param_groups") else []:  # decayed as weights
                self.optimizer.add_param_group({"params": params,
                                                "weight_decay": self.optimizer.param_groups[1]["weight_decay"]})
        self.lf = lr_lambda(opt.epochs, hyp["lrf"], getattr(opt, "cos_lr", False))
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda=self.lf)
        self.ema = ModelEMA(self.model) if self.main else None
        self.best_fitness, self.start_epoch, self.resume_state = 0.0, 0, None
        if self.ckpt is not None and opt.resume:
            self.resume_state = self.ckpt.get("train_state")
            self.best_fitness, self.start_epoch = restore_state(self.ckpt, self.optimizer, self.ema, opt.weights,
                                                                opt.epochs)
        self.ckpt = None
        self._wrap_parallel()
        self.criterion = self.task.criterion(self)
        # YOLOv5's detection schedule lags one epoch (train.py's "do not move"); classify/train.py's does not
        self.scheduler.last_epoch = self.start_epoch - (0 if getattr(self.task, "lr_after_step", False) else 1)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.stopper = EarlyStopping(patience=opt.patience)
        self.forward = compile_fn(self.model, self.device, "train: ") if getattr(opt, "compile", False) else self.model
        for p in self.plugins:
            if hasattr(p, "wrap_forward"):
                self.forward = p.wrap_forward(self, self.forward)

    def _wrap_parallel(self) -> None:
        """DataParallel for several GPUs in one process (discouraged), DistributedDataParallel under torch.distributed."""
        if self.cuda and rank() == -1 and torch.cuda.device_count() > 1:
            LOGGER.warning("WARNING ⚠️ DP not recommended, use torch.distributed.run for best DDP Multi-GPU results.\n"
                           "See Multi-GPU Tutorial at https://docs.ultralytics.com/yolov5/tutorials/multi_gpu_training")
            self.model = nn.DataParallel(self.model)
        if getattr(self.opt, "sync_bn", False) and not (self.cuda and rank() != -1):
            LOGGER.warning("WARNING ⚠️ --sync-bn needs DDP on CUDA (torch.distributed.run with --device 0,1,...), ignored")
        if rank() != -1:
            if getattr(self.opt, "sync_bn", False) and self.cuda:
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model).to(self.device)
                LOGGER.info("Using SyncBatchNorm()")
            ids = [local_rank()] if self.cuda else None
            self.model = nn.parallel.DistributedDataParallel(self.model, device_ids=ids,
                                                             output_device=local_rank() if self.cuda else None)

    def train(self) -> tuple:
        """Run the remaining epochs; then strip and validate the saved weights. Returns the last validation results."""
        try:
            return self._train()
        finally:
            self.callbacks.run("teardown", self)

    def _train(self) -> tuple:
        opt = self.opt
        nb = len(self.train_loader)
        self.nw = warmup_iterations(self.hyp, nb) if self.hyp.get("warmup_epochs", 0) else -1
        self.last_opt_step = -1
        self.first_bad: tuple[int, int] | None = None  # (epoch, batch) of the first NaN loss since the last step
        self.maps = np.zeros(self.nc)
        self.results = (0.0,) * (len(self.task.metric_keys) + len(self.task.loss_names))
        self.callbacks.run("on_train_start", self)
        if self.resume_state is not None and self.main:
            restore_training_state(self, self.resume_state)
        t0 = time.time()
        LOGGER.info(f"Image sizes {self.imgsz} train, {self.imgsz} val\n"
                    f"Using {self.train_loader.num_workers * world_size()} dataloader workers\n"
                    f"Logging results to {colorstr('bold', self.save_dir)}\n"
                    f"Starting training for {opt.epochs} epochs...")
        epoch = self.start_epoch - 1
        for epoch in range(self.start_epoch, opt.epochs):
            self.epoch = epoch
            mloss, lr = self.train_epoch(epoch, nb)
            stop = self.end_epoch(epoch, mloss, lr) if self.main else False
            if rank() != -1:  # every rank stops when rank 0's early stopping says so
                flag = [stop]
                dist.broadcast_object_list(flag, 0)
                stop = flag[0]
            if stop:
                break
        if self.main:
            LOGGER.info(f"\n{epoch - self.start_epoch + 1} epochs completed in {(time.time() - t0) / 3600:.3f} hours.")
            self.finish()
        if self.cuda:
            torch.cuda.empty_cache()
        return self.results

    def train_epoch(self, epoch: int, nb: int) -> tuple[torch.Tensor, list[float]]:
        """One pass over the training set; returns the mean loss items and the LRs it used."""
        self.model.train()
        self.callbacks.run("on_train_epoch_start", self)
        if rank() != -1:
            self.train_loader.sampler.set_epoch(epoch)
        mloss = torch.zeros(len(self.task.loss_names), device=self.device)
        LOGGER.info("\n" + progress_header(self.task.progress_columns()))
        pbar = enumerate(self.train_loader)
        if self.main:
            pbar = tqdm(pbar, total=nb, bar_format=TQDM_BAR_FORMAT)
        self.optimizer.zero_grad()
        self.skipped_steps = 0
        for i, batch in pbar:
            ni = i + nb * epoch
            batch = self.task.preprocess(batch, self.device)
            self.callbacks.run("on_train_batch_start", self)
            if ni <= self.nw:
                self.accumulate = apply_warmup(self.optimizer, ni, self.nw, self.lf(epoch), self.hyp,
                                               self.hyp.get("nominal_batch", 64), self.batch_size)
            if getattr(self.opt, "multi_scale", False):
                batch["img"] = self._rescale(batch["img"])
            loss_items = self.train_step(batch, ni, epoch, i)
            if self.main:
                mloss = (mloss * i + loss_items) / (i + 1)
                pbar.set_description(self.task.progress_row(epoch, self.opt.epochs, mloss, batch))
                if self.plots:
                    self.task.plot_batch(self, batch, ni)
            self.callbacks.run("on_train_batch_end", self)
        if self.skipped_steps:
            LOGGER.warning(f"WARNING ⚠️ epoch {epoch}: AMP skipped {self.skipped_steps} optimizer step(s) on inf/NaN "
                           f"gradients")
        self.mloss = mloss
        lr = [x["lr"] for x in self.optimizer.param_groups[:3]]  # YOLOv5's three groups (not a plug-in's)
        self.scheduler.step()
        if getattr(self.task, "lr_after_step", False):
            lr = [x["lr"] for x in self.optimizer.param_groups[:3]]
        lr = lr[:len(lr_keys(self.task))]
        self.callbacks.run("on_train_epoch_end", self)
        return mloss, lr

    def _rescale(self, imgs: torch.Tensor) -> torch.Tensor:
        """--multi-scale: resize the batch to a random size in [0.5, 1.5] x imgsz, a multiple of the stride."""
        sz = random.randrange(int(self.imgsz * 0.5), int(self.imgsz * 1.5) + self.gs) // self.gs * self.gs
        sf = sz / max(imgs.shape[2:])
        if sf == 1:
            return imgs
        ns = [math.ceil(x * sf / self.gs) * self.gs for x in imgs.shape[2:]]
        return nn.functional.interpolate(imgs, size=ns, mode="bilinear", align_corners=False)

    def train_step(self, batch: dict, ni: int, epoch: int, i: int) -> torch.Tensor:
        """Forward, loss and backward of one batch; an optimizer step once `accumulate` batches have been summed."""
        with torch.autocast(device_type=self.device.type, enabled=self.amp):
            pred = self.forward(batch["img"])
            loss, loss_items = self.criterion(pred, batch)
            for p in self.plugins:
                if hasattr(p, "loss"):
                    loss = loss + p.loss(batch, pred)
            if rank() != -1:
                loss *= world_size()  # DDP averages gradients over processes
            if getattr(self.opt, "quad", False):
                loss *= 4.0
        if self.first_bad is None and not torch.isfinite(loss_items).all():
            self.first_bad = (epoch, i)
        self.scaler.scale(loss).backward()
        if ni - self.last_opt_step >= self.accumulate:
            self.optimizer_step(epoch, i)
            self.last_opt_step = ni
        return loss_items

    def optimizer_step(self, epoch: int, i: int) -> None:
        """Clip gradients, step (AMP: GradScaler skips inf/NaN steps), update the EMA; stop on NaN without AMP."""
        self.scaler.unscale_(self.optimizer)
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), max_norm=GRAD_CLIP)
        if not self.amp and not torch.isfinite(norm):
            bad_epoch, bad_batch = self.first_bad or (epoch, i)
            raise UserError(f"training diverged: non-finite loss/gradients at epoch {bad_epoch}, batch {bad_batch}. "
                            f"last.pt and best.pt keep the last good epoch; lower lr0 in --hyp or check the labels")
        scale = self.scaler.get_scale()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.amp and self.scaler.get_scale() < scale:
            self.skipped_steps += 1
        self.optimizer.zero_grad()
        self.first_bad = None
        if self.ema:
            self.ema.update(self.model)

    def end_epoch(self, epoch: int, mloss: torch.Tensor, lr: list[float]) -> bool:
        """Rank 0: validate, log the epoch, save checkpoints; True when early stopping ends training."""
        opt = self.opt
        self.ema.update_attr(de_parallel(self.model), include=["yaml", "nc", "hyp", "names", "stride", "class_weights"])
        final_epoch = epoch + 1 == opt.epochs or self.stopper.possible_stop
        if not opt.noval or final_epoch:
            self.callbacks.run("on_val_start", self)
            self.results, self.maps = self.task.validate(self, self.ema.ema, final=False)
            self.callbacks.run("on_val_end", self)
        self.fitness = fi = self.task.fitness(self.results)
        stop = self.stopper(epoch=epoch, fitness=fi)
        self.best_fitness = max(self.best_fitness, fi)
        keys = result_keys(self.task)
        self.metrics = dict(zip(keys, [float(x) for x in (*mloss.tolist(), *self.results, *lr)]))
        self.callbacks.run("on_fit_epoch_end", self)
        if not opt.nosave or (final_epoch and not opt.evolve):
            self.save(epoch, fi)
        return stop

    def checkpoint(self, epoch: int) -> dict:
        """YOLOv5's checkpoint layout: model and EMA in fp16, optimizer state (less any plug-in's own tensors)."""
        optimizer = self.optimizer.state_dict()
        for p in self.plugins:
            if hasattr(p, "optimizer_state"):
                optimizer = p.optimizer_state(self.optimizer, optimizer)
        return {
            "epoch": epoch,
            "best_fitness": self.best_fitness,
            "model": deepcopy(de_parallel(self.model)).half(),
            "ema": deepcopy(self.ema.ema).half(),
            "updates": self.ema.updates,
            "optimizer": optimizer,
            "opt": {k: str(v) if isinstance(v, Path) else v for k, v in vars(self.opt).items()},
            "git": None,
            "date": datetime.now().isoformat(),
            "train_state": training_state(self),
        }

    def save(self, epoch: int, fi: float) -> None:
        """last.pt every epoch, best.pt when fitness improved, epoch{N}.pt every --save-period epochs."""
        ckpt = self.checkpoint(epoch)
        save_checkpoint(ckpt, self.last)
        if self.best_fitness == fi:
            save_checkpoint(ckpt, self.best)
        if self.opt.save_period > 0 and epoch % self.opt.save_period == 0:
            save_checkpoint(ckpt, self.wdir / f"epoch{epoch}.pt")
        self.callbacks.run("on_model_save", self)

    def finish(self) -> None:
        """Strip optimizers from last.pt and best.pt, validate best.pt with per-class output and plots."""
        for f in self.last, self.best:
            if not f.exists():
                continue
            strip_optimizer(f)
            if f is self.best:
                LOGGER.info(f"\nValidating {f}...")
                self.results, _ = self.task.validate(self, attempt_load(f, self.device), final=True)
        self.callbacks.run("on_train_end", self)


def lr_keys(task: Task) -> tuple[str, ...]:
    """The LR columns: YOLOv5's three parameter groups, or the task's own (classification logs one)."""
    return getattr(task, "lr_keys", ("x/lr0", "x/lr1", "x/lr2"))


def result_keys(task: Task) -> tuple[str, ...]:
    """results.csv's columns after 'epoch': train losses, metrics, val losses, the LRs."""
    losses = task.loss_names
    return (*(f"train/{k}" for k in losses), *task.metric_keys, *(f"val/{k}" for k in losses), *lr_keys(task))


def run_training(task: Task, hyp: dict, opt: argparse.Namespace, device: torch.device, plugins: list) -> tuple:
    """One training of task: the plug-ins' hyp defaults merged, hyp.yaml/opt.yaml written, the run logger attached."""
    for p in plugins:
        hyp = {**getattr(p, "hyp_defaults", {}), **hyp}
    LOGGER.info(colorstr("hyperparameters: ") + ", ".join(f"{k}={v}" for k, v in hyp.items()))
    opt.hyp = dict(hyp)  # unscaled, as the run's opt.yaml records it
    main = rank() in {-1, 0}
    if not opt.evolve and main:
        yaml_save(Path(opt.save_dir) / "hyp.yaml", hyp)
        yaml_save(Path(opt.save_dir) / "opt.yaml", vars(opt))
    if main:
        plots = not opt.evolve and not opt.noplots
        run_logger = RunLogger(Path(opt.save_dir), plots=plots, keys=getattr(task, "csv_columns", result_keys(task)),
                               width=getattr(task, "csv_width", 20))
        plugins = [run_logger, *experiment_loggers(opt), *plugins]
    with deterministic_algorithms(opt.seed + 1 + rank()):
        return Trainer(task, hyp, opt, device, plugins=plugins).train()
