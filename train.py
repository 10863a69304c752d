"""Train a YOLOv5 or Ghost detector on a YOLO-format dataset, on CPU, one GPU or several (torch.distributed).

Usage:
    python train.py --data coco8.yaml --cfg yolov5n-ghostdyn.yaml --weights '' --img 320 --epochs 3
    python train.py --data coco128.yaml --cfg yolov5n-ghostdyn.yaml --weights yolov5n.pt --img 640
    python -m torch.distributed.run --nproc_per_node 2 train.py --data coco128.yaml --weights yolov5n.pt --device 0,1
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import math
import random
import shutil
import subprocess
import sys
import time
from copy import deepcopy
from datetime import datetime, timedelta
from pathlib import Path

FILE = Path(__file__).resolve()
if str(FILE.parent) not in sys.path:
    sys.path.insert(0, str(FILE.parent))  # `python /path/to/train.py` from any folder

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.nn as nn  # noqa: E402
from tqdm import tqdm  # noqa: E402

import val as validate  # noqa: E402
from models.loading import attempt_load  # noqa: E402
from models.yolo import Model  # noqa: E402
from utils.training.autoanchor import check_anchors  # noqa: E402
from utils.training.autobatch import check_train_batch_size  # noqa: E402
from models.checkpoints import load_checkpoint, save_checkpoint, strip_optimizer  # noqa: E402
from utils.checks import check_args, check_img_size, check_suffix  # noqa: E402
from utils.training.class_weights import labels_to_class_weights, labels_to_image_weights  # noqa: E402
from utils.training.distill import DIST_HYP, Distiller, load_teacher  # noqa: E402
from utils.data.config import check_dataset  # noqa: E402
from utils.data.loaders import create_dataloader  # noqa: E402
from utils.downloads import attempt_download  # noqa: E402
from utils.training.early_stopping import EarlyStopping  # noqa: E402
from utils.errors import UserError, exit_on_user_error  # noqa: E402
from utils.training.evolve import (constrain, evolvable, history, load_population, mutate,  # noqa: E402
                                   record_generation)
from utils.files import ROOT_REL, RunLock, check_file, check_yaml, increment_path, yaml_save  # noqa: E402
from utils.logger import LOGGER, colorstr, print_args  # noqa: E402
from utils.training.hyps import load_hyp  # noqa: E402
from utils.training.loss import ComputeLoss, scale_loss_gains  # noqa: E402
from utils.training.lr_schedule import (NOMINAL_BATCH, accumulation, apply_warmup, lr_lambda,  # noqa: E402
                                        warmup_iterations)
from utils.evaluation.coco_eval import coco_class_map  # noqa: E402
from utils.evaluation.metrics import fitness  # noqa: E402
from utils.training.resume import resume_options, restore_state  # noqa: E402
from utils.training.run_logger import TQDM_BAR_FORMAT, RunLogger, progress_header, progress_row  # noqa: E402
from utils.training.warm_start import warm_start  # noqa: E402
from utils.torch_compile import compile_fn  # noqa: E402
from utils.torch_utils import (LOCAL_RANK, RANK, WORLD_SIZE, ModelEMA, de_parallel, init_seeds,  # noqa: E402
                               intersect_dicts, select_device, smart_optimizer, to_float_image,
                               torch_distributed_zero_first)

GRAD_CLIP = 10.0
def build_model(opt: argparse.Namespace, nc: int, hyp: dict, device: torch.device) -> tuple[nn.Module, dict | None]:
    """The model to train: from --cfg, from --weights, or --cfg with every matching tensor of --weights."""
    weights = str(opt.weights)
    check_suffix(weights, (".pt",), "--weights ")
    if not weights.endswith(".pt"):
        return Model(opt.cfg, ch=3, nc=nc, anchors=hyp.get("anchors")).to(device), None
    with torch_distributed_zero_first(LOCAL_RANK):
        weights = attempt_download(weights)
    ckpt = load_checkpoint(weights, map_location="cpu")
    model = Model(opt.cfg or ckpt["model"].yaml, ch=3, nc=nc, anchors=hyp.get("anchors")).to(device)
    exclude = ["anchor"] if (opt.cfg or hyp.get("anchors")) and not opt.resume else []
    state = intersect_dicts(ckpt["model"].float().state_dict(), model.state_dict(), exclude=exclude)
    model.load_state_dict(state, strict=False)
    LOGGER.info(f"Transferred {len(state)}/{len(model.state_dict())} items from {weights}")
    return model, ckpt


def freeze_layers(model: nn.Module, freeze: list[int]) -> None:
    """--freeze N: no gradients for the first N layers (--freeze 0 1 2: exactly those layers)."""
    layers = freeze if len(freeze) > 1 else range(freeze[0])
    prefixes = tuple(f"model.{x}." for x in layers)
    for name, p in model.named_parameters():
        p.requires_grad = True
        if name.startswith(prefixes):
            LOGGER.info(f"freezing {name}")
            p.requires_grad = False


def check_amp(model: nn.Module, device: torch.device, imgsz: int) -> bool:
    """Mixed precision on CUDA only, and only when an autocast forward pass agrees with fp32 on this model."""
    prefix = colorstr("AMP: ")
    if device.type != "cuda":
        return False
    m = deepcopy(model).eval()
    x = torch.rand(1, 3, imgsz, imgsz, device=device, generator=torch.Generator(device).manual_seed(0))
    with torch.no_grad():
        fp32 = m(x)[0][..., 4:]
        with torch.autocast("cuda"):
            mixed = m(x)[0][..., 4:].float()
    ok = bool(torch.isfinite(mixed).all()) and float((fp32 - mixed).abs().max()) < 0.05
    LOGGER.info(f"{prefix}checks passed ✅" if ok else
                f"{prefix}checks failed ❌, disabling Automatic Mixed Precision (outputs differ from fp32)")
    return ok


class Trainer:
    """One training run: data, model, optimizer and schedule set up once, then trained epoch by epoch."""

    def __init__(self, hyp: str | Path | dict, opt: argparse.Namespace, device: torch.device):
        self.opt, self.device = opt, device
        self.cuda = device.type == "cuda"
        self.main = RANK in {-1, 0}
        self.save_dir = Path(opt.save_dir)
        self.wdir = self.save_dir / "weights"
        self.last, self.best = self.wdir / "last.pt", self.wdir / "best.pt"
        if self.main:
            (self.wdir.parent if opt.evolve else self.wdir).mkdir(parents=True, exist_ok=True)
        self.hyp = {**DIST_HYP, **load_hyp(hyp)} if opt.teacher else load_hyp(hyp)
        LOGGER.info(colorstr("hyperparameters: ") + ", ".join(f"{k}={v}" for k, v in self.hyp.items()))
        opt.hyp = dict(self.hyp)  # unscaled, as the run's opt.yaml records it
        if not opt.evolve and self.main:
            yaml_save(self.save_dir / "hyp.yaml", self.hyp)
            yaml_save(self.save_dir / "opt.yaml", vars(opt))
        self.plots = not opt.evolve and not opt.noplots
        self.logger = RunLogger(self.save_dir, plots=self.plots) if self.main else None
        init_seeds(opt.seed + 1 + RANK, deterministic=True)
        with torch_distributed_zero_first(LOCAL_RANK):
            self.data = check_dataset(opt.data)
        self.nc = 1 if opt.single_cls else int(self.data["nc"])
        names = self.data["names"]
        self.names = {0: "item"} if opt.single_cls and len(names) != 1 else names
        self.is_coco = isinstance(self.data["val"], str) and self.data["val"].endswith("coco/val2017.txt")
        self._setup_model()
        self._setup_data()
        self._setup_optimization()

    def _setup_model(self) -> None:
        opt = self.opt
        self.model, self.ckpt = build_model(opt, self.nc, self.hyp, self.device)
        self.amp = check_amp(self.model, self.device, 64)
        freeze_layers(self.model, opt.freeze)
        self.gs = max(int(self.model.stride.max()), 32)
        self.imgsz = check_img_size(opt.imgsz, self.gs, floor=self.gs * 2)
        self.batch_size = opt.batch_size
        if self.batch_size == -1:  # single process only: init_distributed refuses -1
            self.batch_size = opt.batch_size = check_train_batch_size(self.model, self.imgsz, self.amp)
        self.teacher = load_teacher(opt.teacher, self.model, self.device) if opt.teacher else None
        if self.teacher is not None and opt.teacher_warmup_steps and not opt.resume and self.main:
            warm_start(self.model, opt.teacher, opt.teacher_warmup_images or self.data["train"], self.imgsz,
                       opt.teacher_warmup_steps, self.batch_size, self.hyp, opt.seed)

    def _setup_data(self) -> None:
        opt, hyp = self.opt, self.hyp
        self.train_loader, self.dataset = create_dataloader(
            self.data["train"], self.imgsz, self.batch_size // WORLD_SIZE, self.gs, opt.single_cls, hyp=hyp,
            augment=True, cache=None if opt.cache == "val" else opt.cache, rect=opt.rect, rank=LOCAL_RANK,
            workers=opt.workers, image_weights=opt.image_weights, quad=opt.quad, prefix=colorstr("train: "),
            shuffle=True, seed=opt.seed, nc=int(self.data["nc"]))
        all_labels = np.concatenate([x for x in self.dataset.labels if len(x)] or [np.zeros((0, 5))], 0)
        self.val_loader = None
        if self.main:
            self.val_loader = create_dataloader(
                self.data["val"], self.imgsz, self.batch_size // WORLD_SIZE * 2, self.gs, opt.single_cls, hyp=hyp,
                cache=None if opt.noval else opt.cache, rect=True, rank=-1, workers=opt.workers * 2, pad=0.5,
                prefix=colorstr("val: "), nc=int(self.data["nc"]))[0]
            if not opt.resume:
                if opt.teacher and not opt.noautoanchor:
                    LOGGER.info(f"{colorstr('AutoAnchor: ')}skipped with --teacher: its outputs are distilled per anchor")
                elif not opt.noautoanchor:
                    check_anchors(self.dataset, model=self.model, thr=hyp["anchor_t"], imgsz=self.imgsz)
                self.model.half().float()  # round the anchors to what an fp16 checkpoint stores
            self.logger.log_labels(all_labels, self.names)

    def _setup_optimization(self) -> None:
        opt, hyp = self.opt, self.hyp
        self.accumulate, decay_scale = accumulation(self.batch_size)
        weight_decay = hyp["weight_decay"] * decay_scale
        self.optimizer = smart_optimizer(self.model, opt.optimizer, hyp["lr0"], hyp["momentum"], weight_decay)
        self.distiller = Distiller(self.model, self.teacher, hyp) if self.teacher is not None else None
        if self.distiller and self.distiller.params:  # 1x1 adapters, trained (decay as weights) but never saved
            self.optimizer.add_param_group({"params": self.distiller.params,
                                            "weight_decay": self.optimizer.param_groups[1]["weight_decay"]})
        self.lf = lr_lambda(opt.epochs, hyp["lrf"], opt.cos_lr)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lr_lambda=self.lf)
        self.ema = ModelEMA(self.model) if self.main else None
        self.best_fitness, self.start_epoch = 0.0, 0
        if self.ckpt is not None and opt.resume:
            self.best_fitness, self.start_epoch = restore_state(self.ckpt, self.optimizer, self.ema, opt.weights,
                                                                opt.epochs)
        self.ckpt = None
        self._wrap_parallel()
        m = de_parallel(self.model)
        loss_hyp = scale_loss_gains({**hyp, "weight_decay": weight_decay}, m.model[-1].nl, self.nc, self.imgsz,
                                    opt.label_smoothing)
        m.nc, m.hyp, m.names = self.nc, loss_hyp, self.names  # model.hyp: the scaled values, as YOLOv5 saves it
        m.class_weights = labels_to_class_weights(self.dataset.labels, self.nc).to(self.device) * self.nc
        self.compute_loss = ComputeLoss(self.model, loss_hyp)
        self.scheduler.last_epoch = self.start_epoch - 1
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp)
        self.stopper = EarlyStopping(patience=opt.patience)
        self.forward = compile_fn(self.model, device, "train: ") if getattr(opt, "compile", False) else self.model

    def _wrap_parallel(self) -> None:
        """DataParallel for several GPUs in one process (discouraged), DistributedDataParallel under torch.distributed."""
        if self.cuda and RANK == -1 and torch.cuda.device_count() > 1:
            LOGGER.warning("WARNING ⚠️ DP not recommended, use torch.distributed.run for best DDP Multi-GPU results.\n"
                           "See Multi-GPU Tutorial at https://docs.ultralytics.com/yolov5/tutorials/multi_gpu_training")
            self.model = nn.DataParallel(self.model)
        if self.opt.sync_bn and not (self.cuda and RANK != -1):
            LOGGER.warning("WARNING ⚠️ --sync-bn needs DDP on CUDA (torch.distributed.run with --device 0,1,...), ignored")
        if RANK != -1:
            if self.opt.sync_bn and self.cuda:
                self.model = nn.SyncBatchNorm.convert_sync_batchnorm(self.model).to(self.device)
                LOGGER.info("Using SyncBatchNorm()")
            ids = [LOCAL_RANK] if self.cuda else None
            self.model = nn.parallel.DistributedDataParallel(self.model, device_ids=ids,
                                                             output_device=LOCAL_RANK if self.cuda else None)

    def train(self) -> tuple:
        """Run the remaining epochs; then strip and validate the saved weights. Returns the last validation results."""
        opt = self.opt
        nb = len(self.train_loader)
        self.nw = warmup_iterations(self.hyp, nb)
        self.last_opt_step = -1
        self.first_bad: tuple[int, int] | None = None  # (epoch, batch) of the first NaN loss since the last step
        self.maps = np.zeros(self.nc)
        self.results = (0, 0, 0, 0, 0, 0, 0)  # P, R, mAP50, mAP50-95, val box, obj, cls losses
        if self.main:
            self.logger.forget_from(self.start_epoch)
        t0 = time.time()
        LOGGER.info(f"Image sizes {self.imgsz} train, {self.imgsz} val\n"
                    f"Using {self.train_loader.num_workers * WORLD_SIZE} dataloader workers\n"
                    f"Logging results to {colorstr('bold', self.save_dir)}\n"
                    f"Starting training for {opt.epochs} epochs...")
        epoch = self.start_epoch - 1
        for epoch in range(self.start_epoch, opt.epochs):
            mloss, lr = self.train_epoch(epoch, nb)
            stop = self.end_epoch(epoch, mloss, lr) if self.main else False
            if RANK != -1:  # every rank stops when rank 0's early stopping says so
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
        """One pass over the training set; returns the mean [box, obj, cls] losses and the LRs it used."""
        opt = self.opt
        self.model.train()
        if opt.image_weights:
            cw = de_parallel(self.model).class_weights.cpu().numpy() * (1 - self.maps) ** 2 / self.nc
            iw = labels_to_image_weights(self.dataset.labels, nc=self.nc, class_weights=cw)
            self.dataset.indices = random.choices(range(self.dataset.n), weights=iw, k=self.dataset.n)
        if RANK != -1:
            self.train_loader.sampler.set_epoch(epoch)
        mloss = torch.zeros(3, device=self.device)
        LOGGER.info("\n" + progress_header())
        pbar = enumerate(self.train_loader)
        if self.main:
            pbar = tqdm(pbar, total=nb, bar_format=TQDM_BAR_FORMAT)
        self.optimizer.zero_grad()
        self.skipped_steps = 0
        for i, (imgs, targets, paths, _) in pbar:
            ni = i + nb * epoch
            imgs = to_float_image(imgs, self.device)
            if ni <= self.nw:
                self.accumulate = apply_warmup(self.optimizer, ni, self.nw, self.lf(epoch), self.hyp, NOMINAL_BATCH,
                                               self.batch_size)
            if opt.multi_scale:
                imgs = self._rescale(imgs)
            loss_items = self.train_step(imgs, targets, ni, epoch, i)
            if self.main:
                mloss = (mloss * i + loss_items) / (i + 1)
                pbar.set_description(progress_row(epoch, opt.epochs, mloss, targets.shape[0], imgs.shape[-1]))
                self.logger.log_train_batch(ni, imgs, targets, paths, self.names)
        if self.skipped_steps:
            LOGGER.warning(f"WARNING ⚠️ epoch {epoch}: AMP skipped {self.skipped_steps} optimizer step(s) on inf/NaN "
                           f"gradients")
        if self.distiller is not None and self.main:
            LOGGER.info(self.distiller.summary())
        lr = [x["lr"] for x in self.optimizer.param_groups[:3]]  # YOLOv5's three groups (not the adapters')
        self.scheduler.step()
        return mloss, lr

    def _rescale(self, imgs: torch.Tensor) -> torch.Tensor:
        """--multi-scale: resize the batch to a random size in [0.5, 1.5] x imgsz, a multiple of the stride."""
        sz = random.randrange(int(self.imgsz * 0.5), int(self.imgsz * 1.5) + self.gs) // self.gs * self.gs
        sf = sz / max(imgs.shape[2:])
        if sf == 1:
            return imgs
        ns = [math.ceil(x * sf / self.gs) * self.gs for x in imgs.shape[2:]]
        return nn.functional.interpolate(imgs, size=ns, mode="bilinear", align_corners=False)

    def train_step(self, imgs: torch.Tensor, targets: torch.Tensor, ni: int, epoch: int, i: int) -> torch.Tensor:
        """Forward, loss and backward of one batch; an optimizer step once `accumulate` batches have been summed."""
        with torch.autocast(device_type=self.device.type, enabled=self.amp):
            pred = self.forward(imgs) if self.distiller is None else self.distiller.student_forward(self.model, imgs)
            loss, loss_items = self.compute_loss(pred, targets.to(self.device))
            if self.distiller is not None:
                loss = loss + self.distiller.loss(imgs, pred)
            if RANK != -1:
                loss *= WORLD_SIZE  # DDP averages gradients over processes
            if self.opt.quad:
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
            ev = validate.evaluate(self.ema.ema, self.val_loader, self.nc, single_cls=opt.single_cls, half=self.amp,
                                   compute_loss=self.compute_loss, progress=True)
            validate.report(ev, per_class=False)
            self.results, self.maps, _ = ev.results()
        fi = float(fitness(np.array(self.results).reshape(1, -1))[0])
        stop = self.stopper(epoch=epoch, fitness=fi)
        self.best_fitness = max(self.best_fitness, fi)
        self.logger.log_epoch(epoch, [float(x) for x in (*mloss.tolist(), *self.results, *lr)])
        if not opt.nosave or (final_epoch and not opt.evolve):
            self.save(epoch, fi)
        return stop

    def save(self, epoch: int, fi: float) -> None:
        """last.pt every epoch, best.pt when fitness improved, epoch{N}.pt every --save-period epochs."""
        ckpt = {
            "epoch": epoch,
            "best_fitness": self.best_fitness,
            "model": deepcopy(de_parallel(self.model)).half(),
            "ema": deepcopy(self.ema.ema).half(),
            "updates": self.ema.updates,
            "optimizer": self.distiller.optimizer_state(self.optimizer) if self.distiller else
            self.optimizer.state_dict(),
            "opt": {k: str(v) if isinstance(v, Path) else v for k, v in vars(self.opt).items()},
            "git": None,
            "date": datetime.now().isoformat(),
        }
        save_checkpoint(ckpt, self.last)
        if self.best_fitness == fi:
            save_checkpoint(ckpt, self.best)
        if self.opt.save_period > 0 and epoch % self.opt.save_period == 0:
            save_checkpoint(ckpt, self.wdir / f"epoch{epoch}.pt")

    def finish(self) -> None:
        """Strip optimizers from last.pt and best.pt, validate best.pt with per-class output and plots."""
        for f in self.last, self.best:
            if not f.exists():
                continue
            strip_optimizer(f)
            if f is self.best:
                LOGGER.info(f"\nValidating {f}...")
                self.results = self._validate_best(attempt_load(f, self.device))
        self.logger.finish()

    def _validate_best(self, model: nn.Module) -> tuple:
        """The final validation: per-class table, plots, and on COCO the pycocotools mAP of predictions.json."""
        class_map = coco_class_map(validate.class_names(model)) if self.is_coco else None
        ev = validate.evaluate(model, self.val_loader, self.nc, iou_thres=0.65 if self.is_coco else 0.60,
                               single_cls=self.opt.single_cls, half=self.amp, compute_loss=self.compute_loss,
                               plots=self.plots, save_dir=self.save_dir, class_map=class_map, progress=True)
        validate.report(ev, per_class=self.nc > 1)
        coco = None
        if ev.jdict:
            coco = validate.coco_evaluate(ev.jdict, self.val_loader.dataset, self.data, "val", None, ev.names,
                                          class_map, self.save_dir)
        return ev.results(coco)[0]


def train(hyp: str | Path | dict, opt: argparse.Namespace, device: torch.device) -> tuple:
    """Train with opt (see parse_opt) on device; returns (P, R, mAP50, mAP50-95, val box, obj, cls losses)."""
    return Trainer(hyp, opt, device).train()


def parse_opt(known: bool = False, args: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", type=str, default=ROOT_REL / "yolov5s.pt", help="initial weights path")
    parser.add_argument("--cfg", type=str, default="", help="model.yaml path")
    parser.add_argument("--data", type=str, default=ROOT_REL / "data/coco128.yaml", help="dataset.yaml path")
    parser.add_argument("--hyp", type=str, default=ROOT_REL / "data/hyps/hyp.scratch-low.yaml", help="hyperparameters path")
    parser.add_argument("--epochs", type=int, default=100, help="total training epochs")
    parser.add_argument("--batch-size", type=int, default=16, help="total batch size for all GPUs, -1 for autobatch")
    parser.add_argument("--imgsz", "--img", "--img-size", type=int, default=640, help="train, val image size (pixels)")
    parser.add_argument("--rect", action="store_true", help="rectangular training")
    parser.add_argument("--resume", nargs="?", const=True, default=False, help="resume most recent training")
    parser.add_argument("--nosave", action="store_true", help="only save final checkpoint")
    parser.add_argument("--noval", action="store_true", help="only validate final epoch")
    parser.add_argument("--noautoanchor", action="store_true", help="disable AutoAnchor")
    parser.add_argument("--noplots", action="store_true", help="save no plot files")
    parser.add_argument("--evolve", type=int, nargs="?", const=300, help="evolve hyperparameters for x generations")
    parser.add_argument("--evolve_population", type=str, default=ROOT_REL / "data/hyps",
                        help="location for loading population")
    parser.add_argument("--resume_evolve", type=str, default=None, help="resume evolve from last generation")
    parser.add_argument("--cache", type=str, nargs="?", const="ram", help="image --cache ram/disk")
    parser.add_argument("--image-weights", action="store_true", help="use weighted image selection for training")
    parser.add_argument("--device", default="", help="cuda device, i.e. 0 or 0,1,2,3 or cpu")
    parser.add_argument("--multi-scale", action="store_true", help="vary img-size +/- 50%%")
    parser.add_argument("--single-cls", action="store_true", help="train multi-class data as single-class")
    parser.add_argument("--optimizer", type=str, choices=["SGD", "Adam", "AdamW"], default="SGD", help="optimizer")
    parser.add_argument("--sync-bn", action="store_true", help="use SyncBatchNorm, only available in DDP mode")
    parser.add_argument("--workers", type=int, default=8, help="max dataloader workers (per RANK in DDP mode)")
    parser.add_argument("--project", default=ROOT_REL / "runs/train", help="save to project/name")
    parser.add_argument("--name", default="exp", help="save to project/name")
    parser.add_argument("--exist-ok", action="store_true", help="existing project/name ok, do not increment")
    parser.add_argument("--quad", action="store_true", help="quad dataloader")
    parser.add_argument("--cos-lr", action="store_true", help="cosine LR scheduler")
    parser.add_argument("--label-smoothing", type=float, default=0.0, help="Label smoothing epsilon")
    parser.add_argument("--patience", type=int, default=100, help="EarlyStopping patience (epochs without improvement)")
    parser.add_argument("--freeze", nargs="+", type=int, default=[0], help="Freeze layers: backbone=10, first3=0 1 2")
    parser.add_argument("--save-period", type=int, default=-1, help="Save checkpoint every x epochs (disabled if < 1)")
    parser.add_argument("--seed", type=int, default=0, help="Global training seed")
    parser.add_argument("--compile", action="store_true", help="run the training forward through torch.compile")
    parser.add_argument("--teacher", type=str, default="", help="distill from these YOLOv5 weights (same strides)")
    parser.add_argument("--teacher-warmup-steps", type=int, default=0,
                        help="label-free warm start: steps of block-wise imitation of --teacher before training")
    parser.add_argument("--teacher-warmup-images", type=str, default="",
                        help="image folder or list for the warm start (default: the training images)")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=-1, help="Automatic DDP Multi-GPU argument")
    parser.add_argument("--bucket", type=str, default="", help="gsutil bucket")
    parser.add_argument("--entity", default=None, help="Entity")
    parser.add_argument("--upload_dataset", nargs="?", const=True, default=False, help='Upload data, "val" option')
    parser.add_argument("--bbox_interval", type=int, default=-1, help="Set bounding-box image logging interval")
    parser.add_argument("--artifact_alias", type=str, default="latest", help="Version of dataset artifact to use")
    return parser.parse_known_args(args)[0] if known else parser.parse_args(args)


def prepare_options(opt: argparse.Namespace) -> argparse.Namespace:
    """Resolve files and the run folder; for --resume, the interrupted run's own options."""
    if opt.resume and not opt.evolve:
        return resume_options(opt.resume, Path(opt.project).parent, defaults=vars(parse_opt(args=[])))
    opt.data, opt.cfg = check_file(opt.data), check_yaml(opt.cfg) if opt.cfg else ""
    opt.hyp = load_hyp(opt.hyp)  # checked before anything trains; a dict from here on, as opt.yaml records it
    opt.weights, opt.project = str(opt.weights), str(opt.project)
    if not (opt.cfg or opt.weights):
        raise UserError("either --cfg or --weights must be specified")
    if (opt.teacher_warmup_steps or opt.teacher_warmup_images) and not opt.teacher:
        raise UserError("--teacher-warmup-steps/--teacher-warmup-images need --teacher WEIGHTS to imitate")
    if opt.teacher_warmup_steps < 0:
        raise UserError(f"--teacher-warmup-steps {opt.teacher_warmup_steps} must be 0 (no warm start) or more")
    opt.teacher = str(Path(opt.teacher).resolve()) if opt.teacher and Path(opt.teacher).is_file() else opt.teacher
    if opt.evolve:
        if opt.project == str(ROOT_REL / "runs/train"):
            opt.project = str(ROOT_REL / "runs/evolve")
        opt.exist_ok, opt.resume = opt.resume, False
    if opt.name == "cfg":
        opt.name = Path(opt.cfg).stem
    opt.save_dir = str(increment_path(Path(opt.project) / opt.name, exist_ok=opt.exist_ok, mkdir=RANK in {-1, 0}))
    return opt


