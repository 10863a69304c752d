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
import io
import tempfile
import json
import time
import warnings
from pathlib import Path
from typing import Callable, Iterator

import torch
import torch.nn as nn

from models.backends import FORMATS
from models.dynamic_kernels import fixed_batch_export, static_weight_export
from utils.export import edge
from utils.export import tensorflow as tf_export
from utils.export.outputs import atomic_output, remove, require
from utils.checks import check_args, check_img_size
from utils.errors import UserError, exit_on_user_error
from utils.files import ROOT, file_size, is_writeable, root_rel, yaml_save
from utils.logger import LOGGER, colorstr, print_args
from utils.torch_utils import keep_freed_memory, select_device

EXPORT_CHOICES = tuple(arg for arg, _ in FORMATS.values() if arg != "-")
TF_FORMATS = ("saved_model", "pb", "tflite", "edgetpu", "tfjs")  # all from one onnx2tf conversion
FP16_ON_CPU = ("openvino", "coreml", "tflite", "ncnn")  # formats whose --half is the converter's, not torch's
FORMAT_NAMES = {arg: name for name, (arg, _) in FORMATS.items()}
SEG_FORMATS = ("torchscript", "onnx", "openvino", "engine")  # those whose graphs give segmentation's two outputs


class Exports:
    """The files written and the formats that failed (with why), in the order tried: one failure never stops the
    others, and `run` ends with an error naming every failed format."""

    def __init__(self):
        self.written: list[Path] = []
        self.failed: dict[str, str] = {}

    def __call__(self, name: str, fn: Callable[..., Path], *args, spent: float = 0.0, **kwargs) -> Path | None:
        """Run one format's exporter; `spent` is time already spent for it (a conversion shared with later formats)."""
        prefix, t = colorstr(f"{name}:"), time.time() - spent
        try:
            f = fn(*args, prefix=prefix, **kwargs)
        except Exception as e:  # an exporter failing must not stop the remaining formats
            return self.fail(name, e if isinstance(e, UserError) else f"{type(e).__name__}: {e}", time.time() - t)
        LOGGER.info(f"{prefix} export success ✅ {time.time() - t:.1f}s, saved as {f} ({file_size(f):.1f} MB)")
        self.written.append(Path(f))
        return Path(f)

    def fail(self, name: str, reason: object, seconds: float = 0.0) -> None:
        """Record and log a failed format in one line."""
        line = " ".join(str(reason).split())[:400]
        self.failed[name] = line
        LOGGER.info(f"{colorstr(name + ':')} export failure ❌ {seconds:.1f}s: {line}")


def task_folder(model: nn.Module) -> str:
    """Where the model's predict.py and val.py live: segment/, classify/, or the repository root (detection)."""
    from models.common import Classify

    head = getattr(model, "model", [None])[-1]
    return "segment/" if is_segmentation(model) else "classify/" if isinstance(head, Classify) else ""


def is_segmentation(model: nn.Module) -> bool:
    """A model whose head is Segment: it gives (rows with mask coefficients, prototype masks)."""
    from models.yolo import Segment

    return isinstance(getattr(model, "model", [None])[-1], Segment)


def refuse_segmentation(include: list[str], log: Exports) -> list[str]:
    """The formats of include that export segmentation models; each other one fails in its own line."""
    for x in [x for x in include if x not in SEG_FORMATS]:
        log.fail(FORMAT_NAMES[x], f"{FORMAT_NAMES[x]} export does not support segmentation models; "
                                  f"use {', '.join(SEG_FORMATS)}")
    return [x for x in include if x in SEG_FORMATS]


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

        with atomic_output(f) as tmp:
            optimize_for_mobile(ts)._save_for_lite_interpreter(str(tmp), _extra_files=extra)
    else:
        buffer = io.BytesIO()  # written from Python: torch's own file writer aborts the process on a full disk
        torch.jit.save(ts, buffer, _extra_files=extra)
        with atomic_output(f) as tmp:
            tmp.write_bytes(buffer.getvalue())
    return f


