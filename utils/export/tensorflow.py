"""TensorFlow family (SavedModel, GraphDef, TFLite, Edge TPU, TF.js) through onnx2tf, which maps ONNX ops to TF ops.

YOLOv5 rebuilds the network in Keras layer by layer and knows no DynamicConv; onnx2tf converts the traced graph, in
which each DynamicConv is its experts' constant-weight convolutions summed with the image's routing weights (plain TF
ops). Inputs are NHWC and boxes are divided by the image size, as in YOLOv5's TF exports (`DetectMultiBackend`
multiplies them back). TF.js is written from the frozen graph by utils/export/tfjs.py.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from utils.errors import UserError
from utils.export.outputs import (append_zip_metadata, atomic_output, find_program, metadata_text, require,
                                  write_yaml_metadata)
from utils.export.tfjs import write_graph_model
from utils.logger import LOGGER

ONNX2TF_SAMPLE = "calibration_image_sample_data_20x128x128x3_float32.npy"  # onnx2tf downloads it when absent
CALIBRATION_IMAGES = 100  # YOLOv5's n_images for TFLite INT8
NO_CALIBRATION = "INT8 TFLite and Edge TPU exports need calibration images: give --data with a 'val' folder"


@contextlib.contextmanager
def _offline_workdir(folder: Path) -> Iterator[None]:
    """Run onnx2tf inside `folder` holding the sample images its dummy inference reads from the working directory,
    so it never reaches for the network."""
    np.save(folder / ONNX2TF_SAMPLE, np.full((20, 128, 128, 3), 0.5, np.float32))
    cwd = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(cwd)


def nhwc_images(calibration: Callable[[], Iterator[np.ndarray]]) -> list[np.ndarray]:
    """--data's val images (at most 100, YOLOv5's count) as (1, H, W, 3) float32 arrays, TensorFlow's layout."""
    images = []
    for im in calibration():
        images.append(np.ascontiguousarray(im.transpose(0, 2, 3, 1), np.float32))
        if len(images) == CALIBRATION_IMAGES:
            break
    if not images:
        raise UserError("--int8 calibration found no images in --data's val split")
    return images


def calibration_npy(calibration: Callable[[], Iterator[np.ndarray]], folder: Path) -> Path:
    """The calibration images as one NHWC array file, onnx2tf's INT8 calibration input."""
    f = folder / "calibration.npy"
    np.save(f, np.concatenate(nhwc_images(calibration)))
    return f


def onnx2tf_convert(onnx_file: Path, int8: bool, per_tensor: bool, keras: bool, calibration: Callable | None,
                    prefix: str) -> Path:
    """One onnx2tf run into a temporary folder beside the ONNX file: a SavedModel plus fp32/fp16 TFLite, with int8 its
    full-integer TFLite (for the Edge TPU), and with --keras the Keras v3 model file."""
    onnx2tf = require("onnx2tf", "onnx2tf", "TensorFlow export (saved_model, pb, tflite, edgetpu, tfjs)")
    tf = require("tensorflow", "tensorflow", "TensorFlow export (saved_model, pb, tflite, edgetpu, tfjs)")
    LOGGER.info(f"\n{prefix} converting with onnx2tf {onnx2tf.__version__} and tensorflow {tf.__version__}...")
    onnx_file = onnx_file.resolve()  # onnx2tf runs in its work folder: relative --weights paths must not move
    out = Path(tempfile.mkdtemp(prefix=f".{onnx_file.stem}_onnx2tf_", dir=onnx_file.parent))
    try:
        calib = None
        if int8:  # export.py has refused INT8 formats without calibration images before this
            calib = [["images", str(calibration_npy(calibration, out)), [[[[0, 0, 0]]]], [[[[1, 1, 1]]]]]]
        with _offline_workdir(out):
            onnx2tf.convert(input_onnx_file_path=str(onnx_file), output_folder_path=str(out / "saved_model"),
                            not_use_onnxsim=True, verbosity="error", output_signaturedefs=True,
                            disable_strict_mode=True,  # its per-op accuracy search doubles the time; tests check parity
                            output_integer_quantized_tflite=int8, custom_input_op_name_np_data_path=calib,
                            quant_type="per-tensor" if per_tensor else "per-channel", output_keras_v3=keras)
    except SystemExit as e:  # onnx2tf exits on conversion errors
        shutil.rmtree(out, ignore_errors=True)
        raise RuntimeError(f"onnx2tf stopped (exit {e.code}); see its messages above") from None
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    if not (out / "saved_model" / "saved_model.pb").exists():
        shutil.rmtree(out, ignore_errors=True)
        raise RuntimeError("onnx2tf wrote no SavedModel (see its messages above)")
    return out


def _converted(work: Path, suffix: str) -> Path:
    """The onnx2tf output whose name ends in suffix, e.g. '_float32.tflite'."""
    f = next(iter(sorted((work / "saved_model").glob(f"*{suffix}"))), None)
    if f is None:
        raise RuntimeError(f"onnx2tf wrote no *{suffix}")
    return f


def export_saved_model(work: Path, file: Path, meta: dict, prefix: str) -> Path:
    """<name>_saved_model/: the SavedModel (serving_default signature) and metadata.yaml."""
    f = Path(str(file.with_suffix("")) + "_saved_model")
    with atomic_output(f) as tmp:
        shutil.copytree(work / "saved_model", tmp, ignore=shutil.ignore_patterns("*.tflite", "*.json", "*.npy"))
        write_yaml_metadata(tmp, meta)
    return f