def init_distributed(opt: argparse.Namespace, device: torch.device) -> torch.device:
    """Join the torch.distributed group: NCCL on CUDA, gloo on CPU; one GPU per process."""
    msg = "is not compatible with YOLOv5 Multi-GPU DDP training"
    if opt.image_weights:
        raise UserError(f"--image-weights {msg}")
    if opt.evolve:
        raise UserError(f"--evolve {msg}")
    if opt.batch_size == -1:
        raise UserError(f"AutoBatch with --batch-size -1 {msg}, please pass a valid --batch-size")
    if opt.batch_size % WORLD_SIZE:
        raise UserError(f"--batch-size {opt.batch_size} must be multiple of WORLD_SIZE {WORLD_SIZE}")
    if device.type == "cuda":
        if torch.cuda.device_count() <= LOCAL_RANK:
            raise UserError(f"insufficient CUDA devices for DDP command: LOCAL_RANK {LOCAL_RANK}, "
                            f"{torch.cuda.device_count()} device(s)")
        torch.cuda.set_device(LOCAL_RANK)
        device = torch.device("cuda", LOCAL_RANK)
    backend = "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"
    dist.init_process_group(backend=backend, timeout=timedelta(hours=3))
    return device


def evolve(opt: argparse.Namespace, device: torch.device) -> None:
    """--evolve N: N trainings with mutated hyps, recorded in evolve.csv; the best in hyp_evolve.yaml."""
    hyp, limits = evolvable({**DIST_HYP, **load_hyp(opt.hyp)} if opt.teacher else load_hyp(opt.hyp), opt.noautoanchor)
    opt.noval, opt.nosave = True, True
    save_dir = Path(opt.save_dir)
    evolve_csv = save_dir / "evolve.csv"
    population = load_population(hyp, opt.resume_evolve, opt.evolve_population)
    sync_bucket(opt.bucket, f"gs://{opt.bucket}/evolve.csv", evolve_csv)
    for _ in range(opt.evolve):
        data = history(evolve_csv)
        done = 0 if data is None else len(data)  # generation 1 trains --hyp, the next ones the population
        hyp = constrain(population[done - 1], limits) if 1 <= done <= len(population) else mutate(hyp, limits, data)
        results = train(dict(hyp), opt, device)
        record_generation(tuple(float(x) for x in results), hyp, save_dir)
        sync_bucket(opt.bucket, evolve_csv, f"gs://{opt.bucket}")
    from utils.evaluation.plots import plot_evolve

    plot_evolve(evolve_csv)
    LOGGER.info(f"Hyperparameter evolution finished {opt.evolve} generations\n"
                f"Results saved to {colorstr('bold', save_dir)}\n"
                f"Usage example: $ python train.py --hyp {save_dir / 'hyp_evolve.yaml'}")


