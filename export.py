"""Export a trained detector to TorchScript, ONNX and OpenVINO, written beside the weights with stride and names.

Usage:
    python export.py --weights yolov5n.pt --include torchscript onnx openvino

Format       | --include    | written beside the weights
------------ | ------------ | --------------------------
TorchScript  | torchscript  | yolov5n.torchscript
ONNX         | onnx         | yolov5n.onnx
OpenVINO     | openvino     | yolov5n_openvino_model/

Inference with an export:
    python detect.py --weights yolov5n.onnx      (or .torchscript, yolov5n_openvino_model)
    python val.py --weights yolov5n.onnx
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
import warnings
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from models.backends import FORMATS
from models.dynamic_kernels import fixed_batch_export
from utils.checks import check_args, check_img_size
from utils.errors import UserError, exit_on_user_error
from utils.files import ROOT, file_size, yaml_save
from utils.logger import LOGGER, colorstr, print_args
from utils.torch_utils import select_device

EXPORT_CHOICES = tuple(arg for arg, _ in FORMATS.values() if arg != "-")


def timed_export(prefix: str, fn: Callable[..., Path], *args, **kwargs) -> Path | None:
    """Run one exporter; log success with time and size, or the failure reason, and go on with the others."""
    t = time.time()
    try:
        f = fn(*args, prefix=prefix, **kwargs)
    except UserError:
        raise
    except Exception as e:  # an exporter failing must not stop the remaining formats
        LOGGER.info(f"{prefix} export failure ❌ {time.time() - t:.1f}s: {type(e).__name__}: {e}")
        return None
    LOGGER.info(f"{prefix} export success ✅ {time.time() - t:.1f}s, saved as {f} ({file_size(f):.1f} MB)")
    return f


def model_metadata(model: nn.Module) -> dict:
    """What every export carries so loaders need no data YAML: the largest stride and the class names."""
    return {"stride": int(max(model.stride)), "names": {int(k): str(v) for k, v in model.names.items()}}


def export_torchscript(model: nn.Module, im: torch.Tensor, file: Path, optimize: bool, prefix: str) -> Path:
    """Trace the model; stride, names and input shape ride along in the archive's config.txt."""
    LOGGER.info(f"\n{prefix} starting export with torch {torch.__version__}...")
    f = file.with_suffix(".torchscript")
    ts = torch.jit.trace(model, im, strict=False)
    extra = {"config.txt": json.dumps({"shape": list(im.shape), **model_metadata(model)})}
    if optimize:
        from torch.backends import xnnpack
        from torch.utils.mobile_optimizer import optimize_for_mobile

        if not xnnpack.enabled:
            raise UserError(f"--optimize (TorchScript for mobile) needs a PyTorch build with XNNPACK; torch "
                            f"{torch.__version__} here has none. Export without --optimize")

        optimize_for_mobile(ts)._save_for_lite_interpreter(str(f), _extra_files=extra)
    else:
        ts.save(str(f), _extra_files=extra)
    return f


def export_onnx(model: nn.Module, im: torch.Tensor, file: Path, opset: int, dynamic: bool, simplify: bool,
                prefix: str) -> Path:
    """TorchScript-based ONNX export; --dynamic frees batch, height and width; metadata in metadata_props."""
    import onnx

    LOGGER.info(f"\n{prefix} starting export with onnx {onnx.__version__}...")
    f = file.with_suffix(".onnx")
    axes = {"images": {0: "batch", 2: "height", 3: "width"}, "output0": {0: "batch", 1: "anchors"}}
    with contextlib.nullcontext() if dynamic else fixed_batch_export():  # static shape: no batch-agnostic detours
        torch.onnx.export(model.cpu() if dynamic else model, (im.cpu() if dynamic else im,), str(f), verbose=False,
                          opset_version=opset, do_constant_folding=True, input_names=["images"],
                          output_names=["output0"], dynamic_axes=axes if dynamic else None, dynamo=False)
    model_onnx = onnx.load(str(f))
    onnx.checker.check_model(model_onnx)
    if simplify:
        model_onnx = simplify_onnx(model_onnx, prefix)
    for k, v in model_metadata(model).items():
        meta = model_onnx.metadata_props.add()
        meta.key, meta.value = k, json.dumps(v) if isinstance(v, dict) else str(v)
    onnx.save(model_onnx, str(f))
    return f


