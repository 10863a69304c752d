"""Export-format benchmarks, as YOLOv5's benchmarks.py: every format export.py writes, with its file size, mAP50-95
on --data's val split and inference ms/image through DetectMultiBackend (val.py's timing).

Usage:
    python benchmarks.py --weights yolov5n.pt --imgsz 640
    python benchmarks.py --weights yolov5n.pt --test          # exports only: which formats work on this machine

Weights are copied to runs/benchmarks/exp*/weights and exported beside the copy. Developer benchmarks (DynamicConv
kernels vs timm, inference variants, training step, memory, data loader): python -m tools.benchmarks --help
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import platform
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Callable

import pandas as pd
import torch

import export
import val
from models.backends import EDGE_UNRUNNABLE, FORMATS
from utils.downloads import attempt_download
from utils.checks import check_args
from utils.errors import UserError, exit_on_user_error
from utils.files import ROOT, file_size, increment_path
from utils.data.config import check_dataset
from utils.logger import LOGGER, print_args

TF_RUNNABLE = ("saved_model", "pb", "tflite")  # the TensorFlow formats with a CPU runtime here
ISOLATED = ("paddle",)  # run in their own process: importing paddle where TensorFlow is loaded crashes (SIGSEGV)


def one_thread_setting() -> None:
    """Every runtime at torch's thread count (OMP_NUM_THREADS=1 gives 1-thread timings): TensorFlow reads its
    setting when first used, which the export may do before the timed SavedModel/GraphDef loads."""
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(torch.get_num_threads()))
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


def _weights_copy(weights: str | Path, project: Path, name: str) -> Path:
    """The checkpoint copied into a fresh run folder, so exports land there and never beside shared weights."""
    save_dir = increment_path(Path(project) / name, mkdir=True)
    (save_dir / "weights").mkdir()
    return Path(shutil.copy(attempt_download(weights), save_dir / "weights"))


def _exported(weights: Path, suffix: str) -> Path | None:
    """A file or folder already exported beside the weights copy (exports are all-or-nothing, the folder is fresh)."""
    return next((f for f in sorted(weights.parent.glob(f"{weights.stem}*{suffix}")) if f != weights), None)


def _export(weights: Path, fmt: str, arg: str, suffix: str, imgsz: int, batch_size: int, device: str,
            half: bool) -> Path:
    """The PyTorch weights themselves, or their export to one format (export.py logs why one fails); SavedModel,
    GraphDef and TFLite are written together by the first of them, from one onnx2tf conversion."""
    if arg == "-":
        return weights
    if _exported(weights, suffix) is None:
        with contextlib.suppress(UserError):  # a failed format is the missing file below; export.py said why
            export.run(weights=weights, imgsz=(imgsz,), batch_size=batch_size, device=device or "cpu",
                       include=TF_RUNNABLE if arg in TF_RUNNABLE else (arg,), half=half)
    f = _exported(weights, suffix)
    if f is None:
        raise RuntimeError(f"export to {fmt} failed")
    return f


def _measure(w: Path, fmt: str, arg: str, suffix: str, data: str | Path, imgsz: int, batch_size: int, device: str,
             half: bool, threads: int) -> list:
    """One table row: the export's size, and its mAP50-95 and inference ms/image as val.py measures them."""
    torch.set_num_threads(threads)
    f = _export(w, fmt, arg, suffix, imgsz, batch_size, device, half)
    result = val.run(data, f, batch_size, imgsz, plots=False, device=device, task="speed", half=half,
                     project=w.parent.parent, name="val", exist_ok=True)
    return [fmt, round(file_size(f), 1), round(result[0][3], 4), round(result[2][1], 2)]


def _call(isolated: bool, fn: Callable, *args):
    """fn(*args), in a fresh process when isolated: a crash there is this format's error, not the end of the run."""
    if not isolated:
        return fn(*args)
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def cannot_run(arg: str) -> str | None:
    """Why a format cannot run inference on this machine, so it is not exported (YOLOv5 skips these alike)."""
    if arg == "coreml" and platform.system() != "Darwin":
        return "Core ML models run only on macOS (Linux exports them and checks them structurally)"
    return EDGE_UNRUNNABLE.get(arg)


def _failed(fmt: str, e: Exception, hard_fail: bool | str) -> None:
    if hard_fail:
        raise UserError(f"benchmarks --hard-fail: {fmt}: {e}") from e
    LOGGER.warning(f"WARNING ⚠️ Benchmark failure for {fmt}: {e}")


def _check_floor(py: pd.DataFrame, hard_fail: bool | str) -> None:
    """--hard-fail FLOOR: every measured mAP50-95 must exceed FLOOR."""
    if isinstance(hard_fail, str):
        floor = float(hard_fail)
        low = py[py["mAP50-95"].notna() & (py["mAP50-95"] <= floor)]
        if len(low):
            raise UserError(f"benchmarks --hard-fail {floor}: mAP50-95 of {', '.join(low['Format'])} not above it")


