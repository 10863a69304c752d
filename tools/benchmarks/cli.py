"""The command line every developer benchmark shares: flags, settings, and printing and saving its tables."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable

import pandas as pd
import torch
import torch.nn as nn

from tools.benchmarks.timing import machine_summary
from utils.errors import exit_on_user_error
from utils.files import ROOT
from utils.logger import LOGGER, colorstr, print_args
from utils.torch_utils import keep_freed_memory, select_device

SECTIONS = ("headline", "kernels", "inference", "train_step", "memory", "loader")
RUNTIMES = ("torchscript", "onnx", "onnx-dynamic", "openvino")  # runtimes section, beside PyTorch
METHOD = """Written by the command below; rerun it to refresh. Every figure is the median of the runs after one
warm-up; the sides of each comparison run in turns, the order reversed every round, so a change of machine load hits
them alike. With `--clock cpu` a figure is this process's CPU time (all threads), steadier than wall time on a shared
machine, where a preempted thread stalls the others (run with `OMP_WAIT_POLICY=PASSIVE`, or waiting threads count as
busy); the load average is printed with the machine, and ratios are the figures to trust under load. Weights may be
checkpoints or model YAMLs (random weights: timings only). The timm reference is `reference_conv2d` in
models/dynamic_kernels.py, timm's own CondConv2d forward, unfused. Each section's method follows its heading."""


@dataclass
class Settings:
    """What one benchmark run measures and how (--quick shrinks the sizes for tests)."""

    weights: list[str]
    imgsz: int
    runs: int
    threads: int
    clock: str
    device: torch.device
    data: str = str(ROOT / "data/coco128.yaml")
    workers: int = 2
    inference_batches: tuple[int, ...] = (1, 8)
    runtimes: tuple[str, ...] = RUNTIMES
    train_batch: int = 16
    loader_batch: int = 16

    @cached_property
    def models(self) -> dict[str, nn.Module]:
        """The --weights as fp32 eval models, loaded once for all sections of a run."""
        from tools.benchmarks.variants import load_float_model

        return {Path(w).stem: load_float_model(w, self.device) for w in self.weights}


Section = tuple[str, Callable[[Settings], "pd.DataFrame | None"]]  # (title with {settings} fields, table maker)


def markdown(df: pd.DataFrame) -> str:
    """A GitHub table of df, numbers rounded for reading."""
    def cell(v) -> str:
        if isinstance(v, float):
            return "-" if v != v else "0" if v == 0 else f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"
        return str(v)

    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def parse_opt(argv: list[str] | None = None, sections: tuple[str, ...] = ()) -> argparse.Namespace:
    """The flags of every section; `python -m tools.benchmarks` also takes the sections to run."""
    parser = argparse.ArgumentParser(prog="python -m tools.benchmarks" + (f".{sections[0]}" if sections else ""))
    if not sections:
        parser.add_argument("sections", nargs="*", default=list(SECTIONS), metavar="SECTION",
                            help=f"sections to run, in this order (default all): {' '.join(SECTIONS)}")
    parser.add_argument("--weights", nargs="+", default=["yolov5n.pt", "yolov5n-ghostdyn.yaml"],
                        help="checkpoints (.pt) or model YAMLs (random weights) to compare")
    parser.add_argument("--imgsz", "--img", "--img-size", type=int, default=640, help="image size (pixels)")
    parser.add_argument("--device", default="", help="cuda device, i.e. 0 or cpu")
    parser.add_argument("--runs", type=int, default=7, help="timed runs per figure (median), after one warm-up")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch intra-op CPU threads")
    parser.add_argument("--clock", choices=["wall", "cpu"], default="cpu",
                        help="this process's CPU time (steadier on a loaded machine), or wall time")
    parser.add_argument("--data", default=str(ROOT / "data/coco128.yaml"), help="loader section: dataset.yaml")
    parser.add_argument("--workers", type=int, default=2, help="loader section: dataloader workers")
    parser.add_argument("--free-bottlenecks", action="store_true",
                        help="also time the first model with every C3 bottleneck stack free: any replacement's floor")
    parser.add_argument("--runtimes", nargs="+", choices=RUNTIMES, default=list(RUNTIMES),
                        help="runtimes section: runtimes timed beside PyTorch (OpenVINO when installed)")
    parser.add_argument("--markdown", type=Path, help="also write the tables, with the method, to this file")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 2 runs (a smoke test, not figures)")
    opt = parser.parse_args(argv)
    if opt.runs < 1 or opt.threads < 1:
        parser.error("--runs and --threads must be at least 1")
    unknown = sorted(set(getattr(opt, "sections", [])) - set(SECTIONS))
    if unknown:
        parser.error(f"unknown section {', '.join(unknown)}; choose from {' '.join(SECTIONS)}")
    opt.sections = list(sections) or [s for s in SECTIONS if s in opt.sections]
    print_args(vars(opt), "benchmarks: ")
    opt.command = shlex.join([*parser.prog.split(), *(sys.argv[1:] if argv is None else argv)])
    return opt


def settings(opt: argparse.Namespace) -> Settings:
    device = select_device(opt.device)
    keep_freed_memory(device)
    if opt.clock == "cpu" and os.getenv("OMP_WAIT_POLICY", "").upper() != "PASSIVE" and opt.threads > 1:
        LOGGER.info("WARNING ⚠️ --clock cpu also counts threads spinning while they wait; "
                    "set OMP_WAIT_POLICY=PASSIVE for CPU times that mean work done")
    weights = [str(w) for w in opt.weights]
    if opt.free_bottlenecks:
        from tools.benchmarks.floor import floor_weights

        weights.append(floor_weights(weights[0], device))
    common = dict(weights=weights, threads=opt.threads, clock=opt.clock, device=device,
                  data=opt.data, workers=opt.workers, runtimes=tuple(opt.runtimes))
    if opt.quick:
        return Settings(imgsz=64, runs=2, inference_batches=(1, 2), train_batch=2, loader_batch=2, **common)
    return Settings(imgsz=opt.imgsz, runs=opt.runs, **common)


def _section(name: str) -> Section:
    import importlib

    module = importlib.import_module(f"tools.benchmarks.{name}")
    return module.TITLE, module.table


def _method(table: Callable) -> str:
    """A section's method, from its table function's docstring (so the report cannot drift from the code)."""
    return " ".join((table.__doc__ or "").split())


def run(opt: argparse.Namespace) -> dict[str, pd.DataFrame]:
    """Run opt.sections at opt.threads threads; print each table, write them to --markdown; returns them by name."""
    s = settings(opt)
    threads = torch.get_num_threads()
    torch.set_num_threads(s.threads)
    try:
        machine = machine_summary(s.threads)
        LOGGER.info(f"{colorstr('benchmarks:')} {machine}")
        tables, report = {}, [f"Command: `{opt.command}`  ", f"Machine: {machine}  ",
                              f"Clock: {s.clock} time, median of {s.runs} runs", ""]
        for name in opt.sections:
            title, table = _section(name)
            df = table(s)
            if df is None:
                continue
            tables[name] = df
            title = title.format(**vars(s))
            LOGGER.info(f"\n{colorstr(title)}\n{df.to_string(index=False, float_format=lambda v: f'{v:.4g}')}")
            report += [f"## {title}", "", _method(table), "", markdown(df), ""]
        if opt.markdown:
            opt.markdown.parent.mkdir(parents=True, exist_ok=True)
            opt.markdown.write_text(f"# Developer benchmarks\n\n{METHOD}\n\n" + "\n".join(report))
            LOGGER.info(f"\nTables written to {colorstr('bold', opt.markdown)}")
        return tables
    finally:
        torch.set_num_threads(threads)



@exit_on_user_error
def main(sections: tuple[str, ...] = ()) -> None:
    """Entry point of `python -m tools.benchmarks[.section]`."""
    run(parse_opt(None, sections))
