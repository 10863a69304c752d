"""Label-free warm start from a teacher (train.py --teacher-warmup-steps): blocks the teacher's weights cannot fill
(e.g. every C3_GhostModule of a Ghost model under a yolov5n teacher) learn to reproduce their counterpart's output.

First quarter of the steps: each block alone, fed the teacher's input to that block (local, cheap, no compounding;
its error plateaus within ~100 steps). The rest: the whole student on its own features (stitched), every block
matched to the teacher's (MSE over the teacher output's variance) and Detect's outputs to the teacher's (the
distillation's objectness, class and box terms, weighted by the dist_* hyps), every layer training, the copied ones
included, so that the errors of earlier blocks are corrected downstream. Adam, one-cycle LR. Only images are read,
from any folder or list: labels are never used. Each view is a mosaic of four images (hyp's mosaic probability) or
one, scaled, shifted, colour-jittered and flipped with the run's hyp, and blended with a second view with hyp's mixup
probability, so that long warm starts on few images do not over-fit (measured on 96 coco128 images:
docs/distillation.md).
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from models.loading import attempt_load
from utils.data.augmentations import augment_hsv, letterbox, mixup, mosaic4, random_perspective, resize_long_side
from utils.data.image_decode import UnreadableImage, read_image
from utils.data.image_files import list_image_files
from utils.errors import UserError
from engine.distillation import DIST_HYP, output_losses
from utils.logger import LOGGER, colorstr
from utils.torch_utils import intersect_dicts, to_float_image

LR = 1e-3
NO_LABELS = np.zeros((0, 5), np.float32)
CACHE_BYTES = 2**30  # decoded images kept in RAM, resized: a long warm start on few images decodes each once
LOCAL = 0.25  # share of the steps spent on local (block-alone) imitation
EPS = 1e-6
PREFIX = colorstr("warm start: ")


def _warp(hyp: dict) -> dict:
    """random_perspective's ranges from the hyp, as the labelled loader takes them."""
    return {k: hyp.get(k, 0.0) for k in ("degrees", "translate", "scale", "shear", "perspective")}


