"""Edge runtimes behind DetectMultiBackend: TFLite/LiteRT, TF SavedModel and GraphDef, NCNN, PaddlePaddle, and
CoreML (read and checked structurally only: Core ML runs on Apple systems).

Each loader returns a `Runtime`: a callable from a float NCHW batch in [0,1] to the model's outputs (numpy), its
fixed input shape (B,3,H,W) and the stride/names metadata it carries.
"""

from __future__ import annotations

import ast
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from utils.errors import UserError
from utils.export.outputs import require
from utils.files import yaml_load
from utils.logger import LOGGER


@dataclass
class Runtime:
    """A loaded edge model: `run(x)` maps an NCHW float32 batch to a list of output arrays."""

    run: Callable[[np.ndarray], list[np.ndarray]]
    input_shape: tuple[int, ...] | None
    meta: dict = field(default_factory=dict)


def _threads() -> int:
    return torch.get_num_threads()


def _tensorflow(what: str):
    """TensorFlow with torch's thread count (settable only before TF's first op; later calls keep the first)."""
    tf = require("tensorflow", "tensorflow", what)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(_threads())
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TF already initialized in this process
        pass
    return tf


def _yaml_meta(folder: Path, *names: str) -> dict:
    """stride/names from the first metadata YAML found in an export folder."""
    for name in names:
        if (folder / name).exists():
            return yaml_load(folder / name)
    return {}


def _denormalize(y: np.ndarray, h: int, w: int) -> np.ndarray:
    """TF exports give xywh divided by the image size, as YOLOv5's; back to pixels."""
    y = y.copy()
    y[..., :4] *= np.array([w, h, w, h], dtype=y.dtype)
    return y


def _nhwc_runner(call: Callable[[np.ndarray], list[np.ndarray]]) -> Callable[[np.ndarray], list[np.ndarray]]:
    """Wrap an NHWC TF model: transpose the input, scale boxes back to pixels."""

    def run(x: np.ndarray) -> list[np.ndarray]:
        h, w = x.shape[2:]
        return [_denormalize(y, h, w) for y in call(np.ascontiguousarray(x.transpose(0, 2, 3, 1)))]

    return run


def tflite_metadata(w: str | Path) -> dict:
    """YOLOv5's TFLite metadata: the zip appended to the flatbuffer, first member a str(dict)."""
    try:
        with zipfile.ZipFile(w) as z:
            return ast.literal_eval(z.read(z.namelist()[0]).decode("utf-8"))
    except (zipfile.BadZipFile, IndexError, ValueError, SyntaxError):
        return {}


def _tflite_interpreter(w: str):
    """LiteRT's interpreter (ai-edge-litert), else TensorFlow's own."""
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:
        Interpreter = require("tensorflow", "ai-edge-litert", "TFLite inference").lite.Interpreter
    return Interpreter(model_path=w, num_threads=_threads())


