"""One inference front for every model format: PyTorch .pt, TorchScript, ONNX (onnxruntime), OpenVINO and the edge
runtimes of models/runtimes.py (TFLite/LiteRT, TF SavedModel/GraphDef, NCNN, PaddlePaddle, CoreML structure)."""

from __future__ import annotations

import ast
import json
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from models import runtimes
from models.runtimes import Runtime
from utils.errors import MissingFile, UserError
from utils.files import yaml_load
from utils.logger import LOGGER

FORMATS = {  # format name -> (export --include argument, file suffix), YOLOv5's table plus NCNN
    "PyTorch": ("-", ".pt"),
    "TorchScript": ("torchscript", ".torchscript"),
    "ONNX": ("onnx", ".onnx"),
    "OpenVINO": ("openvino", "_openvino_model"),
    "TensorRT": ("engine", ".engine"),
    "CoreML": ("coreml", ".mlpackage"),
    "TensorFlow SavedModel": ("saved_model", "_saved_model"),
    "TensorFlow GraphDef": ("pb", ".pb"),
    "TensorFlow Lite": ("tflite", ".tflite"),
    "TensorFlow Edge TPU": ("edgetpu", "_edgetpu.tflite"),
    "TensorFlow.js": ("tfjs", "_web_model"),
    "PaddlePaddle": ("paddle", "_paddle_model"),
    "NCNN": ("ncnn", "_ncnn_model"),
}
NAME_ENDINGS = (  # file or folder name ending -> backend kind, most specific first
    (".pt", "pt"), (".torchscript", "jit"), (".onnx", "onnx"), ("_openvino_model", "openvino"), (".xml", "openvino"),
    (".engine", "engine"), (".mlpackage", "coreml"), (".mlmodel", "coreml"), ("_saved_model", "saved_model"),
    (".pb", "pb"), ("_edgetpu.tflite", "edgetpu"), (".tflite", "tflite"), ("_web_model", "tfjs"),
    ("_paddle_model", "paddle"), ("_ncnn_model", "ncnn"),
)

EDGE_KINDS = ("engine", "coreml", "saved_model", "pb", "tflite", "edgetpu", "tfjs", "paddle", "ncnn")
EDGE_UNRUNNABLE = {  # kinds this project writes but cannot run on a Linux CPU, and why
    "engine": "TensorRT engines run only on the NVIDIA GPU they were built for (tensorrt package); use the .onnx",
    "edgetpu": "Edge TPU models run only on a Coral Edge TPU (libedgetpu); use the -int8.tflite on CPU",
    "tfjs": "TF.js models run in a browser or Node.js (@tensorflow/tfjs), not in Python; use the _saved_model",
}


def model_type(path: str | Path) -> str:
    """Which backend reads path: 'pt', 'jit', 'onnx', 'openvino' (a folder or its .xml), 'tflite', 'ncnn', ..."""
    name = Path(path).name.lower()
    kind = next((k for end, k in NAME_ENDINGS if name.endswith(end)), None)
    if kind is None:
        raise UserError(f"model format of '{path}' is not supported; use one of "
                        f"{', '.join(s for _, s in FORMATS.values())} (export.py writes the exported ones)")
    return kind


def parse_names(names: object) -> dict[int, str]:
    """Class names from metadata (dict, list, JSON or Python-literal text) as {int id: name}."""
    if isinstance(names, str):
        try:
            names = json.loads(names)
        except json.JSONDecodeError:
            names = ast.literal_eval(names)
    if isinstance(names, (list, tuple)):
        names = dict(enumerate(names))
    return {int(k): str(v) for k, v in dict(names).items()}


def default_names(data: str | Path | None) -> dict[int, str]:
    """Names from a data YAML when given, else class0, class1, ... for models without name metadata."""
    if data:
        d = yaml_load(data)
        if "names" in d:
            return parse_names(d["names"])
    return {i: f"class{i}" for i in range(999)}


def openvino_paths(path: str | Path) -> tuple[Path, Path]:
    """The .xml model file and the .yaml metadata file of an OpenVINO export (folder or .xml)."""
    p = Path(path)
    xml = p if p.suffix == ".xml" else next(iter(sorted(p.glob("*.xml"))), None)
    if xml is None:
        raise UserError(f"no .xml model file in OpenVINO folder {path}")
    return xml, xml.with_suffix(".yaml")