def frozen_graph(work: Path):
    """The SavedModel's serving signature with its variables folded into constants: one GraphDef."""
    import tensorflow as tf
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    fn = tf.saved_model.load(str(work / "saved_model")).signatures["serving_default"]
    return convert_variables_to_constants_v2(fn).graph.as_graph_def()


def export_pb(work: Path, file: Path, meta: dict, prefix: str) -> Path:
    """<name>.pb: the frozen GraphDef; metadata rides in a string Const node."""
    import tensorflow as tf

    LOGGER.info(f"\n{prefix} starting export with tensorflow {tf.__version__}...")
    f = file.with_suffix(".pb")
    gd = frozen_graph(work)
    node = gd.node.add()
    node.name, node.op = "yolo_metadata", "Const"
    node.attr["dtype"].type = tf.string.as_datatype_enum
    node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(metadata_text(meta)))
    with atomic_output(f) as tmp:
        tmp.write_bytes(gd.SerializeToString())
    return f


def tflite_name(file: Path, int8: bool, half: bool) -> Path:
    """YOLOv5's names: -int8.tflite or -fp16.tflite; -fp32.tflite for the full-precision file."""
    return file.with_name(f"{file.stem}-{'int8' if int8 else 'fp16' if half else 'fp32'}.tflite")


def export_tflite(work: Path, file: Path, meta: dict, int8: bool, half: bool, per_tensor: bool,
                  calibration: Callable | None, prefix: str) -> Path:
    """One TFLite file: fp32 weights, fp16 weights (--half) or INT8 (--int8, float input/output), with metadata."""
    f = tflite_name(file, int8, half)
    with atomic_output(f) as tmp:
        if int8:
            tmp.write_bytes(quantize_tflite(work / "saved_model", calibration, per_tensor))
        else:
            shutil.copyfile(_converted(work, "_float16.tflite" if half else "_float32.tflite"), tmp)
        append_zip_metadata(tmp, meta)
    return f


def quantize_tflite(saved_model: Path, calibration: Callable, per_tensor: bool) -> bytes:
    """INT8 TFLite calibrated on --data's images, with Detect's last convolutions and decode left in float: one INT8
    scale over the sigmoid scores erases the low confidences that mAP ranks (yolov5n at 640 loses 0.032 mAP50-95 fully
    quantized, 0.016 so)."""
    import tensorflow as tf

    images = nhwc_images(calibration)
    # this converter's own fp32 graph: the denylist names its tensors, which onnx2tf's fp32 file names otherwise
    fp32 = tf.lite.TFLiteConverter.from_saved_model(str(saved_model)).convert()
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x] for x in images)
    converter._experimental_disable_per_channel = per_tensor  # --per-tensor; the converter has no public switch
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=head_tensors(fp32))
    debugger = tf.lite.experimental.QuantizationDebugger(converter=converter, debug_options=options,
                                                         debug_dataset=lambda: ([x] for x in images))
    return debugger.get_nondebug_quantized_model()


def head_tensors(tflite: bytes) -> list[str]:
    """Names of the tensors from the model's outputs back to the last convolution on each path (the convolution
    included): Detect's output convolutions and its decode."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=tflite)
    names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    producer = {i: op for op in interpreter._get_ops_details() for i in op["outputs"]}  # no public op graph
    todo = [producer[o["index"]] for o in interpreter.get_output_details()]
    head = {}
    while todo:
        op = todo.pop()
        if op["index"] not in head:
            head[op["index"]] = op
            if op["op_name"] != "CONV_2D":
                todo += [producer[i] for i in op["inputs"] if i in producer]
    return [names[i] for op in head.values() for i in op["outputs"]]


def edgetpu_compiler() -> str:
    """Coral's compiler program, or one line saying where it comes from."""
    return find_program("edgetpu_compiler", "Edge TPU export", "Debian package edgetpu-compiler from Coral's apt "
                        "repository, x86-64 Linux only")


def export_edgetpu(work: Path, file: Path, meta: dict, prefix: str) -> Path:
    """<name>-int8_edgetpu.tflite compiled by Coral's edgetpu_compiler from the full-integer TFLite."""
    compiler = edgetpu_compiler()
    f = file.with_name(f"{file.stem}-int8_edgetpu.tflite")
    src = _converted(work, "_full_integer_quant.tflite")
    with tempfile.TemporaryDirectory(dir=work) as d:
        subprocess.run([compiler, "-s", "-d", "-k", "10", "--out_dir", d, str(src)], check=True)
        compiled = next(Path(d).glob("*_edgetpu.tflite"))
        append_zip_metadata(compiled, meta)
        with atomic_output(f) as tmp:
            shutil.copyfile(compiled, tmp)
    return f


def export_tfjs(work: Path, file: Path, meta: dict, prefix: str) -> Path:
    """<name>_web_model/: the frozen graph as a TF.js graph model (model.json, weight shards) and metadata.yaml."""
    import tensorflow as tf

    LOGGER.info(f"\n{prefix} starting export with tensorflow {tf.__version__}...")
    f = Path(str(file.with_suffix("")) + "_web_model")
    with atomic_output(f) as tmp:
        write_graph_model(frozen_graph(work), tmp, meta)
        write_yaml_metadata(tmp, meta)
    return f