def export_onnx(model: nn.Module, im: torch.Tensor, file: Path, opset: int, dynamic: bool, simplify: bool,
                prefix: str) -> Path:
    """TorchScript-based ONNX export; --dynamic frees batch, height and width; metadata in metadata_props."""
    import onnx

    LOGGER.info(f"\n{prefix} starting export with onnx {onnx.__version__}...")
    f = file.with_suffix(".onnx")
    axes = {"images": {0: "batch", 2: "height", 3: "width"}, "output0": {0: "batch", 1: "anchors"}}
    if is_segmentation(model):  # YOLOv5's second output: the prototype masks
        axes["output1"] = {0: "batch", 2: "mask_height", 3: "mask_width"}
    with atomic_output(f) as tmp:
        with fixed_batch_export(not dynamic):  # static shape: no batch-agnostic detours
            torch.onnx.export(model.cpu() if dynamic else model, (im.cpu() if dynamic else im,), str(tmp),
                              verbose=False, opset_version=opset, do_constant_folding=True, input_names=["images"],
                              output_names=list(axes)[1:], dynamic_axes=axes if dynamic else None, dynamo=False)
        model_onnx = onnx.load(str(tmp))
        onnx.checker.check_model(model_onnx)
        if simplify:
            model_onnx = simplify_onnx(model_onnx, prefix)
        add_onnx_metadata(model_onnx, model_metadata(model))
        onnx.save(model_onnx, str(tmp))
    return f


def add_onnx_metadata(model_onnx, meta: dict) -> None:
    """YOLOv5's ONNX metadata_props: each value as str(v), so names is a Python-literal dict with integer keys."""
    for k, v in meta.items():
        prop = model_onnx.metadata_props.add()
        prop.key, prop.value = k, str(v)


def simplify_onnx(model_onnx, prefix: str):
    """Fold and fuse the graph with onnxslim when it is installed; otherwise say how to get it and keep the graph."""
    try:
        import onnxslim
    except ImportError:
        LOGGER.warning(f"{prefix} WARNING ⚠️ --simplify needs onnxslim (pip install onnxslim); exported unsimplified")
        return model_onnx
    LOGGER.info(f"{prefix} simplifying with onnxslim {onnxslim.__version__}...")
    return onnxslim.slim(model_onnx)


def export_openvino(onnx_file: Path, file: Path, meta: dict, half: bool, int8: bool, calibration: Callable | None,
                    prefix: str) -> Path:
    """Convert the ONNX export with the openvino package into <name>_openvino_model/ (xml, bin, yaml metadata)."""
    ov = require("openvino", "openvino", "OpenVINO export")
    LOGGER.info(f"\n{prefix} starting export with openvino {ov.__version__}...")
    d = Path(str(file.with_suffix("")) + "_openvino_model")
    ov_model = ov.convert_model(str(onnx_file))
    if int8:
        ov_model = quantize_openvino(ov_model, calibration, prefix)
    with atomic_output(d) as tmp:
        tmp.mkdir()
        xml = tmp / file.with_suffix(".xml").name
        ov.save_model(ov_model, str(xml), compress_to_fp16=half)
        yaml_save(xml.with_suffix(".yaml"), meta)
    return d


def quantize_openvino(ov_model, calibration: Callable | None, prefix: str):
    """INT8 post-training quantization with nncf, calibrated on images of --data."""
    nncf = require("nncf", "nncf", "--int8 OpenVINO export")
    if calibration is None:
        raise UserError("--int8 needs calibration images: give --data with a 'val' (or 'train') image folder")
    LOGGER.info(f"{prefix} quantizing to INT8 with nncf {nncf.__version__}...")
    head = nncf.IgnoredScope(types=["Multiply", "Subtract", "Sigmoid"], validate=False)  # Detect's decode stays fp32
    return nncf.quantize(ov_model, nncf.Dataset(calibration()), subset_size=300,
                         preset=nncf.QuantizationPreset.MIXED, ignored_scope=head)


