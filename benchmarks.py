"""Speed benchmarks: DynamicConv kernels, model inference and training, peak memory, export backends, data loading.

Usage:
    python benchmarks.py --weights yolov5n.pt yolov5n-ghostdyn.yaml --imgsz 640 --threads 2
    python benchmarks.py --section dynconv inference --runs 5
    python benchmarks.py --section export --weights yolov5n.pt --data coco128.yaml --val-imgsz 320

Weights may be checkpoints (.pt) or model YAMLs (random weights: timings only, mAP near 0). Every figure is the median
of --runs runs after warm-up, and the sides of each comparison run in turns in one process. The timm reference is
timm's own CondConv2d forward, reachable from this benchmark only. Tables are printed and saved to
runs/benchmarks/exp*/benchmarks.md, exports to its weights/ folder.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
from copy import deepcopy
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ContextManager

import pandas as pd
import psutil
import torch
import torch.nn as nn

from models.common import DynamicConv
from tools.benchmarks.timing import in_fresh_process, machine_summary, measure, peak_rss, reset_peak_rss
from utils.errors import UserError, exit_on_user_error
from utils.files import ROOT, increment_path, yaml_load
from utils.logger import LOGGER, colorstr, print_args
from utils.torch_utils import select_device, time_sync

SECTIONS = ("dynconv", "inference", "train", "memory", "export", "loader")
HYP = ROOT / "data/hyps/hyp.scratch-low.yaml"


@dataclass
class Settings:
    """Sizes and clocks of one benchmark run (--quick shrinks them for tests)."""

    imgsz: int
    runs: int
    threads: int
    clock: str
    device: torch.device
    inference_batches: tuple[int, ...] = (1, 8)
    train_batch: int = 16
    loader_batch: int = 16
    val_imgsz: int = 320
    val_images: int = 32
    batch_size: int = 1


# ---------------------------------------------------------------------------------------------------------------------
# Models and their variants


def _timm_forward(self: DynamicConv, x: torch.Tensor) -> torch.Tensor:
    y = self.cond_conv(x, self.routing_weights(x))
    return y if self.shift is None else y + self.shift.view(1, -1, 1, 1)


@contextlib.contextmanager
def timm_reference():
    """Inside this block every DynamicConv runs timm's own CondConv2d forward: the reference the fast path is timed
    against, reachable from the benchmark only."""
    fast = DynamicConv.forward
    DynamicConv.forward = _timm_forward
    try:
        yield
    finally:
        DynamicConv.forward = fast


@contextlib.contextmanager
def quiet():
    """Silence model summaries and export chatter while models are built."""
    level = LOGGER.level
    LOGGER.setLevel("WARNING")
    try:
        yield
    finally:
        LOGGER.setLevel(level)


def load_float_model(weights: str, device: torch.device) -> nn.Module:
    """An unfused fp32 eval model from a checkpoint, or with random weights from a model YAML."""
    with quiet():
        if str(weights).endswith((".yaml", ".yml")):
            from models.yolo import DetectionModel

            torch.manual_seed(0)
            return DetectionModel(weights).to(device).eval()
        from models.loading import load_model

        return load_model(weights, device, fuse=False).float().eval()


def is_dynamic(model: nn.Module) -> bool:
    return any(isinstance(m, DynamicConv) for m in model.modules())


Variant = tuple[nn.Module, Callable[[], ContextManager]]


def inference_variants(model: nn.Module) -> dict[str, Variant]:
    """The ways a model can run inference: timm reference (dynamic models only), fast unfused, fast fused."""
    with quiet(), torch.no_grad():
        fused = deepcopy(model).fuse().eval()
    if is_dynamic(model):
        return {"timm reference, unfused": (model, timm_reference), "fast, unfused": (model, contextlib.nullcontext),
                "fast, fused": (fused, contextlib.nullcontext)}
    return {"unfused": (model, contextlib.nullcontext), "fused": (fused, contextlib.nullcontext)}


def train_variants(model: nn.Module) -> dict[str, Callable[[], ContextManager]]:
    return {"timm reference": timm_reference, "fast": contextlib.nullcontext} if is_dynamic(model) else \
        {"fast": contextlib.nullcontext}


def load_models(weights: list[str], device: torch.device) -> dict[str, nn.Module]:
    return {Path(w).stem: load_float_model(w, device) for w in weights}


# ---------------------------------------------------------------------------------------------------------------------
# DynamicConv layers alone


def dynconv_shapes(model: nn.Module, imgsz: int, device: torch.device) -> list[tuple[DynamicConv, tuple, int]]:
    """Each distinct DynamicConv layer shape of a model at imgsz: (a layer, its input (C, H, W), layers sharing it)."""
    calls = []
    hooks = [m.register_forward_hook(lambda m, i, o: calls.append((m, tuple(i[0].shape[1:]))))
             for m in model.modules() if isinstance(m, DynamicConv)]
    with torch.no_grad():
        model(torch.zeros(1, 3, imgsz, imgsz, device=device))
    for h in hooks:
        h.remove()
    groups: dict[tuple, list] = {}
    for m, shape in calls:
        cc = m.cond_conv
        key = (cc.in_channels, cc.out_channels, cc.kernel_size, cc.stride, cc.groups, cc.bias is not None, shape)
        groups.setdefault(key, [m, shape, 0])[2] += 1
    return [tuple(v) for v in groups.values()]


def _layer_label(m: DynamicConv, shape: tuple) -> str:
    cc = m.cond_conv
    k, s = cc.kernel_size[0], cc.stride[0]
    kind = "dw " if cc.groups == cc.in_channels > 1 else ""
    return f"{k}x{k} {kind}{cc.in_channels}->{cc.out_channels}{f' s{s}' if s > 1 else ''} @{shape[1]}x{shape[2]}"


def _dynconv_row(layer: DynamicConv, shape: tuple, count: int, batch: int, s: Settings) -> dict:
    """One layer shape: forward and forward+backward, timm vs fast; the largest difference of outputs, and of
    gradients relative to their largest value (they are sums over a whole batch of feature maps)."""
    layer = deepcopy(layer).train().requires_grad_(True)
    torch.manual_seed(0)
    x = torch.randn(batch, *shape, device=s.device)
    with torch.no_grad():
        grad_out = torch.randn_like(layer(x))

    def forward(ctx):
        with ctx(), torch.no_grad():
            return [layer(x)]

    def forward_backward(ctx):
        xi = x.detach().requires_grad_()
        layer.zero_grad(set_to_none=True)
        with ctx():
            y = layer(xi)
            y.backward(grad_out)
        return [y.detach(), xi.grad] + [p.grad for p in layer.parameters()]

    ref, fast = forward_backward(timm_reference), forward_backward(contextlib.nullcontext)
    row = {"layer": _layer_label(layer, shape), "n": count}
    for name, fn in (("fwd", forward), ("fwd+bwd", forward_backward)):
        t = measure({"timm": lambda fn=fn: fn(timm_reference), "fast": lambda fn=fn: fn(contextlib.nullcontext)},
                    s.runs, clock=s.clock)
        row.update({f"{name} timm ms": t["timm"] * 1e3, f"{name} fast ms": t["fast"] * 1e3,
                    f"{name} x": t["timm"] / t["fast"]})
    row["out max abs diff"] = (ref[0] - fast[0]).abs().max().item()
    row["grad max rel diff"] = max(((a - b).abs().max() / a.abs().max()).item() for a, b in zip(ref[1:], fast[1:]))
    return row


def bench_dynconv(models: dict[str, nn.Module], s: Settings) -> pd.DataFrame | None:
    """Every DynamicConv shape of the first dynamic model, at the training batch size; a count-weighted total row."""
    name = next((k for k, m in models.items() if is_dynamic(m)), None)
    if name is None:
        LOGGER.info("dynconv: no model with DynamicConv layers among --weights, skipped")
        return None
    rows = [_dynconv_row(m, shape, n, s.train_batch, s) for m, shape, n in dynconv_shapes(models[name], s.imgsz,
                                                                                          s.device)]
    df = pd.DataFrame(rows)
    total = {"layer": f"total ({name}, all layers)", "n": int(df["n"].sum()),
             "out max abs diff": df["out max abs diff"].max(), "grad max rel diff": df["grad max rel diff"].max()}
    for p in ("fwd", "fwd+bwd"):
        total[f"{p} timm ms"] = (df[f"{p} timm ms"] * df["n"]).sum()
        total[f"{p} fast ms"] = (df[f"{p} fast ms"] * df["n"]).sum()
        total[f"{p} x"] = total[f"{p} timm ms"] / total[f"{p} fast ms"]
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)


# ---------------------------------------------------------------------------------------------------------------------
# Whole-model inference and training


def _predictions(model: nn.Module, ctx: Callable[[], ContextManager], x: torch.Tensor) -> torch.Tensor:
    with ctx(), torch.no_grad():
        return model(x)[0]


def bench_inference(models: dict[str, nn.Module], s: Settings) -> pd.DataFrame:
    """ms/image of every model variant at each inference batch size, and the largest difference of its predictions
    from the model's first variant (boxes as fractions of the image size, confidences as they are)."""
    variants = {(name, v): pair for name, m in models.items() for v, pair in inference_variants(m).items()}
    rows = {key: {"model": key[0], "variant": key[1]} for key in variants}
    for b in s.inference_batches:
        x = torch.rand(b, 3, s.imgsz, s.imgsz, device=s.device)
        t = measure({key: lambda m=m, c=c: _predictions(m, c, x) for key, (m, c) in variants.items()}, s.runs,
                    clock=s.clock)
        for key in variants:
            rows[key][f"b{b} ms/img"] = t[key] / b * 1e3
            ref = t.get((key[0], "timm reference, unfused"))
            rows[key][f"b{b} x vs ref"] = ref / t[key] if ref else float("nan")
    x = torch.rand(s.inference_batches[-1], 3, s.imgsz, s.imgsz, device=s.device)
    scale = torch.tensor([s.imgsz] * 4 + [1] * (max(m.model[-1].no for m in models.values()) - 4), device=s.device)
    for name, m in models.items():
        first = next(k for k in variants if k[0] == name)
        y0 = _predictions(*variants[first], x)
        for key in (k for k in variants if k[0] == name):
            diff = (_predictions(*variants[key], x) - y0).abs() / scale[:y0.shape[-1]]
            rows[key]["max abs diff"] = diff.max().item()
    return pd.DataFrame(list(rows.values()))