def augmented(ims: list[np.ndarray], imgsz: int, hyp: dict, rng: random.Random) -> np.ndarray:
    """An RGB CHW training view of BGR images: a mosaic of four, or one letterboxed, then rotated, scaled, sheared,
    shifted, colour-jittered and flipped by hyp's ranges."""
    if len(ims) == 4:
        canvas = mosaic4([(resize_long_side(im, imgsz), NO_LABELS, []) for im in ims], imgsz)[0]
        im = random_perspective(canvas, **_warp(hyp), border=(-imgsz // 2, -imgsz // 2))[0]
    else:
        im = letterbox(ims[0], imgsz, auto=False)[0]
        im = random_perspective(im, **_warp(hyp))[0]
    augment_hsv(im, hyp["hsv_h"], hyp["hsv_s"], hyp["hsv_v"])
    if rng.random() < hyp["fliplr"]:
        im = im[:, ::-1]
    return im.transpose((2, 0, 1))[::-1]


def _read(f: str) -> np.ndarray:
    try:
        return read_image(f)
    except UnreadableImage as e:
        raise UserError(f"{PREFIX}{f}: {e}") from None


def image_batches(source: str | Path | list, imgsz: int, batch_size: int, hyp: dict,
                  seed: int = 0) -> Iterator[torch.Tensor]:
    """Endless augmented batches (float, 0-1, RGB) of the images under source, shuffled each pass; each view is
    one image or a mosaic of it and three others at random, blended with another such view with hyp's mixup
    probability."""
    files = list_image_files(source, prefix=PREFIX)
    rng = random.Random(seed)
    batch_size = min(batch_size, len(files))

    @functools.lru_cache(maxsize=CACHE_BYTES // (3 * imgsz * imgsz))
    def load(f: str) -> np.ndarray:
        im = resize_long_side(_read(f), imgsz)
        im.setflags(write=False)  # shared by every view of it
        return im

    def view(f0: str) -> np.ndarray:
        others = rng.choices(files, k=3)  # drawn for single views too: one random sequence whatever the hyp
        mosaic = rng.random() < hyp.get("mosaic", 0.0)
        return augmented([load(f) for f in ([f0, *others] if mosaic else [f0])], imgsz, hyp, rng)

    def mixed(f0: str) -> np.ndarray:
        im = view(f0)
        if rng.random() < hyp.get("mixup", 0.0):
            im = mixup(im, NO_LABELS, view(rng.choice(files)), NO_LABELS)[0]
        return im

    while True:
        rng.shuffle(files)
        for i in range(0, len(files) - batch_size + 1, batch_size):
            views = [mixed(f0) for f0 in files[i:i + batch_size]]
            yield to_float_image(np.ascontiguousarray(np.stack(views)), "cpu")


def _outputs(model: nn.Module, layers: list[int], x: torch.Tensor, with_inputs: bool = False) -> tuple[dict, Any]:
    """({layer: output} (or (input, output)) of the given layers, the model's output) for one forward pass of x."""
    store = {}

    def keep(i: int):
        return lambda m, args, out: store.__setitem__(i, (args[0], out) if with_inputs else out)

    handles = [model.model[i].register_forward_hook(keep(i)) for i in layers]
    try:
        y = model(x)
    finally:
        for h in handles:
            h.remove()
    return store, y


def imitating_blocks(student: nn.Module, teacher: nn.Module, imgsz: int) -> list[int]:
    """Layers whose tensors differ from the teacher's layer at the same place, which must output the same shape."""
    if len(student.model) != len(teacher.model):
        raise UserError(f"{PREFIX}the teacher has {len(teacher.model)} layers, the model {len(student.model)}; "
                        f"the warm start needs a teacher of the same layout (e.g. yolov5n.pt for yolov5n-ghostdyn)")
    layers = []
    for i, (s, t) in enumerate(zip(student.model, teacher.model)):
        ss, st = s.state_dict(), t.state_dict()
        if ss.keys() != st.keys() or any(ss[k].shape != st[k].shape for k in ss):
            layers.append(i)
    x = torch.zeros(1, 3, imgsz, imgsz, device=next(student.parameters()).device)
    with torch.no_grad():
        out_s, out_t = _outputs(student.eval(), layers, x)[0], _outputs(teacher, layers, x)[0]
    for i in layers:
        if not (torch.is_tensor(out_s[i]) and torch.is_tensor(out_t[i]) and out_s[i].shape == out_t[i].shape):
            raise UserError(f"{PREFIX}layer {i} ({type(student.model[i]).__name__}) has no counterpart of the same "
                            f"output shape in the teacher; use a teacher of the model's widths and layout")
    return layers


def nmse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """MSE divided by the target's variance: 1 for a constant guess at the mean, 0 for a perfect match."""
    return F.mse_loss(a, b) / (b.var() + EPS)


def warm_start(student: nn.Module, teacher_weights: str | Path, source: str | Path | list, imgsz: int, steps: int,
               batch_size: int, hyp: dict, seed: int = 0) -> None:
    """Copy every teacher tensor that fits, then train the differing blocks to imitate the teacher's, and the whole
    student to match its features and outputs (in place); views follow the hyp's mosaic, mixup, translate, scale,
    hsv_* and fliplr, drawn from `seed`."""
    device = next(student.parameters()).device
    teacher = attempt_load(teacher_weights, device, fuse=False).float().eval()
    teacher.requires_grad_(False)
    state = intersect_dicts(teacher.state_dict(), student.state_dict())
    student.load_state_dict(state, strict=False)
    layers = imitating_blocks(student, teacher, imgsz)
    LOGGER.info(f"{PREFIX}copied {len(state)}/{len(student.state_dict())} tensors from {teacher_weights}; "
                f"{len(layers)} blocks {layers} imitate it for {steps} steps on images of {source}")
    if not layers or steps < 1:
        return
    optimizer = torch.optim.Adam(student.parameters(), lr=LR)  # the local steps reach the blocks only
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, LR, total_steps=steps, pct_start=0.1)
    anchors_s, anchors_t = student.model[-1].anchors, teacher.model[-1].anchors
    weights = [float(hyp.get(k, DIST_HYP[k])) for k in ("dist_obj", "dist_cls", "dist_box")]
    batches = image_batches(source, imgsz, batch_size, hyp, seed)
    student.train()
    t0, log_every, local = time.time(), max(steps // 10, 1), int(steps * LOCAL)
    for step in range(steps):
        imgs = next(batches).to(device)
        with torch.no_grad():
            target, (_, preds_t) = _outputs(teacher, layers, imgs, with_inputs=True)
        if step < local:  # local: each block from the teacher's input
            error = torch.stack([nmse(student.model[i](target[i][0]), target[i][1]) for i in layers]).mean()
            output = torch.zeros(())
        else:  # stitched: the student on its own features and outputs
            out, preds = _outputs(student, layers, imgs)
            error = torch.stack([nmse(out[i], target[i][1]) for i in layers]).mean()
            output = sum(w * t for w, t in zip(weights, output_losses(preds, preds_t, anchors_s, anchors_t)))
        optimizer.zero_grad()
        (error + output).backward()
        optimizer.step()
        scheduler.step()
        if (step + 1) % log_every == 0 or step + 1 == steps:
            LOGGER.info(f"{PREFIX}step {step + 1}/{steps} {'local' if step < local else 'stitched'} "
                        f"normalized error {error.item():.3f}, output terms {output.item():.3f} "
                        f"({time.time() - t0:.0f}s)")
    student.zero_grad(set_to_none=True)  # training starts from clean gradients