def calibration_images(data: str | Path, imgsz: list[int], stride: int) -> Callable:
    """A factory for the float (1,3,H,W) numpy batches of --data's val images that INT8 calibration reads."""

    def images():
        from utils.data.config import check_dataset
        from utils.data.image_files import list_image_files
        from utils.inference.sources import LoadImages

        d = check_dataset(data)
        files = list_image_files(d.get("val") or d["train"])  # as training reads them: list lines relative to the list
        for _, im, _, _, _ in LoadImages(files, img_size=imgsz, stride=stride, auto=False):
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


@contextlib.contextmanager
def normalized_boxes(model: nn.Module) -> Iterator[None]:
    """Detect gives xywh divided by the input size, as YOLOv5's TF exports: boxes and scores then share one [0, 1]
    range, which a single INT8 output scale needs (DetectMultiBackend multiplies them back)."""
    detect = model.model[-1]
    detect.normalize = True
    try:
        yield
    finally:
        detect.normalize = False


def export_tf_onnx(model: nn.Module, im: torch.Tensor, file: Path, opset: int) -> Path:
    """The fixed-shape, simplified ONNX graph onnx2tf converts (a hidden file, removed after the conversion):
    normalized boxes, DynamicConv kernels as their experts' constant-weight convolutions (onnx2tf rejects runtime
    weights and stalls on the batch-agnostic slices)."""
    import onnx

    onnxslim = require("onnxslim", "onnxslim", "TensorFlow export")
    f = file.with_name(f".{file.stem}_tf.onnx")
    with static_weight_export(), normalized_boxes(model):
        torch.onnx.export(model.cpu(), (im.cpu(),), str(f), opset_version=opset,
                          do_constant_folding=True, input_names=["images"], output_names=["output0"], dynamo=False)
    onnx.save(onnxslim.slim(onnx.load(str(f))), str(f))
    return f


def export_tensorflow(model: nn.Module, im: torch.Tensor, file: Path, meta: dict, include: list[str], opset: int,
                      int8: bool, half: bool, per_tensor: bool, keras: bool, calibration: Callable | None,
                      log: Exports) -> None:
    """SavedModel (always, as YOLOv5), then GraphDef, TFLite, Edge TPU and TF.js from one onnx2tf conversion."""
    wanted = ["saved_model"] + [x for x in TF_FORMATS[1:] if x in include]
    if "edgetpu" in wanted:
        try:
            tf_export.edgetpu_compiler()
        except UserError as e:  # checked before the long conversion it would otherwise wait for
            log.fail(FORMAT_NAMES["edgetpu"], e)
            wanted.remove("edgetpu")
    for x in [x for x in wanted if calibration is None and (x == "edgetpu" or x == "tflite" and int8)]:
        log.fail(FORMAT_NAMES[x], tf_export.NO_CALIBRATION)
        wanted.remove(x)
    onnx_file = work = None
    t = time.time()
    try:
        onnx_file = export_tf_onnx(model, im, file, opset)
        work = tf_export.onnx2tf_convert(onnx_file, "edgetpu" in wanted, per_tensor, keras, calibration,
                                         colorstr("TensorFlow:"))
    except Exception as e:  # the conversion fails every TF format, each said in its line
        for x in wanted:
            log.fail(FORMAT_NAMES[x], e if isinstance(e, UserError) else f"{type(e).__name__}: {e}")
        return
    finally:
        if onnx_file is not None:
            remove(onnx_file)
    try:
        steps = {"saved_model": (tf_export.export_saved_model, ()), "pb": (tf_export.export_pb, ()),
                 "tflite": (tf_export.export_tflite, (int8, half, per_tensor, calibration)),
                 "edgetpu": (tf_export.export_edgetpu, ()), "tfjs": (tf_export.export_tfjs, ())}
        spent = time.time() - t  # the conversion's time goes to SavedModel, the format it makes
        for x in wanted:
            fn, extra = steps[x]
            log(FORMAT_NAMES[x], fn, work, file, meta, *extra, spent=spent if x == "saved_model" else 0.0)
    finally:
        remove(work)


