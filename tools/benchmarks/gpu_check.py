"""GPU readiness in one command: both models trained with AMP, validated with --half, detect.py, exports, and the
developer benchmarks on the device, ending with one table of seconds, ms/image and peak memory.

    python -m tools.benchmarks.gpu_check --device 0                       # the check (a few minutes on one GPU)
    python -m tools.benchmarks.gpu_check --device cpu --quick             # a dry run of every step at tiny sizes

Each step runs in a fresh process (this module with --step), so its peak memory (CUDA: max allocated; CPU: peak RSS) is its own. Outputs go to
runs/gpu_check/; the table is printed and written to runs/gpu_check/gpu_check.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from tools.benchmarks.cli import markdown
from tools.benchmarks.timing import machine_summary, peak_rss, reset_peak_rss
from utils.files import ROOT
from utils.logger import LOGGER, colorstr

SHARED = ROOT.parent / "shared"
WEIGHTS = (SHARED / "weights/yolov5n.pt", SHARED / "weights/yolov5n-ghostdyn-seedpatch.pt")


def step_job(kind: str, kwargs: dict) -> tuple[float, float, object]:
    """(wall seconds, peak memory MB, what the step returned) of train/val/detect/export.run(**kwargs), in this
    (fresh) process."""
    import importlib

    cuda = kwargs.get("device", "") != "cpu" and torch.cuda.is_available()
    torch.backends.cudnn.benchmark = cuda
    reset_peak_rss()
    t = time.perf_counter()
    out = importlib.import_module(kind).run(**kwargs)
    seconds = time.perf_counter() - t
    peak = torch.cuda.max_memory_allocated() / 2 ** 20 if cuda else peak_rss()
    if kind == "train":
        out = str(out.save_dir)
    elif kind == "val":
        out = {"mAP50-95": float(out[0][3]), "ms/img": float(out[2][1])}
    else:
        out = str(out)
    return seconds, peak, out


def in_subprocess(kind: str, kwargs: dict) -> tuple[float, float, object]:
    """step_job in a fresh, non-daemon Python process (training starts its own loader workers)."""
    with tempfile.TemporaryDirectory() as d:
        result = Path(d) / "result.json"
        subprocess.run([sys.executable, "-m", "tools.benchmarks.gpu_check", "--step", kind, json.dumps(kwargs),
                        str(result)], check=True, cwd=ROOT)
        return tuple(json.loads(result.read_text()))


def _images(data: str) -> tuple[int, int]:
    """(train images, val images) of a data YAML."""
    from utils.data.config import check_dataset
    from utils.data.image_files import list_image_files

    d = check_dataset(data)
    return len(list_image_files(d["train"])), len(list_image_files(d["val"]))


def shared_coco128(save_dir: Path) -> str:
    """data/coco128.yaml pointed at ../shared/datasets/coco128 when that copy exists (no download needed)."""
    from utils.files import yaml_load, yaml_save

    data = ROOT / "data/coco128.yaml"
    if not (SHARED / "datasets/coco128/images").is_dir():
        return str(data)
    f = save_dir / "coco128.yaml"
    yaml_save(f, {**yaml_load(data), "path": str(SHARED / "datasets/coco128")})
    return str(f)


def run_steps(opt: argparse.Namespace, save_dir: Path) -> list[dict]:
    """Train, validate (--half on CUDA), detect and export each model; one row per step."""
    cuda = opt.device != "cpu"
    n_train, n_val = _images(opt.data)
    rows = []
    for w in opt.weights:
        name = Path(w).stem
        common = dict(device=opt.device, imgsz=opt.imgsz)
        s, mem, out = in_subprocess("train", dict(
            common, weights=str(w), data=opt.data, epochs=opt.epochs, batch_size=opt.batch_size,
            workers=opt.workers, project=str(save_dir / "train"), name=name, exist_ok=True, noplots=True))
        best = Path(out) / "weights/best.pt"
        rows.append({"model": name, "step": f"train {opt.epochs} epochs{' (AMP)' if cuda else ''}", "seconds": s,
                     "ms/img": s / (opt.epochs * n_train) * 1e3, "peak MB": mem})
        s, mem, out = in_subprocess("val", dict(
            common, weights=str(best), data=opt.data, batch_size=opt.batch_size, half=cuda, plots=False,
            workers=opt.workers, project=str(save_dir / "val"), name=name, exist_ok=True))
        rows.append({"model": name, "step": f"val.py{' --half' if cuda else ''}", "seconds": s,
                     "ms/img": out["ms/img"], "peak MB": mem, "mAP50-95": out["mAP50-95"]})
        images = sorted(p for p in (SHARED / "images").glob("*.jpg"))
        s, mem, _ = in_subprocess("detect", dict(
            common, imgsz=(opt.imgsz, opt.imgsz), weights=str(best), source=str(SHARED / "images"), half=cuda,
            project=str(save_dir / "detect"), name=name, exist_ok=True))
        rows.append({"model": name, "step": "detect.py", "seconds": s, "ms/img": s / max(len(images), 1) * 1e3,
                     "peak MB": mem})
        s, mem, out = in_subprocess("export", dict(
            common, imgsz=(opt.imgsz,), weights=str(best), include=("torchscript", "onnx"), half=cuda))
        rows.append({"model": name, "step": "export torchscript onnx", "seconds": s, "peak MB": mem})
    return rows


def run_benchmarks(opt: argparse.Namespace, save_dir: Path) -> None:
    """The developer benchmarks on the same device, unchanged: runtimes and ratios (training step, torch.compile)."""
    for section in ("runtimes", "ratios"):
        cmd = [sys.executable, "-m", f"tools.benchmarks.{section}", "--weights", *map(str, opt.weights),
               "--device", opt.device, "--imgsz", str(opt.imgsz), "--runs", str(opt.runs), "--clock", "wall",
               "--markdown", str(save_dir / f"{section}.md")] + (["--quick"] if opt.quick else [])
        LOGGER.info(f"\n{colorstr('gpu_check:')} {' '.join(cmd)}")
        subprocess.run(cmd, check=True, cwd=ROOT)


def parse_opt(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.benchmarks.gpu_check")
    parser.add_argument("--weights", nargs="+", default=[str(w) for w in WEIGHTS], help="models to check")
    parser.add_argument("--device", default="0", help="cuda device, i.e. 0 (cpu for a dry run)")
    parser.add_argument("--data", default="", help="dataset.yaml (default: coco128, from ../shared when there)")
    parser.add_argument("--imgsz", type=int, default=640, help="image size (pixels)")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs")
    parser.add_argument("--batch-size", type=int, default=16, help="train and val batch size")
    parser.add_argument("--workers", type=int, default=4, help="dataloader workers")
    parser.add_argument("--runs", type=int, default=10, help="benchmark runs per figure")
    parser.add_argument("--skip-benchmarks", action="store_true", help="only the train/val/detect/export steps")
    parser.add_argument("--quick", action="store_true", help="dry run: 64 px, 1 epoch, coco8, tiny benchmarks")
    opt = parser.parse_args(argv)
    if opt.quick:
        opt.imgsz, opt.epochs, opt.batch_size, opt.runs = 64, 1, 4, 2
        opt.data = str(ROOT / "data/coco8.yaml")
    return opt


def main(opt: argparse.Namespace) -> pd.DataFrame:
    save_dir = ROOT / "runs/gpu_check"
    save_dir.mkdir(parents=True, exist_ok=True)
    machine = machine_summary(torch.get_num_threads())
    if opt.device != "cpu" and torch.cuda.is_available():
        machine += f", {torch.cuda.get_device_name(int(opt.device.split(',')[0]))}"
    opt.data = opt.data or shared_coco128(save_dir)
    df = pd.DataFrame(run_steps(opt, save_dir))
    if not opt.skip_benchmarks:
        run_benchmarks(opt, save_dir)
    LOGGER.info(f"\n{colorstr('gpu_check:')} {machine}\n{df.to_string(index=False, float_format=lambda v: f'{v:.4g}')}")
    (save_dir / "gpu_check.md").write_text(f"Machine: {machine}\n\n{markdown(df)}\n")
    return df


if __name__ == "__main__":
    if sys.argv[1:2] == ["--step"]:  # one step, run by in_subprocess: kind, kwargs (JSON), result file
        Path(sys.argv[4]).write_text(json.dumps(step_job(sys.argv[2], json.loads(sys.argv[3]))))
    else:
        main(parse_opt())