class DetectMultiBackend(nn.Module):
    """Load weights of any supported format and run them on a (B,3,H,W) tensor; exposes .stride, .names, .pt, ..."""

    def __init__(self, weights: str | Path | list = "yolov5s.pt", device: torch.device = torch.device("cpu"),
                 dnn: bool = False, data: str | Path | None = None, fp16: bool = False, fuse: bool = True):
        super().__init__()
        w = str(weights[0] if isinstance(weights, list) else weights)
        kind = model_type(w)
        self.pt, self.jit, self.onnx, self.xml = (kind == k for k in ("pt", "jit", "onnx", "openvino"))
        self.engine, self.coreml, self.saved_model, self.pb, self.tflite, self.edgetpu, self.tfjs, self.paddle, \
            self.ncnn = (kind == k for k in EDGE_KINDS)
        self.runtime: Runtime | None = None  # the edge runtimes of models/runtimes.py
        self.dnn = dnn
        self.device = device
        self.fp16 = fp16 and device.type != "cpu" and (self.pt or self.jit)
        self.input_shape: tuple | None = None  # fixed (B,3,H,W) of an exported model, None when dynamic
        self._fuse = fuse
        self.segmentation = False  # a .pt with a Segment head: its third output (raw maps) is dropped
        if kind != "pt" and not Path(w).exists():
            raise MissingFile(f"model file not found: {w}")
        meta = self._load_edge(kind, w) if kind in EDGE_KINDS else getattr(self, f"_load_{kind}")(
            weights if kind == "pt" else w)
        self.stride = int(meta.get("stride", 32))
        self.names = parse_names(meta["names"]) if meta.get("names") else default_names(data)

    def _load_edge(self, kind: str, w: str) -> dict:
        """TFLite, SavedModel, GraphDef, NCNN, Paddle and CoreML through models/runtimes.py; the rest say why not."""
        if kind in EDGE_UNRUNNABLE:
            raise UserError(f"{w}: {EDGE_UNRUNNABLE[kind]}")
        self.runtime = getattr(runtimes, f"load_{kind}")(w)
        self.input_shape = self.runtime.input_shape
        return self.runtime.meta

    def _load_pt(self, weights: str | list) -> dict:
        from models.loading import attempt_load
        from models.yolo import Segment

        model = attempt_load(weights, device=self.device, inplace=True, fuse=self._fuse)
        self.model = model.half() if self.fp16 else model.float()
        self.segmentation = isinstance(getattr(model, "model", [None])[-1], Segment)
        return {"stride": max(int(model.stride.max()), 32), "names": model.names}

    def _load_jit(self, w: str) -> dict:
        LOGGER.info(f"Loading {w} for TorchScript inference...")
        extra = {"config.txt": ""}
        with warnings.catch_warnings():  # torch's deprecation notice is not the user's to act on: the format is
            warnings.filterwarnings("ignore", "`torch.jit.load` is deprecated", FutureWarning)  # YOLOv5's export
            model = torch.jit.load(w, _extra_files=extra, map_location=self.device)
        self.model = model.half() if self.fp16 else model.float()
        meta = json.loads(extra["config.txt"]) if extra["config.txt"] else {}
        if meta.get("shape"):  # traced at one (B,3,H,W): its Detect grids are constants of that size
            self.input_shape = tuple(int(x) for x in meta["shape"])
        return meta

    def _load_onnx(self, w: str) -> dict:
        return self._load_onnx_dnn(w) if self.dnn else self._load_onnx_runtime(w)

    def _load_onnx_dnn(self, w: str) -> dict:
        """OpenCV DNN reads fixed-shape ONNX exports (export without --dynamic)."""
        LOGGER.info(f"Loading {w} for ONNX OpenCV DNN inference...")
        import cv2
        import onnx

        graph = onnx.load(w, load_external_data=False)
        dims = [d.dim_value if d.HasField("dim_value") else None for d in graph.graph.input[0].type.tensor_type.shape.dim]
        if None in dims:
            raise UserError(f"OpenCV DNN (--dnn) needs a fixed input shape, {w} has {dims}; export without --dynamic")
        self.input_shape = tuple(dims)
        self.net = cv2.dnn.readNetFromONNX(w)
        return {p.key: p.value for p in graph.metadata_props}

    def _load_onnx_runtime(self, w: str) -> dict:
        LOGGER.info(f"Loading {w} for ONNX Runtime inference...")
        import onnxruntime

        providers = ["CPUExecutionProvider"]
        if self.device.type == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": self.device.index or 0}))
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()  # one thread setting for every backend (benchmarks)
        try:
            self.session = onnxruntime.InferenceSession(w, options, providers=providers)
        except Exception as e:  # a truncated or foreign file: say which one
            raise UserError(f"onnxruntime cannot load {w}: {e}") from None
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.output_names = [x.name for x in self.session.get_outputs()]
        self.fp16 = inp.type == "tensor(float16)"
        self.input_shape = tuple(inp.shape) if all(isinstance(d, int) for d in inp.shape) else None
        return dict(self.session.get_modelmeta().custom_metadata_map)

    def _load_openvino(self, w: str) -> dict:
        LOGGER.info(f"Loading {w} for OpenVINO inference...")
        xml, meta_file = openvino_paths(w)
        try:
            import openvino as ov
        except ImportError:
            raise UserError("OpenVINO models need the openvino package: pip install openvino") from None
        core = ov.Core()
        model = core.read_model(model=str(xml), weights=str(xml.with_suffix(".bin")))
        shape = model.input(0).get_partial_shape()
        self.input_shape = tuple(d.get_length() for d in shape) if shape.is_static else None
        self.fp16 = model.input(0).get_element_type() == ov.Type.f16
        config = {"INFERENCE_NUM_THREADS": torch.get_num_threads()}  # as torch's, like the other backends
        if not self.fp16:
            config["INFERENCE_PRECISION_HINT"] = "f32"  # no silent bf16 on CPUs that have it
        self.executable = core.compile_model(model, device_name="CPU", config=config)
        return yaml_load(meta_file) if meta_file.exists() else {}

    def forward(self, im: torch.Tensor, augment: bool = False, visualize: bool | Path = False):
        """Model output for a float image batch in [0,1]: a tensor, or a list whose first item is the predictions
        (segmentation models: [predictions, prototype masks] from every backend)."""
        if self.fp16 and im.dtype != torch.float16:
            im = im.half()
        if self.pt:
            y = self.model(im, augment=augment, visualize=visualize) if augment or visualize else self.model(im)
            y = y[:2] if self.segmentation else y  # (pred, protos), as the exported segmentation models give
        elif self.jit:
            y = self.model(im)
        elif self.onnx and self.dnn:
            self.net.setInput(im.cpu().numpy())
            y = self.net.forward(self.net.getUnconnectedOutLayersNames())  # all outputs: a seg model's protos too
        elif self.onnx:
            y = self.session.run(self.output_names, {self.input_name: im.cpu().numpy()})
        elif self.runtime is not None:
            y = self.runtime.run(im.float().cpu().numpy())
        else:
            y = list(self.executable(im.cpu().numpy()).values())
        if isinstance(y, (list, tuple)):
            return self.from_numpy(y[0]) if len(y) == 1 else [self.from_numpy(x) for x in y]
        return self.from_numpy(y)

    def from_numpy(self, x):
        """Backend outputs as torch tensors on the model's device."""
        return torch.from_numpy(x).to(self.device) if isinstance(x, np.ndarray) else x

    def export_imgsz(self, imgsz: tuple[int, int]) -> tuple[int, int]:
        """The (h, w) to letterbox images to: a fixed-shape export's own size (as YOLOv5 pads to it), else imgsz."""
        if self.input_shape is None:
            return tuple(imgsz)
        h, w = self.input_shape[2:]
        if (h, w) != tuple(imgsz):
            LOGGER.info(f"model exported for {h}x{w} input: images are letterboxed to {h}x{w} instead of "
                        f"--imgsz {imgsz[0]} {imgsz[1]} (export with --dynamic for other sizes)")
        return h, w

    def check_input_size(self, imgsz: tuple[int, int], batch_size: int = 1) -> None:
        """Fail clearly when a fixed-shape export is asked to run at another image or batch size."""
        if self.input_shape is None:
            return
        b, _, h, w = self.input_shape
        if (h, w) != tuple(imgsz):
            raise UserError(f"this model was exported for {h}x{w} input but is asked for {imgsz[0]}x{imgsz[1]}; "
                            f"use --imgsz {h} {w} or export with --dynamic")
        if b != batch_size:
            raise UserError(f"this model was exported for batch size {b} but is asked for {batch_size}; "
                            f"use --batch-size {b} or export with --dynamic")

    def warmup(self, imgsz: tuple = (1, 3, 640, 640)) -> None:
        """Run one dummy batch on a GPU so the first real image is not timed with CUDA start-up."""
        if (self.pt or self.jit or self.onnx) and self.device.type != "cpu":
            im = torch.empty(*imgsz, dtype=torch.half if self.fp16 else torch.float, device=self.device)
            self.forward(im)
