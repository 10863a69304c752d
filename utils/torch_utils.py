"""PyTorch helpers: devices, seeds, model cost, BN fusion, EMA weights and optimizer groups."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from copy import deepcopy

import numpy as np
import torch
import torch.nn as nn

from utils.distributed import torch_distributed_zero_first  # noqa: F401  (YOLOv5's import path)
from utils.errors import UserError
from utils.logger import LOGGER

def select_device(device: str = "", batch_size: int = 0, newline: bool = True) -> torch.device:
    """Parse --device ('', 'cpu', '0', '0,1', 'mps'); fail clearly when a requested GPU is not there.

    Only parses and logs: no environment variable set, nothing tuned. Entry scripts call keep_freed_memory() for CPU
    work themselves."""
    s = f"YOLOv5 🚀 Python-{'.'.join(map(str, __import__('sys').version_info[:3]))} torch-{torch.__version__} "
    device = str(device).strip().lower().replace("cuda:", "").replace("none", "")
    cpu, mps = device == "cpu", device == "mps"
    if device and not cpu and not mps:
        ids = [d for d in device.replace(" ", "").split(",") if d]
        if not all(d.isdigit() for d in ids):
            raise UserError(f"invalid --device '{device}', use 'cpu', 'mps' or CUDA ids such as '0' or '0,1'")
        available = torch.cuda.device_count()
        missing = [d for d in ids if int(d) >= available]
        if missing:
            raise UserError(f"invalid CUDA '--device {device}' requested, this machine has {available} CUDA device(s); "
                            f"use '--device cpu' or one of {list(range(available)) or 'none'}")
    if not cpu and not mps and torch.cuda.is_available():
        ids = device.split(",") if device else ["0"]
        n = len(ids)
        if n > 1 and batch_size > 0 and batch_size % n:
            raise UserError(f"--batch-size {batch_size} must be a multiple of the number of GPUs ({n})")
        for i, d in enumerate(ids):
            p = torch.cuda.get_device_properties(int(d))
            s += f"{'' if i == 0 else ' ' * len(s)}CUDA:{d} ({p.name}, {p.total_memory / (1 << 20):.0f}MiB)\n"
        arg = f"cuda:{ids[0]}"
    elif mps and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        s += "MPS\n"
        arg = "mps"
    else:
        s += "CPU\n"
        arg = "cpu"
    if not newline:
        s = s.rstrip()
    LOGGER.info(s)
    return torch.device(arg)


def keep_freed_memory(device: torch.device | str = "cpu") -> bool:
    """For CPU work, have glibc keep freed blocks for reuse instead of unmapping every one over 32 MB: each batch-sized
    tensor would page-fault in again, costing more than the operator that fills it (docs/speed_notes.md).

    A process-wide allocator setting, so libraries never call it: the entry scripts (train.py, val.py, detect.py,
    export.py, the benchmarks) do, once their device is known. True when set; a no-op for other devices or without
    glibc."""
    return torch.device(device).type == "cpu" and _glibc_keeps_freed_memory()


@functools.cache
def _glibc_keeps_freed_memory() -> bool:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(libc.mallopt(m_mmap_threshold, 1 << 30) and libc.mallopt(m_trim_threshold, 1 << 30))


def time_sync() -> float:
    """time.time() after waiting for queued CUDA work, so timings are honest (a process that never used CUDA has none,
    and is not made to start it)."""
    if torch.cuda.is_initialized():
        torch.cuda.synchronize()
    return time.time()


class Profile(contextlib.ContextDecorator):
    """YOLOv5's timer for users' scripts: `with dt:` adds the block's seconds to dt.t; dt.dt is the last block's."""

    def __init__(self, t: float = 0.0):
        self.t, self.dt, self.start = t, 0.0, 0.0

    def __enter__(self) -> "Profile":
        self.start = time_sync()
        return self

    def __exit__(self, *exc) -> None:
        self.dt = time_sync() - self.start
        self.t += self.dt


def smart_inference_mode(enabled: bool = True):
    """Decorator YOLOv5 users put on their own inference functions: inference_mode, or a no-op when disabled."""
    return torch.inference_mode(mode=enabled)


def init_seeds(seed: int = 0, deterministic: bool = False) -> None:
    """Seed every random generator. deterministic=True also switches deterministic kernels on for the rest of the
    process (YOLOv5's behaviour); code that must not leave them on runs inside deterministic_algorithms(seed)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)
    if deterministic:
        _set_determinism(_deterministic_settings(seed))


@contextlib.contextmanager
def preserved_rng() -> Iterator[None]:
    """The python, numpy and torch random streams as they were before the block: code that is not part of training
    (an experiment tracker drawing run ids) must not change which augmentations and shuffles a seeded run gets."""
    state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None
    try:
        yield
    finally:
        random.setstate(state[0])
        np.random.set_state(state[1])
        torch.set_rng_state(state[2])
        if cuda is not None:
            torch.cuda.set_rng_state_all(cuda)


_DETERMINISM_ENV = ("CUBLAS_WORKSPACE_CONFIG", "PYTHONHASHSEED")


def _deterministic_settings(seed: int) -> tuple:
    """The settings of deterministic_algorithms(seed): warn (not fail) where an op has no deterministic kernel."""
    return True, True, True, {"CUBLAS_WORKSPACE_CONFIG": ":4096:8", "PYTHONHASHSEED": str(seed)}


def _determinism() -> tuple:
    """The process's current settings, in _set_determinism's order."""
    return (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
            torch.backends.cudnn.deterministic, {k: os.environ.get(k) for k in _DETERMINISM_ENV})


def _set_determinism(settings: tuple) -> None:
    algorithms, warn_only, cudnn, env = settings
    torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
    torch.backends.cudnn.deterministic = cudnn
    for k, v in env.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@contextmanager
def deterministic_algorithms(seed: int = 0) -> Iterator[None]:
    """PyTorch's deterministic kernels (cuDNN, cuBLAS) inside the block, the previous settings back after it: a
    reproducible training run leaves the process as it found it."""
    previous = _determinism()
    _set_determinism(_deterministic_settings(seed))
    try:
        yield
    finally:
        _set_determinism(previous)


def is_parallel(model: nn.Module) -> bool:
    return isinstance(model, (nn.parallel.DataParallel, nn.parallel.DistributedDataParallel))


def de_parallel(model: nn.Module) -> nn.Module:
    """The plain model inside a DP/DDP wrapper."""
    return model.module if is_parallel(model) else model


def count_flops(model: nn.Module, imgsz: int | tuple[int, int] = 640) -> float:
    """GFLOPs of one image at full size, counted at the operator level (2 per multiply-add), dynamic convs included."""
    from torch.utils.flop_counter import FlopCounterMode

    h, w = (imgsz, imgsz) if isinstance(imgsz, int) else imgsz
    p = next(model.parameters())
    x = torch.zeros(1, 3, h, w, device=p.device, dtype=p.dtype)
    training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(x)
    model.train(training)
    return counter.get_total_flops() / 1e9


def model_info(model: nn.Module, verbose: bool = False, imgsz: int | tuple[int, int] = 640) -> tuple:
    """Log 'summary: L layers, P parameters, G gradients, F GFLOPs' and return those four numbers."""
    n_p = sum(x.numel() for x in model.parameters())
    n_g = sum(x.numel() for x in model.parameters() if x.requires_grad)
    if verbose:
        LOGGER.info(f"{'layer':>5} {'name':>40} {'gradient':>9} {'parameters':>12} {'shape':>20} {'mu':>10} {'sigma':>10}")
        for i, (name, p) in enumerate(model.named_parameters()):
            LOGGER.info(f"{i:5g} {name:>40} {str(p.requires_grad):>9} {p.numel():12g} {str(list(p.shape)):>20} "
                        f"{p.mean():10.3g} {p.std() if p.numel() > 1 else 0:10.3g}")
    try:
        flops = count_flops(model, imgsz)
        fs = f", {flops:.1f} GFLOPs"
    except Exception as e:  # a model that cannot run a dummy image still gets its parameter count
        LOGGER.debug(f"FLOPs not counted: {e}")
        flops, fs = 0.0, ""
    name = getattr(model, "yaml_file", "") or "Model"
    from pathlib import Path

    name = Path(name).stem.replace("yolov5", "YOLOv5") if name != "Model" else name
    n_l = len(list(model.modules()))
    LOGGER.info(f"{name} summary: {n_l} layers, {n_p:,} parameters, {n_g:,} gradients{fs}")
    return n_l, n_p, n_g, flops


@torch.no_grad()
def fuse_conv_and_bn(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """One Conv2d equal to conv followed by bn in eval mode."""
    fused = nn.Conv2d(conv.in_channels, conv.out_channels, kernel_size=conv.kernel_size, stride=conv.stride,
                      padding=conv.padding, dilation=conv.dilation, groups=conv.groups, bias=True,
                      padding_mode=conv.padding_mode).requires_grad_(False).to(conv.weight.device)
    scale, shift = bn_scale_shift(bn)
    fused.weight.copy_(conv.weight * scale.view(-1, 1, 1, 1))
    conv_bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
    fused.bias.copy_(conv_bias * scale + shift)
    return fused


def bn_scale_shift(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """The per-channel affine map y = scale * x + shift that an eval-mode BatchNorm applies.

    shift in YOLOv5's order of operations (weight * mean / std), so fused models agree with YOLOv5's to the last bit."""
    std = torch.sqrt(bn.running_var + bn.eps)
    return (bn.weight / std).detach(), (bn.bias - bn.weight * bn.running_mean / std).detach()


def initialize_weights(model: nn.Module) -> None:
    """YOLOv5's BN and activation settings (default conv init is kept)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eps = 1e-3
            m.momentum = 0.03
        elif isinstance(m, (nn.Hardswish, nn.LeakyReLU, nn.ReLU, nn.ReLU6, nn.SiLU)):
            m.inplace = True


def to_float_image(im: torch.Tensor | np.ndarray, device: torch.device | str, half: bool = False) -> torch.Tensor:
    """uint8 images (0-255) as the float (or half) tensor in [0, 1] on `device` that every model here takes."""
    x = torch.from_numpy(im) if isinstance(im, np.ndarray) else im
    x = x.to(device, non_blocking=True)
    y = x.half() if half else x.float()
    return y.div_(255) if y is not x else y / 255  # a new tensor is scaled in place: no second full-size buffer


def scale_img(img: torch.Tensor, ratio: float = 1.0, same_shape: bool = False, gs: int = 32) -> torch.Tensor:
    """Resize a batch by ratio and pad to a multiple of gs (test-time augmentation)."""
    if ratio == 1.0:
        return img
    h, w = img.shape[2:]
    s = (int(h * ratio), int(w * ratio))
    img = nn.functional.interpolate(img, size=s, mode="bilinear", align_corners=False)
    if not same_shape:
        h, w = (math.ceil(x * ratio / gs) * gs for x in (h, w))
    return nn.functional.pad(img, [0, w - s[1], 0, h - s[0]], value=0.447)


def copy_attr(a, b, include: tuple = (), exclude: tuple = ()) -> None:
    """Copy b's public attributes onto a."""
    for k, v in b.__dict__.items():
        if (include and k not in include) or k.startswith("_") or k in exclude:
            continue
        setattr(a, k, v)


def intersect_dicts(da: dict, db: dict, exclude: tuple = ()) -> dict:
    """Entries of da whose key is in db with the same shape (weight transfer between models)."""
    return {k: v for k, v in da.items() if k in db and all(x not in k for x in exclude) and v.shape == db[k].shape}


class ModelEMA:
    """Exponential moving average of model weights, with a decay that ramps up over the first updates."""

    def __init__(self, model: nn.Module, decay: float = 0.9999, tau: int = 2000, updates: int = 0):
        self.ema = deepcopy(de_parallel(model)).eval()
        self.updates = updates
        self.decay = lambda x: decay * (1 - math.exp(-x / tau))
        for p in self.ema.parameters():
            p.requires_grad_(False)

    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = self.decay(self.updates)
        msd = de_parallel(model).state_dict()
        with torch.no_grad():
            for k, v in self.ema.state_dict().items():
                if v.dtype.is_floating_point:
                    v *= d
                    v += (1 - d) * msd[k].detach()

    def update_attr(self, model: nn.Module, include: tuple = (), exclude: tuple = ("process_group", "reducer")) -> None:
        copy_attr(self.ema, model, include, exclude)


def smart_optimizer(model: nn.Module, name: str = "Adam", lr: float = 0.001, momentum: float = 0.9,
                    decay: float = 1e-5) -> torch.optim.Optimizer:
    """Three parameter groups: weights with decay, normalization weights without, biases without."""
    g_bn, g_w, g_b = [], [], []
    norm_types = tuple(v for k, v in nn.__dict__.items() if "Norm" in k)
    for module in model.modules():
        for p_name, p in module.named_parameters(recurse=False):
            if p_name == "bias":
                g_b.append(p)
            elif isinstance(module, norm_types):
                g_bn.append(p)
            else:
                g_w.append(p)
    if name == "Adam":
        optimizer = torch.optim.Adam(g_b, lr=lr, betas=(momentum, 0.999))
    elif name == "AdamW":
        optimizer = torch.optim.AdamW(g_b, lr=lr, betas=(momentum, 0.999), weight_decay=0.0)
    elif name == "RMSProp":
        optimizer = torch.optim.RMSprop(g_b, lr=lr, momentum=momentum)
    elif name == "SGD":
        optimizer = torch.optim.SGD(g_b, lr=lr, momentum=momentum, nesterov=True)
    else:
        raise UserError(f"optimizer '{name}' not known, use SGD, Adam, AdamW or RMSProp")
    optimizer.add_param_group({"params": g_w, "weight_decay": decay})
    optimizer.add_param_group({"params": g_bn, "weight_decay": 0.0})
    LOGGER.info(f"optimizer: {type(optimizer).__name__}(lr={lr}) with parameter groups "
                f"{len(g_bn)} weight(decay=0.0), {len(g_w)} weight(decay={decay}), {len(g_b)} bias")
    return optimizer


def smartCrossEntropyLoss(label_smoothing: float = 0.0) -> nn.CrossEntropyLoss:  # noqa: N802 (YOLOv5's name)
    """classify/train.py's loss: cross-entropy against (1 - eps) one-hot + eps / nc uniform targets."""
    return nn.CrossEntropyLoss(label_smoothing=label_smoothing)