def export_ncnn(model: nn.Module, im: torch.Tensor, file: Path, meta: dict, half: bool, int8: bool,
                prefix: str) -> Path:
    """Trace with per-image kernels as convolutions with runtime weights (NCNN's dynamic-weight layers), then pnnx."""
    if int8:
        raise UserError("NCNN INT8 needs ncnn's ncnn2table and ncnn2int8 programs (C++ builds), which the pip "
                        "packages lack; export NCNN without --int8 (fp32, or fp16 with --half)")
    with tempfile.TemporaryDirectory(dir=file.parent) as d, fixed_batch_export():
        ts_file = Path(d) / "model.torchscript"
        torch.jit.trace(model, im, strict=False).save(str(ts_file))
        return edge.export_ncnn(ts_file, file, tuple(im.shape), {**meta, "shape": list(im.shape)}, half, prefix)


@contextlib.contextmanager
def fixed_scale_upsampling(model: nn.Module) -> Iterator[None]:
    """nn.Upsample layers trace their scale factor as a constant: YOLOv5 v7.0 checkpoints pickle
    recompute_scale_factor=True, which traces the output size as shape arithmetic ending in an int cast (on a 1-element
    tensor) that coremltools 9 cannot convert."""
    layers = [m for m in model.modules() if isinstance(m, nn.Upsample)]
    saved = [m.recompute_scale_factor for m in layers]
    for m in layers:
        m.recompute_scale_factor = None
    try:
        yield
    finally:
        for m, r in zip(layers, saved):
            m.recompute_scale_factor = r


def check_nms(include: list[str], nms: bool) -> None:
    """YOLOv5 adds TF NMS ops inside its Keras rebuild; the onnx2tf graph has none, so refuse rather than ignore."""
    if nms:
        raise UserError("--nms/--agnostic-nms (NMS inside TF models) is not available with the onnx2tf conversion "
                        "used here; detect.py, val.py and DetectMultiBackend users apply NMS after the model")


def warn_fixed_shape(include: list[str], dynamic: bool, shape: tuple[int, ...]) -> None:
    """--dynamic covers ONNX, OpenVINO and TensorRT; the other converters need one input shape."""
    fixed = [x for x in include if x not in ("torchscript", "onnx", "openvino", "engine")]
    if dynamic and fixed:
        LOGGER.warning(f"WARNING ⚠️ --dynamic: {', '.join(fixed)} exported at the fixed input shape {list(shape)} "
                       f"(their converters need static shapes for the per-image kernels)")


def check_options(include: list[str], half: bool, dynamic: bool, optimize: bool, device: torch.device) -> None:
    """Refuse flag combinations that cannot work, before any time is spent."""
    bad = [x for x in include if x not in EXPORT_CHOICES]
    if bad or not include:
        raise UserError(f"invalid --include {include}, valid --include arguments are {EXPORT_CHOICES}")
    if half and device.type == "cpu" and any(x not in FP16_ON_CPU for x in include):
        raise UserError(f"--half only compatible with GPU export, i.e. use --device 0 "
                        f"(on CPU only for {', '.join(FP16_ON_CPU)})")
    if half and dynamic:
        raise UserError("--half not compatible with --dynamic, i.e. use either --half or --dynamic but not both")
    if optimize and device.type != "cpu":
        raise UserError("--optimize not compatible with cuda devices, i.e. use --device cpu")