def run(weights: str | Path = ROOT / "yolov5n.pt", imgsz: int = 640, batch_size: int = 1,
        data: str | Path = ROOT / "data/coco128.yaml", device: str = "", half: bool = False, test: bool = False,
        pt_only: bool = False, hard_fail: bool | str = False, project: str | Path = ROOT / "runs/benchmarks",
        name: str = "exp") -> pd.DataFrame:
    """Format, Size (MB), mAP50-95 and Inference time (ms) of weights in every format; a failed one is a row of
    blanks and a warning (an error with --hard-fail)."""
    t = time.time()
    one_thread_setting()
    check_dataset(data)  # a bad --data is one error up front, not a failure per format
    w = _weights_copy(weights, project, name)
    rows, skipped = [], {}
    for fmt, (arg, suffix) in list(FORMATS.items())[:1 if pt_only else None]:
        skipped[fmt] = cannot_run(arg)
        if skipped[fmt]:
            rows.append([fmt, None, None, None])
            continue
        try:
            rows.append(_call(arg in ISOLATED, _measure, w, fmt, arg, suffix, data, imgsz, batch_size, device, half,
                              torch.get_num_threads()))
        except Exception as e:  # one format failing must not stop the others (YOLOv5 alike)
            _failed(fmt, e, hard_fail)
            rows.append([fmt, None, None, None])
    py = pd.DataFrame(rows, columns=["Format", "Size (MB)", "mAP50-95", "Inference time (ms)"])
    notes = "".join(f"\n{fmt}: not run, {why}" for fmt, why in skipped.items() if why)
    LOGGER.info(f"\nBenchmarks complete ({time.time() - t:.2f}s, {torch.get_num_threads()} CPU threads)\n{py}{notes}")
    _check_floor(py, hard_fail)
    return py


def test(weights: str | Path = ROOT / "yolov5n.pt", imgsz: int = 640, batch_size: int = 1, device: str = "",
         half: bool = False, pt_only: bool = False, hard_fail: bool | str = False,
         project: str | Path = ROOT / "runs/benchmarks", name: str = "exp", **_) -> pd.DataFrame:
    """Exports only: Format and whether this machine could write it."""
    t = time.time()
    w = _weights_copy(weights, project, name)
    rows = []
    for fmt, (arg, suffix) in FORMATS.items():
        try:
            _call(arg in ISOLATED, _export, w, fmt, arg, suffix, imgsz, batch_size, device, half)
            rows.append([fmt, True])
        except Exception as e:  # one format failing must not stop the others (YOLOv5 alike)
            _failed(fmt, e, hard_fail)
            rows.append([fmt, False])
        if pt_only:
            break
    py = pd.DataFrame(rows, columns=["Format", "Export"])
    LOGGER.info(f"\nExports complete ({time.time() - t:.2f}s)\n{py}")
    return py


def parse_opt(argv: list[str] | None = None) -> argparse.Namespace:
    """YOLOv5 v7.0's benchmarks.py flags and defaults (yolov5n.pt here), plus where runs are saved."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", type=str, default=ROOT / "yolov5n.pt", help="weights path")
    parser.add_argument("--imgsz", "--img", "--img-size", type=int, default=640, help="inference size (pixels)")
    parser.add_argument("--batch-size", type=int, default=1, help="batch size")
    parser.add_argument("--data", type=str, default=ROOT / "data/coco128.yaml", help="dataset.yaml path")
    parser.add_argument("--device", default="", help="cuda device, i.e. 0 or 0,1,2,3 or cpu")
    parser.add_argument("--half", action="store_true", help="use FP16 half-precision inference")
    parser.add_argument("--test", action="store_true", help="test exports only")
    parser.add_argument("--pt-only", action="store_true", help="test PyTorch only")
    parser.add_argument("--hard-fail", nargs="?", const=True, default=False,
                        help="Exception or validate threshold for inference")
    parser.add_argument("--project", default=ROOT / "runs/benchmarks", help="save to project/name")
    parser.add_argument("--name", default="exp", help="save to project/name")
    opt = parser.parse_args(argv)
    if isinstance(opt.hard_fail, str):
        try:
            float(opt.hard_fail)
        except ValueError:
            parser.error(f"--hard-fail takes an mAP50-95 floor such as 0.29, not '{opt.hard_fail}'")
    print_args(vars(opt), "benchmarks: ")
    return opt


@exit_on_user_error
def main(opt: argparse.Namespace) -> None:
    check_args(vars(opt))
    test(**vars(opt)) if opt.test else run(**vars(opt))


if __name__ == "__main__":
    main(parse_opt())