def sync_bucket(bucket: str, src: str | Path, dst: str | Path) -> None:
    """--bucket: copy evolve.csv from / to Google Cloud Storage with gsutil, as YOLOv5 does."""
    if not bucket:
        return
    if shutil.which("gsutil") is None:
        LOGGER.info(f"--bucket {bucket}: gsutil is not installed, evolve.csv stays in the run folder only")
        return
    subprocess.run(["gsutil", "cp", str(src), str(dst)], check=False)


def note_logger_flags(opt: argparse.Namespace) -> None:
    """YOLOv5's Weights & Biases / ClearML / Comet flags: accepted; one line when set but no such logger exists."""
    logger_flags = {"entity": None, "upload_dataset": False, "bbox_interval": -1, "artifact_alias": "latest"}
    used = [f"--{k}" for k, default in logger_flags.items() if getattr(opt, k) != default]
    loggers = [m for m in ("wandb", "clearml", "comet_ml") if importlib.util.find_spec(m) is not None]
    if used and not loggers:
        LOGGER.info(f"{', '.join(used)}: options of the Weights & Biases / ClearML / Comet loggers, none of which is "
                    f"installed; ignored")


def main(opt: argparse.Namespace) -> None:
    if RANK in {-1, 0}:
        print_args(vars(opt), "train: ")
        note_logger_flags(opt)
    check_args(vars(opt), special={"batch_size": ((-1, "AutoBatch"),)})
    opt = prepare_options(opt)
    device = select_device(opt.device, batch_size=opt.batch_size)
    if LOCAL_RANK != -1:
        device = init_distributed(opt, device)
        run_dir = [opt.save_dir]  # rank 0's folder: another rank may have counted exp2 once rank 0 made exp
        dist.broadcast_object_list(run_dir, 0)
        opt.save_dir = run_dir[0]
    try:
        with RunLock(opt.save_dir) if RANK in {-1, 0} else contextlib.nullcontext():
            evolve(opt, device) if opt.evolve else train(opt.hyp, opt, device)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def run(**kwargs) -> argparse.Namespace:
    """Python entry: run(data='coco8.yaml', cfg='yolov5n-ghostdyn.yaml', weights='', imgsz=320, epochs=3)."""
    opt = parse_opt(True)
    for k, v in kwargs.items():
        setattr(opt, k, v)
    main(opt)
    return opt


if __name__ == "__main__":
    exit_on_user_error(main)(parse_opt())