@contextlib.contextmanager
def exporter_notes_silenced() -> Iterator[None]:
    """Silence the exporters' notes that ask nothing of the user, for one export: the caller's filters come back."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # tracing notes, checked by tests
        warnings.filterwarnings("ignore", category=FutureWarning, module="torch")  # torch.jit deprecation notices
        warnings.filterwarnings("ignore", message=".*legacy TorchScript-based ONNX export")  # chosen on purpose
        warnings.filterwarnings("ignore", message="Constant folding - Only steps=1")  # harmless exporter note
        yield


@torch.no_grad()
@exporter_notes_silenced()
def run(data: str | Path = ROOT / "data/coco128.yaml", weights: str | Path = ROOT / "yolov5s.pt",
        imgsz: tuple[int, ...] = (640, 640), batch_size: int = 1, device: str = "cpu",
        include: tuple[str, ...] = ("torchscript",), half: bool = False, inplace: bool = False, keras: bool = False,
        optimize: bool = False, int8: bool = False, per_tensor: bool = False, dynamic: bool = False,
        cache: str = "", simplify: bool = False, mlmodel: bool = False, opset: int = 17, verbose: bool = False,
        workspace: float = 4, nms: bool = False, agnostic_nms: bool = False, topk_per_class: int = 100,
        topk_all: int = 100, iou_thres: float = 0.45, conf_thres: float = 0.25) -> list[str]:
    """Export weights to every format in include; returns the written paths, or raises naming the failed formats
    after writing all the others."""
    check_args(locals(), python=True)  # Python callers get the CLI's checks, naming `key=`
    from models.loading import attempt_load

    t = time.time()
    include = [x.lower() for x in include]
    file = Path(weights[0] if isinstance(weights, (list, tuple)) else weights)
    device = select_device(device)
    keep_freed_memory(device)
    check_options(include, half, dynamic, optimize, device)
    check_nms(include, nms or agnostic_nms)
    model = attempt_load(file, device=device, inplace=True, fuse=True)
    if not is_writeable(file.parent):  # checked before any conversion: every format would fail to write
        raise UserError(f"{file.parent} is read-only and exports are written beside the weights; copy {file.name} "
                        f"to a writable folder")

    imgsz = list(imgsz) * 2 if len(imgsz) == 1 else list(imgsz)
    gs = int(max(model.stride))
    imgsz = [check_img_size(x, gs) for x in imgsz]
    im = torch.zeros(batch_size, 3, *imgsz).to(device)
    prepare_model(model, inplace, dynamic)
    for _ in range(2):
        y = model(im)  # dry runs build grids and check the model runs at this size
    if half and device.type != "cpu":
        im, model = im.half(), model.half()
    shape = tuple((y[0] if isinstance(y, tuple) else y).shape)
    LOGGER.info(f"\n{colorstr('PyTorch:')} starting from {file} with output shape {shape} "
                f"({file_size(file):.1f} MB)")
    warn_fixed_shape(include, dynamic, tuple(im.shape))
    meta = model_metadata(model)
    calib = calibration_images(data, imgsz, gs) if (int8 or "edgetpu" in include) and data else None
    log = Exports()
    seg = is_segmentation(model)
    if seg:
        include = refuse_segmentation(include, log)
    if "torchscript" in include:
        log("TorchScript", export_torchscript, model, im, file, optimize)
    if "engine" in include and device.type != "cuda":  # said first, not after a useless ONNX export
        log.fail("TensorRT", edge.ENGINE_NEEDS_GPU)
        include.remove("engine")
    onnx_file = None
    if any(x in include for x in ("onnx", "openvino", "engine")):
        onnx_file = log("ONNX", export_onnx, model, im, file, opset, dynamic, simplify)
    for x, fn, args in (("openvino", export_openvino, (file, meta, half, int8, calib)),
                        ("engine", edge.export_engine, (file, meta, device, half, workspace, verbose, cache))):
        if x in include:
            log(FORMAT_NAMES[x], fn, onnx_file, *args) if onnx_file else log.fail(FORMAT_NAMES[x], "no ONNX export")
    if "paddle" in include:
        log("PaddlePaddle", edge.export_paddle, model, im, file, {**meta, "shape": list(im.shape)})
    if "coreml" in include:
        with static_weight_export(), fixed_scale_upsampling(model):  # constant conv weights, as for TensorFlow
            log("CoreML", edge.export_coreml, model, im, file, meta, half, mlmodel)
    if any(x in include for x in TF_FORMATS):
        export_tensorflow(model, im, file, meta, include, opset, int8, half, per_tensor, keras, calib, log)
    if "ncnn" in include:
        log("NCNN", export_ncnn, model, im, file, meta, half, int8)
    files = [str(f) for f in log.written]
    if files:
        h = "--half" if half else ""
        folder = task_folder(model)
        LOGGER.info(f"\nExport complete ({time.time() - t:.1f}s)"
                    f"\nResults saved to {colorstr('bold', file.parent.resolve())}"
                    f"\n{'Predict:' if folder else 'Detect: '}         "
                    f"python {folder + 'predict.py' if folder else 'detect.py'} --weights {files[-1]} {h}"
                    f"\nValidate:        python {folder}val.py --weights {files[-1]} {h}"
                    f"\nPyTorch Hub:     model = torch.hub.load('.', 'custom', '{files[-1]}', source='local')")
    if log.failed:
        raise UserError(f"export failed for {', '.join(log.failed)} (reasons above); "
                        f"{len(files)} file(s) written")
    return files


def parse_opt(argv: list[str] | None = None) -> argparse.Namespace:
    """export.py's command line, with YOLOv5 v7.0's flags and defaults (opset 17, see docs/export.md)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=str, default=root_rel() / "data/coco128.yaml", help="dataset.yaml path")
    parser.add_argument("--weights", nargs="+", type=str, default=root_rel() / "yolov5s.pt", help="model.pt path(s)")
    parser.add_argument("--imgsz", "--img", "--img-size", nargs="+", type=int, default=[640, 640], help="image (h, w)")
    parser.add_argument("--batch-size", type=int, default=1, help="batch size")
    parser.add_argument("--device", default="cpu", help="cuda device, i.e. 0 or 0,1,2,3 or cpu")
    parser.add_argument("--half", action="store_true", help="FP16 half-precision export")
    parser.add_argument("--inplace", action="store_true", help="set YOLOv5 Detect() inplace=True")
    parser.add_argument("--keras", action="store_true", help="TF: also write a Keras model in the SavedModel folder")
    parser.add_argument("--optimize", action="store_true", help="TorchScript: optimize for mobile")
    parser.add_argument("--int8", action="store_true", help="CoreML/TF/OpenVINO INT8 quantization")
    parser.add_argument("--per-tensor", action="store_true", help="TF per-tensor quantization")
    parser.add_argument("--dynamic", action="store_true", help="ONNX/TF/TensorRT: dynamic axes")
    parser.add_argument("--cache", type=str, default="", help="TensorRT: timing cache file path")
    parser.add_argument("--simplify", action="store_true", help="ONNX: simplify model")
    parser.add_argument("--mlmodel", action="store_true", help="CoreML: Export in *.mlmodel format")
    parser.add_argument("--opset", type=int, default=17, help="ONNX: opset version")
    parser.add_argument("--verbose", action="store_true", help="TensorRT: verbose log")
    parser.add_argument("--workspace", type=int, default=4, help="TensorRT: workspace size (GB)")
    parser.add_argument("--nms", action="store_true", help="TF: NMS inside the model (refused: apply NMS after it)")
    parser.add_argument("--agnostic-nms", action="store_true", help="TF: agnostic NMS in the model (refused, as --nms)")
    parser.add_argument("--topk-per-class", type=int, default=100, help="TF.js NMS: topk per class to keep")
    parser.add_argument("--topk-all", type=int, default=100, help="TF.js NMS: topk for all classes to keep")
    parser.add_argument("--iou-thres", type=float, default=0.45, help="TF.js NMS: IoU threshold")
    parser.add_argument("--conf-thres", type=float, default=0.25, help="TF.js NMS: confidence threshold")
    parser.add_argument("--include", nargs="+", default=["torchscript"],
                        help="torchscript, onnx, openvino, engine, coreml, saved_model, pb, tflite, edgetpu, tfjs, "
                             "paddle, ncnn")
    opt = parser.parse_args(argv)
    print_args(vars(opt), "export: ")
    return opt


@exit_on_user_error
def main(opt: argparse.Namespace) -> None:
    check_args(vars(opt))
    errors = []
    for w in opt.weights if isinstance(opt.weights, list) else [opt.weights]:
        try:
            run(**{**vars(opt), "weights": w})
        except UserError as e:  # the next weights still export; the exit status reports every failure
            errors.append(f"{w}: {e}")
    if errors:
        raise UserError("; ".join(errors))


if __name__ == "__main__":
    main(parse_opt())
