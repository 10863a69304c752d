"""Each model in every CPU runtime we ship, side by side: ms/image and the ratio of each model to the first one.

    python -m tools.benchmarks.runtimes --weights ../shared/weights/yolov5n.pt \
        ../shared/weights/yolov5n-ghostdyn-seedpatch.pt --imgsz 640 --threads 1 --clock cpu

Runtimes: PyTorch (fused, eager), TorchScript (traced at batch 1, batch-agnostic), ONNX Runtime on a static export per
batch size and on one --dynamic export, OpenVINO (when installed) on the static ONNX exports; `--runtimes` picks some
(PyTorch always runs). Exports are written to runs/benchmarks/runtimes/; all sides of one batch size run in turns in
this process, at --threads threads each. Detection, segmentation (rows with mask coefficients) and classification
(class scores) models alike, e.g. the classifiers and their floor:

    python -m tools.benchmarks.runtimes --weights ../shared/weights/yolov5n-cls-coco128cls.pt \
        ../shared/weights/yolov5n-cls-ghostdyn-seedpatch.pt --imgsz 224 --free-bottlenecks --runtimes onnx
"""

from __future__ import annotations

import importlib.util
from copy import deepcopy
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import torch

from tools.benchmarks.cli import Settings, main
from tools.benchmarks.timing import measure
from tools.benchmarks.variants import checkpoint_copy, diff_scale, first_output, quiet
from utils.files import ROOT

TITLE = "Runtimes at {imgsz}, ms/image; ratio = model / first model in the same runtime and batch"
Runner = Callable[[np.ndarray], np.ndarray]


def exports(pt: Path, imgsz: int, batch: int, include: list[str], dynamic: bool) -> dict[str, Path]:
    """{kind: file} of export.py's files in the include formats for one batch size."""
    import export

    with quiet():
        files = export.run(weights=pt, imgsz=(imgsz,), batch_size=batch, include=include, dynamic=dynamic)
    return {Path(f).suffix or "openvino": Path(f) for f in files}


def onnxruntime_runner(f: Path, threads: int) -> Runner:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(f), so, providers=["CPUExecutionProvider"])
    return lambda x: session.run(None, {session.get_inputs()[0].name: x})[0]


def openvino_runner(d: Path, threads: int) -> Runner:
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(str(next(d.glob("*.xml"))), "CPU",
                                  {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY",
                                   "INFERENCE_PRECISION_HINT": "f32"})  # fp32 exports: no bf16 on CPUs that have it
    return lambda x: compiled(x)[0]


def torch_runner(model: torch.nn.Module, device: torch.device) -> Runner:
    def run(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return first_output(model(torch.from_numpy(x).to(device))).cpu().numpy()

    return run


def runners(name: str, weights: str, model: torch.nn.Module, s: Settings, batch: int,
            folder: Path) -> dict[str, Runner]:
    """{runtime: run(images) -> predictions} of one model at one batch size."""
    with quiet(), torch.no_grad():
        fused = deepcopy(model).fuse().eval()
    out = {"PyTorch fused": torch_runner(fused, s.device)}
    if s.device.type != "cpu":
        return out
    want = set(s.runtimes) - ({"openvino"} if importlib.util.find_spec("openvino") is None else set())
    include = [k for k in ("torchscript", "onnx") if k in want] + (["onnx", "openvino"] if "openvino" in want else [])
    if include:
        static = exports(checkpoint_copy(weights, model, folder / name / f"b{batch}"), s.imgsz, batch,
                         list(dict.fromkeys(include)), False)
    if "torchscript" in want:
        out["TorchScript"] = torch_runner(torch.jit.load(str(static[".torchscript"])), s.device)
    if "onnx" in want:
        out["ONNX Runtime static"] = onnxruntime_runner(static[".onnx"], s.threads)
    if "onnx-dynamic" in want:
        dynamic = exports(checkpoint_copy(weights, model, folder / name / "dynamic"), s.imgsz, 1, ["onnx"], True)
        out["ONNX Runtime --dynamic"] = onnxruntime_runner(dynamic[".onnx"], s.threads)
    if "openvino" in want:
        out["OpenVINO static"] = openvino_runner(static["openvino"], s.threads)
    return out


def table(s: Settings) -> pd.DataFrame:
    """Rows: runtime and batch; columns: each model's ms/image, its ratio to the first model, and the largest
    difference of its predictions from PyTorch's (boxes / image size, confidences, class scores)."""
    folder = ROOT / "runs/benchmarks/runtimes"
    torch.backends.cudnn.benchmark = s.device.type == "cuda"
    names = list(s.models)
    rows = []
    for b in s.inference_batches:
        sides = {name: runners(name, w, s.models[name], s, b, folder) for name, w in zip(names, s.weights)}
        x = np.random.default_rng(0).random((b, 3, s.imgsz, s.imgsz), dtype=np.float32)
        for runtime in sides[names[0]]:
            fns = {name: (lambda f=sides[name][runtime]: f(x)) for name in names if runtime in sides[name]}
            diffs = {}
            for name, fn in fns.items():  # these calls also warm up TorchScript's profiling executor
                y, y0 = fn(), sides[name]["PyTorch fused"](x)
                scale = np.array(diff_scale(y0, s.imgsz), dtype=np.float32)
                diffs[name] = float((np.abs(y - y0) / scale).max())
            t = measure(fns, s.runs, clock=s.clock)
            row = {"runtime": runtime, "batch": b}
            for name in fns:
                row[f"{name} ms/img"] = t[name] / b * 1e3
                row[f"{name} ratio"] = t[name] / t[names[0]]
                row[f"{name} diff vs PyTorch"] = diffs[name]
            rows.append(row)
    return pd.DataFrame(rows)


if __name__ == "__main__":
    main(("runtimes",))