def simplify_onnx(model_onnx, prefix: str):
    """Fold and fuse the graph with onnxslim when it is installed; otherwise say how to get it and keep the graph."""
    try:
        import onnxslim
    except ImportError:
        LOGGER.warning(f"{prefix} WARNING ⚠️ --simplify needs onnxslim (pip install onnxslim); exported unsimplified")
        return model_onnx
    LOGGER.info(f"{prefix} simplifying with onnxslim {onnxslim.__version__}...")
    return onnxslim.slim(model_onnx)


def export_openvino(onnx_file: Path, file: Path, half: bool, int8: bool, calibration: Callable | None,
                    prefix: str) -> Path:
    """Convert the ONNX export with the openvino package into <name>_openvino_model/ (xml, bin, yaml metadata)."""
    try:
        import openvino as ov
    except ImportError:
        raise UserError("OpenVINO export needs the openvino package: pip install openvino") from None
    LOGGER.info(f"\n{prefix} starting export with openvino {ov.__version__}...")
    d = Path(str(file.with_suffix("")) + "_openvino_model")
    d.mkdir(parents=True, exist_ok=True)
    ov_model = ov.convert_model(str(onnx_file))
    if int8:
        ov_model = quantize_openvino(ov_model, calibration, prefix)
    xml = d / file.with_suffix(".xml").name
    ov.save_model(ov_model, str(xml), compress_to_fp16=half)
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(onnx_file)).metadata_props}
    yaml_save(xml.with_suffix(".yaml"), {"stride": int(meta["stride"]), "names": json.loads(meta["names"])})
    return d


def quantize_openvino(ov_model, calibration: Callable | None, prefix: str):
    """INT8 post-training quantization with nncf, calibrated on images of --data."""
    try:
        import nncf
    except ImportError:
        raise UserError("--int8 OpenVINO export needs the nncf package: pip install nncf") from None
    if calibration is None:
        raise UserError("--int8 needs calibration images: give --data with a 'val' (or 'train') image folder")
    LOGGER.info(f"{prefix} quantizing to INT8 with nncf {nncf.__version__}...")
    return nncf.quantize(ov_model, nncf.Dataset(calibration()), subset_size=300)


def calibration_images(data: str | Path, imgsz: list[int], stride: int) -> Callable:
    """A factory for the float (1,3,H,W) numpy batches of --data's val images that INT8 calibration reads."""

    def images():
        from utils.data.config import check_dataset
        from utils.inference.sources import LoadImages

        d = check_dataset(data)
        for _, im, _, _, _ in LoadImages(d.get("val") or d["train"], img_size=imgsz, stride=stride, auto=False):
            yield (im[None].astype("float32") / 255.0)

    return images


def prepare_model(model: nn.Module, inplace: bool, dynamic: bool) -> nn.Module:
    """Eval mode, Detect returning only decoded boxes, grids rebuilt per call when the input size is free."""
    from models.yolo import Detect

    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    for m in model.modules():
        if isinstance(m, Detect):
            m.inplace = inplace
            m.dynamic = dynamic
            m.export = True
    return model


def check_options(include: list[str], half: bool, dynamic: bool, optimize: bool, device: torch.device) -> None:
    """Refuse flag combinations that cannot work, before any time is spent."""
    bad = [x for x in include if x not in EXPORT_CHOICES]
    if bad or not include:
        raise UserError(f"invalid --include {include}, valid --include arguments are {EXPORT_CHOICES}")
    if half and device.type == "cpu":
        raise UserError("--half only compatible with GPU export, i.e. use --device 0")
    if half and dynamic:
        raise UserError("--half not compatible with --dynamic, i.e. use either --half or --dynamic but not both")
    if optimize and device.type != "cpu":
        raise UserError("--optimize not compatible with cuda devices, i.e. use --device cpu")