def _quantize(x: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    return (x / scale + zero).astype(detail["dtype"]) if detail["dtype"] in (np.int8, np.uint8) else x


def _dequantize(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    return (y.astype(np.float32) - zero) * scale if detail["dtype"] in (np.int8, np.uint8) else y


def load_tflite(w: str) -> Runtime:
    """TFLite / LiteRT: fp32, fp16-weight and INT8 files (quantized inputs and outputs converted as YOLOv5 does)."""
    LOGGER.info(f"Loading {w} for TensorFlow Lite (LiteRT) inference...")
    interpreter = _tflite_interpreter(w)
    interpreter.allocate_tensors()
    inp, outs = interpreter.get_input_details()[0], interpreter.get_output_details()

    def call(x: np.ndarray) -> list[np.ndarray]:
        interpreter.set_tensor(inp["index"], _quantize(x, inp))
        interpreter.invoke()
        return [_dequantize(interpreter.get_tensor(o["index"]), o) for o in outs]

    b, h, w_, c = (int(d) for d in inp["shape"])
    return Runtime(_nhwc_runner(call), (b, c, h, w_), tflite_metadata(w))


def load_saved_model(w: str) -> Runtime:
    """TensorFlow SavedModel folder: its serving_default signature."""
    LOGGER.info(f"Loading {w} for TensorFlow SavedModel inference...")
    tf = _tensorflow("TensorFlow SavedModel inference")
    fn = tf.saved_model.load(w).signatures["serving_default"]
    (name, spec), = fn.structured_input_signature[1].items()

    def call(x: np.ndarray) -> list[np.ndarray]:
        y = fn(**{name: tf.constant(x)})
        return [y[k].numpy() for k in sorted(y)]

    b, h, w_, c = spec.shape
    shape = (b, c, h, w_) if None not in (b, c, h, w_) else None
    return Runtime(_nhwc_runner(call), shape, _yaml_meta(Path(w), "metadata.yaml"))


def _graph_outputs(gd) -> list[str]:
    """Tensors no other node reads: the frozen graph's outputs (YOLOv5's rule), metadata Const excluded."""
    consumed = {i.lstrip("^").split(":")[0] for n in gd.node for i in n.input}
    return [f"{n.name}:0" for n in gd.node if n.name not in consumed and n.op not in ("NoOp", "Const", "Placeholder")]


def graphdef_metadata(gd) -> dict:
    """stride/names from the 'yolo_metadata' string Const node export.py adds to a frozen GraphDef."""
    node = next((n for n in gd.node if n.name == "yolo_metadata"), None)
    return ast.literal_eval(node.attr["value"].tensor.string_val[0].decode("utf-8")) if node else {}


def load_pb(w: str) -> Runtime:
    """TensorFlow frozen GraphDef (.pb), pruned to its placeholder input and final outputs."""
    LOGGER.info(f"Loading {w} for TensorFlow GraphDef inference...")
    tf = _tensorflow("TensorFlow GraphDef inference")
    gd = tf.compat.v1.GraphDef()
    gd.ParseFromString(Path(w).read_bytes())
    placeholder = next(n for n in gd.node if n.op == "Placeholder")
    wrapped = tf.compat.v1.wrap_function(lambda: tf.compat.v1.import_graph_def(gd, name=""), [])
    element = wrapped.graph.as_graph_element
    fn = wrapped.prune(element(f"{placeholder.name}:0"), [element(o) for o in _graph_outputs(gd)])

    def call(x: np.ndarray) -> list[np.ndarray]:
        return [y.numpy() for y in fn(tf.constant(x))]

    dims = [d.size for d in placeholder.attr["shape"].shape.dim]
    shape = (dims[0], dims[3], dims[1], dims[2]) if len(dims) == 4 and min(dims) > 0 else None
    return Runtime(_nhwc_runner(call), shape, graphdef_metadata(gd))


def load_ncnn(w: str) -> Runtime:
    """NCNN folder (model.ncnn.param/.bin): one image per extractor, fp32 storage and arithmetic on CPU."""
    LOGGER.info(f"Loading {w} for NCNN inference...")
    ncnn = require("ncnn", "ncnn", "NCNN inference")
    folder = Path(w)
    param = next(iter(sorted(folder.glob("*.param"))), None)
    if param is None:
        raise UserError(f"no .param file in NCNN folder {w}")
    net = ncnn.Net()
    net.opt.use_vulkan_compute = False
    net.opt.num_threads = _threads()
    for o in ("use_fp16_storage", "use_fp16_packed", "use_fp16_arithmetic", "use_bf16_storage"):
        setattr(net.opt, o, False)  # fp32 throughout: ncnn's default fp16/bf16 storage costs PyTorch parity
    net.load_param(str(param))
    net.load_model(str(param.with_suffix(".bin")))
    inp, out = net.input_names()[0], net.output_names()[0]

    def run(x: np.ndarray) -> list[np.ndarray]:
        ys = []
        for im in x:
            with net.create_extractor() as ex:
                ex.input(inp, ncnn.Mat(np.ascontiguousarray(im)).clone())
                ys.append(np.array(ex.extract(out)[1]))
        return [np.stack(ys)]

    meta = _yaml_meta(folder, "metadata.yaml")
    return Runtime(run, tuple(meta["shape"]) if "shape" in meta else None, meta)


def load_paddle(w: str) -> Runtime:
    """PaddlePaddle inference model folder (x2paddle's inference_model/), on CPU."""
    LOGGER.info(f"Loading {w} for PaddlePaddle inference...")
    paddle_inference = require("paddle.inference", "paddlepaddle", "PaddlePaddle inference")
    folder = Path(w)
    model = next(iter(sorted(folder.rglob("*.json")) + sorted(folder.rglob("*.pdmodel"))), None)
    if model is None:
        raise UserError(f"no PaddlePaddle model file (.json or .pdmodel) in {w}")
    config = paddle_inference.Config(str(model), str(model.with_suffix(".pdiparams")))
    config.disable_gpu()
    config.disable_mkldnn()  # Paddle 3's oneDNN path rejects some x2paddle attributes (ConvertPirAttribute2...)
    config.set_cpu_math_library_num_threads(_threads())
    predictor = paddle_inference.create_predictor(config)
    inp = predictor.get_input_handle(predictor.get_input_names()[0])
    outs = [predictor.get_output_handle(n) for n in predictor.get_output_names()]

    def run(x: np.ndarray) -> list[np.ndarray]:
        inp.copy_from_cpu(np.ascontiguousarray(x, dtype=np.float32))
        predictor.run()
        return [o.copy_to_cpu() for o in outs]

    meta = _yaml_meta(folder, *(p.name for p in folder.glob("*.yaml")))
    return Runtime(run, tuple(meta["shape"]) if "shape" in meta else None, meta)


def load_coreml(w: str) -> Runtime:
    """Core ML (.mlpackage / .mlmodel): shapes and metadata read here; prediction needs macOS."""
    LOGGER.info(f"Loading {w} for CoreML inference...")
    ct = require("coremltools", "coremltools", "CoreML models")
    spec = ct.utils.load_spec(w)
    meta = dict(spec.description.metadata.userDefined)
    image = spec.description.input[0].type.imageType
    shape = (1, 3, int(image.height), int(image.width)) if image.height else None
    model = ct.models.MLModel(w, skip_model_load=True)

    def run(x: np.ndarray) -> list[np.ndarray]:
        raise UserError(f"{w}: Core ML models run only on macOS; on Linux they are read and checked structurally "
                        f"({model.get_spec().description.input[0].name} -> "
                        f"{', '.join(o.name for o in model.get_spec().description.output)})")

    return Runtime(run, shape, meta)
