"""NCNN (pnnx), PaddlePaddle (x2paddle), CoreML (coremltools) and TensorRT exports of the traced model."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import torch

from utils.errors import UserError
from utils.export.outputs import atomic_output, find_program, metadata_text, require, write_yaml_metadata
from utils.logger import LOGGER

ENGINE_NEEDS_GPU = ("TensorRT (engine) export needs an NVIDIA GPU and the tensorrt package: run with --device 0 on a "
                    "CUDA machine")


def export_ncnn(ts_file: Path, file: Path, shape: tuple[int, ...], meta: dict, half: bool, prefix: str) -> Path:
    """<name>_ncnn_model/ (model.ncnn.param, model.ncnn.bin, metadata.yaml) converted by pnnx from TorchScript;
    pnnx's other outputs stay in a temporary folder."""
    pnnx = require("pnnx", "pnnx", "NCNN export")
    exe = find_program("pnnx", "NCNN export", "pip install pnnx", package="pnnx")
    LOGGER.info(f"\n{prefix} starting export with pnnx {getattr(pnnx, '__version__', '')}...")
    f = Path(str(file.with_suffix("")) + "_ncnn_model")
    with tempfile.TemporaryDirectory(dir=file.parent) as d, atomic_output(f) as tmp:
        tmp.mkdir()
        names = {k: str(Path(d) / f"model.{k}") for k in ("pnnx.param", "pnnx.bin", "pnnx.onnx")}
        args = [exe, str(ts_file), f"inputshape=[{','.join(map(str, shape))}]", f"fp16={int(half)}",
                f"ncnnparam={tmp / 'model.ncnn.param'}", f"ncnnbin={tmp / 'model.ncnn.bin'}",
                f"ncnnpy={Path(d) / 'model_ncnn.py'}", f"pnnxparam={names['pnnx.param']}",
                f"pnnxbin={names['pnnx.bin']}", f"pnnxpy={Path(d) / 'model_pnnx.py'}", f"pnnxonnx={names['pnnx.onnx']}"]
        r = subprocess.run(args, cwd=d, capture_output=True, text=True)
        if r.returncode or not (tmp / "model.ncnn.bin").exists():
            raise RuntimeError(f"pnnx exited with {r.returncode}: {(r.stderr or r.stdout).strip()[-300:]}")
        unsupported = sorted({ln.split()[1] for ln in r.stdout.splitlines() + r.stderr.splitlines()
                              if ln.startswith("ignore ") and len(ln.split()) > 1})
        if unsupported:
            raise RuntimeError(f"pnnx could not map {', '.join(unsupported[:5])} to NCNN layers")
        write_yaml_metadata(tmp, meta)
    return f


def export_paddle(model: torch.nn.Module, im: torch.Tensor, file: Path, meta: dict, prefix: str) -> Path:
    """<name>_paddle_model/ (inference_model/ and <name>.yaml metadata) traced by x2paddle from PyTorch, as YOLOv5."""
    require("paddle", "paddlepaddle", "PaddlePaddle export")
    x2paddle = require("x2paddle", "x2paddle", "PaddlePaddle export")
    from x2paddle.convert import pytorch2paddle

    LOGGER.info(f"\n{prefix} starting export with x2paddle {x2paddle.__version__}...")
    f = Path(str(file.with_suffix("")) + "_paddle_model")
    with atomic_output(f) as tmp:
        pytorch2paddle(module=model, save_dir=str(tmp), jit_type="trace", input_examples=[im], disable_feedback=True)
        if not (tmp / "inference_model").is_dir():
            raise RuntimeError("x2paddle wrote no inference_model (see its messages above)")
        write_yaml_metadata(tmp, meta, file.with_suffix(".yaml").name)
    return f


def export_coreml(model: torch.nn.Module, im: torch.Tensor, file: Path, meta: dict, half: bool, mlmodel: bool,
                  prefix: str) -> Path:
    """<name>.mlpackage (ML program), or <name>.mlmodel (neural network) with --mlmodel; image input scaled by
    1/255 as YOLOv5's; stride and names in user_defined_metadata."""
    ct = require("coremltools", "coremltools", "CoreML export")
    LOGGER.info(f"\n{prefix} starting export with coremltools {ct.__version__}...")
    f = file.with_suffix(".mlmodel" if mlmodel else ".mlpackage")
    ts = torch.jit.trace(model, im, strict=False)
    precision = None if mlmodel else ct.precision.FLOAT16 if half else ct.precision.FLOAT32
    ct_model = ct.convert(ts, inputs=[ct.ImageType("image", shape=im.shape, scale=1 / 255, bias=[0, 0, 0])],
                          convert_to="neuralnetwork" if mlmodel else "mlprogram", compute_precision=precision)
    ct_model.user_defined_metadata.update({k: str(v) if k == "stride" else metadata_text(v) for k, v in meta.items()})
    with atomic_output(f) as tmp:
        ct_model.save(str(tmp.with_suffix(f.suffix)))
        tmp.with_suffix(f.suffix).rename(tmp)
    return f


def export_engine(onnx_file: Path, file: Path, meta: dict, device: torch.device, half: bool, workspace: float,
                  verbose: bool, cache: str, prefix: str) -> Path:
    """<name>.engine built by TensorRT from the ONNX export, on the GPU it will run on (--workspace GB, --cache a
    timing-cache file); no metadata, as YOLOv5's engines."""
    if device.type != "cuda":
        raise UserError(ENGINE_NEEDS_GPU)
    trt = require("tensorrt", "tensorrt", "TensorRT export")
    LOGGER.info(f"\n{prefix} starting export with TensorRT {trt.__version__}...")
    logger = trt.Logger(trt.Logger.VERBOSE if verbose else trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_file)):
        raise RuntimeError(f"TensorRT cannot parse {onnx_file}: {parser.get_error(0)}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace * (1 << 30)))
    if half and builder.platform_has_fast_fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    timing = Path(cache) if cache else None
    if timing:
        config.set_timing_cache(config.create_timing_cache(timing.read_bytes() if timing.exists() else b""), False)
    engine = builder.build_serialized_network(network, config)
    if engine is None:
        raise RuntimeError("TensorRT could not build the engine (see its messages above)")
    if timing:
        timing.write_bytes(memoryview(config.get_timing_cache().serialize()))
    f = file.with_suffix(".engine")
    with atomic_output(f) as tmp:
        tmp.write_bytes(memoryview(engine))
    return f