@torch.no_grad()
def run(data: str | Path = ROOT / "data/coco128.yaml", weights: str | Path = ROOT / "yolov5s.pt",
        imgsz: tuple[int, ...] = (640, 640), batch_size: int = 1, device: str = "cpu",
        include: tuple[str, ...] = ("torchscript", "onnx"), half: bool = False, inplace: bool = False,
        optimize: bool = False, int8: bool = False, dynamic: bool = False, simplify: bool = False,
        opset: int = 17) -> list[str]:
    """Export weights to every format in include; returns the written paths."""
    from models.loading import attempt_load

    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # tracing notes, checked by tests
    warnings.filterwarnings("ignore", category=FutureWarning, module="torch")  # torch.jit deprecation notices
    warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")  # chosen on purpose
    warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")  # harmless exporter note
    t = time.time()
    include = [x.lower() for x in include]
    file = Path(weights[0] if isinstance(weights, (list, tuple)) else weights)
    device = select_device(device)
    check_options(include, half, dynamic, optimize, device)
    model = attempt_load(file, device=device, inplace=True, fuse=True)

    imgsz = list(imgsz) * 2 if len(imgsz) == 1 else list(imgsz)
    gs = int(max(model.stride))
    imgsz = [check_img_size(x, gs) for x in imgsz]
    im = torch.zeros(batch_size, 3, *imgsz).to(device)
    prepare_model(model, inplace, dynamic)
    for _ in range(2):
        y = model(im)  # dry runs build grids and check the model runs at this size
    if half:
        im, model = im.half(), model.half()
    shape = tuple((y[0] if isinstance(y, tuple) else y).shape)
    LOGGER.info(f"\n{colorstr('PyTorch:')} starting from {file} with output shape {shape} "
                f"({file_size(file):.1f} MB)")

    written = []
    if "torchscript" in include:
        written.append(timed_export(colorstr("TorchScript:"), export_torchscript, model, im, file, optimize))
    if "onnx" in include or "openvino" in include:
        written.append(timed_export(colorstr("ONNX:"), export_onnx, model, im, file, opset, dynamic, simplify))
    if "openvino" in include and written[-1] is not None:
        calib = calibration_images(data, imgsz, gs) if int8 and data else None
        written.append(timed_export(colorstr("OpenVINO:"), export_openvino, written[-1], file, half, int8, calib))
    files = [str(f) for f in written if f]
    if files:
        h = "--half" if half else ""
        LOGGER.info(f"\nExport complete ({time.time() - t:.1f}s)"
                    f"\nResults saved to {colorstr('bold', file.parent.resolve())}"
                    f"\nDetect:          python detect.py --weights {files[-1]} {h}"
                    f"\nValidate:        python val.py --weights {files[-1]} {h}"
                    f"\nPyTorch Hub:     model = torch.hub.load('.', 'custom', '{files[-1]}', source='local')")
    return files


def parse_opt(argv: list[str] | None = None) -> argparse.Namespace:
    """export.py's command line, with YOLOv5 v7.0's flags and defaults (opset 17, see README)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=str, default=ROOT / "data/coco128.yaml", help="dataset.yaml path")
    parser.add_argument("--weights", nargs="+", type=str, default=ROOT / "yolov5s.pt", help="model.pt path(s)")
    parser.add_argument("--imgsz", "--img", "--img-size", nargs="+", type=int, default=[640, 640], help="image (h, w)")
    parser.add_argument("--batch-size", type=int, default=1, help="batch size")
    parser.add_argument("--device", default="cpu", help="cuda device, i.e. 0 or 0,1,2,3 or cpu")
    parser.add_argument("--half", action="store_true", help="FP16 half-precision export")
    parser.add_argument("--inplace", action="store_true", help="set YOLOv5 Detect() inplace=True")
    parser.add_argument("--optimize", action="store_true", help="TorchScript: optimize for mobile")
    parser.add_argument("--int8", action="store_true", help="OpenVINO INT8 quantization (needs nncf and --data)")
    parser.add_argument("--dynamic", action="store_true", help="ONNX/OpenVINO: dynamic axes")
    parser.add_argument("--simplify", action="store_true", help="ONNX: simplify model (onnxslim)")
    parser.add_argument("--opset", type=int, default=17, help="ONNX: opset version")
    parser.add_argument("--include", nargs="+", default=["torchscript", "onnx"],
                        help=f"formats to write: {', '.join(EXPORT_CHOICES)}")
    opt = parser.parse_args(argv)
    print_args(vars(opt), "export: ")
    return opt


@exit_on_user_error
def main(opt: argparse.Namespace) -> None:
    check_args(vars(opt))
    for w in opt.weights if isinstance(opt.weights, list) else [opt.weights]:
        run(**{**vars(opt), "weights": w})


if __name__ == "__main__":
    main(parse_opt())