def synthetic_batch(batch: int, imgsz: int, nc: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """Random images and four random labelled boxes per image, (n, 6) [image, class, x, y, w, h] normalized."""
    g = torch.Generator().manual_seed(0)
    imgs = torch.rand(batch, 3, imgsz, imgsz, generator=g)
    n = 4 * batch
    xy, wh = torch.rand(n, 2, generator=g) * 0.6 + 0.2, torch.rand(n, 2, generator=g) * 0.35 + 0.05
    cls = torch.randint(0, nc, (n, 1), generator=g).float()
    targets = torch.cat((torch.arange(batch).repeat_interleave(4).view(-1, 1).float(), cls, xy, wh), 1)
    return imgs.to(device), targets.to(device)


class TrainStep:
    """One optimizer step as train.py takes it: forward, YOLOv5 loss, backward, SGD step (AMP on CUDA)."""

    def __init__(self, model: nn.Module, ctx: Callable[[], ContextManager], device: torch.device):
        from utils.training.loss import ComputeLoss
        from utils.torch_utils import smart_optimizer

        hyp = yaml_load(HYP)
        self.model, self.ctx, self.device = deepcopy(model).train(), ctx, device
        self.model.hyp = hyp
        for p in self.model.parameters():
            p.requires_grad_(True)
        with quiet():
            self.optimizer = smart_optimizer(self.model, "SGD", hyp["lr0"], hyp["momentum"], hyp["weight_decay"])
        self.compute_loss = ComputeLoss(self.model)

    def loss(self, imgs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with self.ctx(), torch.autocast(self.device.type, enabled=self.device.type == "cuda"):
            return self.compute_loss(self.model(imgs), targets)

    def __call__(self, imgs: torch.Tensor, targets: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        loss, _ = self.loss(imgs, targets)
        with self.ctx():
            loss.backward()
        self.optimizer.step()


def bench_train(models: dict[str, nn.Module], s: Settings) -> pd.DataFrame:
    """ms/image of a training step at the training batch size; losses of the sides compared on the same batch first."""
    rows, steps = [], {}
    for name, m in models.items():
        imgs, targets = synthetic_batch(s.train_batch, s.imgsz, m.model[-1].nc, s.device)
        sides = {v: TrainStep(m, ctx, s.device) for v, ctx in train_variants(m).items()}
        items = {v: step.loss(imgs, targets)[1] for v, step in sides.items()}
        first = next(iter(items.values()))
        for v, step in sides.items():
            steps[(name, v)] = lambda step=step, imgs=imgs, targets=targets: step(imgs, targets)
            rows.append({"model": name, "variant": v, "loss abs diff": (items[v] - first).abs().max().item()})
    t = measure(steps, s.runs, clock=s.clock)
    for row, key in zip(rows, steps):
        row[f"b{s.train_batch} ms/img"] = t[key] / s.train_batch * 1e3
        ref = t.get((key[0], "timm reference"))
        row["x vs ref"] = ref / t[key] if ref else float("nan")
    return pd.DataFrame(rows)[["model", "variant", f"b{s.train_batch} ms/img", "x vs ref", "loss abs diff"]]


# ---------------------------------------------------------------------------------------------------------------------
# Peak memory, each figure from a fresh process


def memory_job(weights: str, variant: str, mode: str, batch: int, imgsz: int, threads: int,
               device: str) -> tuple[float, float]:
    """(peak RSS MB, RSS MB before the measured call) of one inference or training call, run in a fresh process."""
    torch.set_num_threads(threads)
    dev = torch.device(device)
    model = load_float_model(weights, dev)
    if mode == "inference":
        m, ctx = inference_variants(model)[variant]
        x = torch.rand(batch, 3, imgsz, imgsz, device=dev)
        call = lambda: _predictions(m, ctx, x)  # noqa: E731
    else:
        step = TrainStep(model, train_variants(model)[variant], dev)
        imgs, targets = synthetic_batch(batch, imgsz, model.model[-1].nc, dev)
        call = lambda: step(imgs, targets)  # noqa: E731
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev) / 2 ** 20
        call()
        return torch.cuda.max_memory_allocated(dev) / 2 ** 20, before
    before = reset_peak_rss()
    call()
    return peak_rss(), before


def bench_memory(weights: list[str], models: dict[str, nn.Module], s: Settings) -> pd.DataFrame:
    """Peak memory of each inference variant (largest inference batch) and training side, one fresh process each."""
    rows = []
    unit = "CUDA MB" if s.device.type == "cuda" else "RSS MB"
    for w, (name, m) in zip(weights, models.items()):
        jobs = [("inference", v, s.inference_batches[-1]) for v in inference_variants(m)]
        jobs += [("train", v, s.train_batch) for v in train_variants(m)]
        for mode, v, b in jobs:
            peak, before = in_fresh_process(memory_job, w, v, mode, b, s.imgsz, s.threads, str(s.device))
            rows.append({"model": name, "mode": f"{mode} b{b}", "variant": v, f"peak {unit}": peak,
                         f"peak - before call {unit}": peak - before})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------------------------------
# Export backends (YOLOv5's benchmarks.py table) and the data loader


def validation_yaml(data: str, n: int, save_dir: Path) -> Path:
    """A data YAML whose val split is the first n images of `data`'s (all when n is 0), written to save_dir."""
    from utils.data.config import check_dataset
    from utils.files import yaml_save
    from utils.data.image_files import list_image_files

    d = check_dataset(data)
    images = list_image_files(d["val"])
    listing = save_dir / "val_images.txt"
    listing.write_text("\n".join(images[:n] if n else images) + "\n")
    f = save_dir / "val_data.yaml"
    yaml_save(f, {"path": str(save_dir), "train": str(listing), "val": str(listing), "names": d["names"]})
    return f


def _weights_copy(weights: str, save_dir: Path, device: torch.device) -> Path:
    """The weights as a checkpoint in save_dir/weights (exports are written beside it; a YAML is built and saved)."""
    folder = save_dir / "weights"
    folder.mkdir(parents=True, exist_ok=True)
    f = folder / f"{Path(weights).stem}.pt"
    if str(weights).endswith((".yaml", ".yml")):
        from models.checkpoints import save_checkpoint

        model = load_float_model(weights, device).requires_grad_(False)
        model.nc = model.model[-1].nc  # train.py sets it; val.py checks it against the data
        save_checkpoint({"epoch": -1, "best_fitness": None, "model": deepcopy(model).half(), "ema": None,
                         "updates": None, "optimizer": None}, f)
    else:
        from utils.downloads import attempt_download

        shutil.copyfile(attempt_download(weights), f)
    return f


REF_ROW = "PyTorch (timm reference)"
KIND_NAMES = {"pt": "PyTorch", "jit": "TorchScript", "onnx": "ONNX", "openvino": "OpenVINO"}  # backends.model_type


def _export_formats(pt_only: bool) -> list[str]:
    """export.py --include arguments to benchmark: TorchScript, ONNX and OpenVINO when it is installed."""
    if pt_only:
        return []
    formats = ["torchscript", "onnx"]
    if importlib.util.find_spec("openvino"):
        formats.append("openvino")
    else:
        LOGGER.info("export: openvino is not installed, its row is skipped")
    return formats


def _exports(pt: Path, formats: list[str], data: Path | None, opt: argparse.Namespace, s: Settings) -> dict[str, Path]:
    """Export pt to every format; a failed export is a warning (its row is skipped), or an error with --hard-fail."""
    import export
    from models.backends import FORMATS, model_type

    if not formats:
        return {}
    with quiet():
        written = export.run(data=data or ROOT / "data/coco8.yaml", weights=pt, imgsz=(s.val_imgsz,),
                             batch_size=s.batch_size, device=opt.device or "cpu", include=formats, half=opt.half)
    files = {KIND_NAMES[model_type(f)]: Path(f) for f in written}
    missing = [name for name, (arg, _) in FORMATS.items() if arg in formats and name not in files]
    if missing and opt.hard_fail:
        raise UserError(f"benchmarks --hard-fail: exporting {pt} to {', '.join(missing)} failed")
    if missing:
        LOGGER.info(f"WARNING ⚠️ exporting {pt} to {', '.join(missing)} failed; those rows are skipped")
    return files


def _backend_latency(files: dict[str, Path], s: Settings, fp16: bool) -> dict[str, float]:
    """ms/image at batch --batch-size of each file through DetectMultiBackend, the backends in turns."""
    from models.backends import DetectMultiBackend

    x = torch.rand(s.batch_size, 3, s.val_imgsz, s.val_imgsz, device=s.device)
    fns = {}
    with quiet():
        for fmt, f in files.items():
            reference = fmt == REF_ROW
            backend = DetectMultiBackend(f, device=s.device, fp16=fp16 and not reference, fuse=not reference)
            ctx = timm_reference if reference else contextlib.nullcontext
            fns[fmt] = lambda b=backend, ctx=ctx: _predictions(b, ctx, x.half() if b.fp16 else x)
    t = measure(fns, s.runs, clock=s.clock)
    return {k: v / s.batch_size * 1e3 for k, v in t.items()}


def _map50_95(data: Path, f: Path, s: Settings, save_dir: Path, half: bool,
              ctx: Callable[[], ContextManager]) -> float:
    import val

    with ctx(), quiet():
        result = val.run(data=str(data), weights=str(f), batch_size=s.batch_size, imgsz=s.val_imgsz, task="speed",
                         device=str(s.device.index) if s.device.type == "cuda" else "cpu", plots=False, half=half,
                         project=save_dir, name="val", exist_ok=True)
    return result[0][3]


def _size_mb(f: Path) -> float:
    return sum(p.stat().st_size for p in ([f] if f.is_file() else f.rglob("*") if f.is_dir() else [])) / 1e6


def bench_export(weights: list[str], opt: argparse.Namespace, s: Settings, save_dir: Path) -> pd.DataFrame:
    """YOLOv5's benchmarks table per weights file and backend: size, mAP50-95 on the validation subset, ms/image; for
    dynamic models also timm's forward (unfused PyTorch), the reference of the speed column's ratio."""
    data = None if opt.test else validation_yaml(opt.data, s.val_images, save_dir)
    formats = _export_formats(opt.pt_only)
    rows = []
    for w in weights:
        pt = _weights_copy(w, save_dir, s.device)
        files = {"PyTorch": pt, **_exports(pt, formats, data, opt, s)}
        if is_dynamic(load_float_model(str(pt), s.device)):
            files[REF_ROW] = pt
        latency = _backend_latency(files, s, opt.half)
        for fmt, f in files.items():
            reference = fmt == REF_ROW
            m = float("nan") if data is None else _map50_95(data, f, s, save_dir, opt.half and not reference,
                                                            timm_reference if reference else contextlib.nullcontext)
            rows.append({"model": Path(w).stem, "Format": fmt, "Size (MB)": _size_mb(f), "mAP50-95": m,
                         "Inference time (ms)": latency[fmt],
                         "x of timm ref time": latency[fmt] / latency[REF_ROW] if REF_ROW in latency else float("nan")})
    return pd.DataFrame(rows)


def _loader_memory_mb(me: psutil.Process) -> float:
    """RSS of this process plus the memory unique to each of its workers (pages shared after fork counted once)."""
    return (me.memory_info().rss + sum(p.memory_full_info().uss for p in me.children(recursive=True))) / 2 ** 20


def bench_loader(opt: argparse.Namespace, s: Settings) -> pd.DataFrame:
    """Training loader throughput (mosaic on) over one epoch after a first batch that starts the workers, and the
    peak memory of the process and its workers sampled after every batch."""
    from utils.data.config import check_dataset
    from utils.data.loaders import create_dataloader

    hyp = yaml_load(HYP)
    data = check_dataset(opt.data)
    train = data["train"]
    with quiet():
        loader, _ = create_dataloader(train, s.imgsz, s.loader_batch, 32, hyp=hyp, augment=True, workers=opt.workers,
                                      shuffle=True, prefix=colorstr("loader: "))
    me = psutil.Process()
    next(iter(loader))
    peak, images, t0 = _loader_memory_mb(me), 0, time_sync()
    for imgs, *_ in loader:
        images += imgs.shape[0]
        peak = max(peak, _loader_memory_mb(me))
    seconds = time_sync() - t0
    name = os.path.relpath(train, Path(data["path"]).parent) if isinstance(train, str) else str(train)
    return pd.DataFrame([{"data": name, "images": images, "imgsz": s.imgsz, "batch": s.loader_batch,
                          "workers": opt.workers, "mosaic": hyp.get("mosaic", 0) > 0, "images/s": images / seconds,
                          "peak MB (main RSS + workers USS)": peak}])


# ---------------------------------------------------------------------------------------------------------------------
# Command line


def markdown(df: pd.DataFrame) -> str:
    """A GitHub table of df, numbers rounded for reading."""
    def cell(v) -> str:
        if isinstance(v, float):
            return "-" if v != v else "0" if v == 0 else f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"
        return str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


TITLES = {
    "dynconv": "DynamicConv layers alone, batch {train_batch} at {imgsz} (timm's CondConv2d forward vs fast path)",
    "inference": "Model inference at {imgsz}, ms/image (max abs diff: boxes / image size, confidences)",
    "train": "Training step at {imgsz} (forward + loss + backward + SGD), ms/image",
    "memory": "Peak memory, one fresh process per figure ({imgsz})",
    "export": "Export backends at {val_imgsz}, batch {batch_size} (mAP50-95 on the first {val_images} val images)",
    "loader": "Data loader, training mode with mosaic at {imgsz}",
}


def settings(opt: argparse.Namespace) -> Settings:
    device = select_device(opt.device)
    if opt.half and device.type == "cpu":
        raise UserError("--half needs a CUDA device, i.e. use --device 0")
    if opt.clock == "cpu" and os.getenv("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        LOGGER.info("WARNING ⚠️ --clock cpu also counts threads spinning while they wait; "
                    "set OMP_WAIT_POLICY=PASSIVE for CPU times that mean work done")
    if opt.quick:
        return Settings(imgsz=64, runs=2, threads=opt.threads, clock=opt.clock, device=device, inference_batches=(1, 2),
                        train_batch=2, loader_batch=2, val_imgsz=64, val_images=4, batch_size=opt.batch_size)
    return Settings(imgsz=opt.imgsz, runs=opt.runs, threads=opt.threads, clock=opt.clock, device=device,
                    val_imgsz=opt.val_imgsz, val_images=opt.val_images, batch_size=opt.batch_size)


def run(opt: argparse.Namespace) -> dict[str, pd.DataFrame]:
    """Run the chosen sections; print each table and save them all to benchmarks.md; returns them by section."""
    sections = SECTIONS if "all" in opt.section else tuple(x for x in SECTIONS if x in opt.section)
    s = settings(opt)
    threads = torch.get_num_threads()
    torch.set_num_threads(s.threads)
    try:
        return _run_sections(sections, opt, s)
    finally:
        torch.set_num_threads(threads)


def _run_sections(sections: tuple[str, ...], opt: argparse.Namespace, s: Settings) -> dict[str, pd.DataFrame]:
    save_dir = increment_path(Path(opt.project) / opt.name, exist_ok=opt.exist_ok, mkdir=True)
    weights = [str(w) for w in opt.weights]
    models = load_models(weights, s.device) if {"dynconv", "inference", "train", "memory"} & set(sections) else {}
    machine = machine_summary(s.threads)
    LOGGER.info(f"{colorstr('benchmarks:')} {machine}")
    tables: dict[str, pd.DataFrame] = {}
    report = [f"Machine: {machine}", f"Clock: {s.clock}, median of {s.runs} runs after warm-up", ""]
    makers = {"dynconv": lambda: bench_dynconv(models, s), "inference": lambda: bench_inference(models, s),
              "train": lambda: bench_train(models, s), "memory": lambda: bench_memory(weights, models, s),
              "export": lambda: bench_export(weights, opt, s, save_dir), "loader": lambda: bench_loader(opt, s)}
    for section in sections:
        df = makers[section]()
        if df is None:
            continue
        tables[section] = df
        title = TITLES[section].format(**vars(s))
        LOGGER.info(f"\n{colorstr(title)}\n{df.to_string(index=False, float_format=lambda v: f'{v:.4g}')}")
        report += [f"### {title}", "", markdown(df), ""]
    (save_dir / "benchmarks.md").write_text("\n".join(report))
    LOGGER.info(f"\nResults saved to {colorstr('bold', save_dir / 'benchmarks.md')}")
    return tables


def parse_opt(argv: list[str] | None = None) -> argparse.Namespace:
    """YOLOv5's benchmarks.py flags, plus the sections, runs, threads and clock of this project's speed tables."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", nargs="+", default=["yolov5n.pt", "yolov5n-ghostdyn.yaml"],
                        help="checkpoints (.pt) or model YAMLs (random weights) to compare")
    parser.add_argument("--imgsz", "--img", "--img-size", type=int, default=640, help="inference size (pixels)")
    parser.add_argument("--batch-size", type=int, default=1, help="export/validation batch size")
    parser.add_argument("--data", type=str, default=ROOT / "data/coco128.yaml", help="dataset.yaml path")
    parser.add_argument("--device", default="", help="cuda device, i.e. 0 or 0,1,2,3 or cpu")
    parser.add_argument("--half", action="store_true", help="use FP16 half-precision inference (exports)")
    parser.add_argument("--test", action="store_true", help="test exports only (no validation)")
    parser.add_argument("--pt-only", action="store_true", help="test PyTorch only (no exports)")
    parser.add_argument("--hard-fail", action="store_true", help="fail when an export fails")
    parser.add_argument("--section", nargs="+", default=["all"], choices=["all", *SECTIONS], help="tables to make")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per figure (median), after one warm-up")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch intra-op CPU threads")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                        help="wall time, or this process's CPU time (steadier on a loaded machine)")
    parser.add_argument("--val-imgsz", type=int, default=320, help="export section: inference size (pixels)")
    parser.add_argument("--val-images", type=int, default=32, help="export section: first N val images (0 = all)")
    parser.add_argument("--workers", type=int, default=2, help="loader section: dataloader workers")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 2 runs (a smoke test, not figures)")
    parser.add_argument("--project", default=ROOT / "runs/benchmarks", help="save to project/name")
    parser.add_argument("--name", default="exp", help="save to project/name")
    parser.add_argument("--exist-ok", action="store_true", help="existing project/name ok, do not increment")
    opt = parser.parse_args(argv)
    if opt.runs < 1 or opt.threads < 1:
        parser.error("--runs and --threads must be at least 1")
    print_args(vars(opt), "benchmarks: ")
    return opt


@exit_on_user_error
def main(opt: argparse.Namespace) -> None:
    run(opt)


if __name__ == "__main__":
    main(parse_opt())
