"""How the frozen distillation teacher runs: from a batch of images to Detect's raw maps and Detect's inputs.

On CPU the teacher is exported once, in memory, to ONNX and run by ONNX Runtime: MLAS's blocked convolutions take
less CPU time than eager PyTorch (docs/speed_notes.md), the teacher being most of what distillation adds to a step.
Batch, height and width stay free for the last batch, --rect and --multi-scale. On CUDA (fp16), or where the export
or session fails (one line says why), it runs in PyTorch.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn

from utils.logger import LOGGER, colorstr
from utils.torch_utils import de_parallel

TeacherOutputs = tuple[list[torch.Tensor], list[torch.Tensor]]  # (Detect's raw maps, Detect's inputs), float32
TeacherRunner = Callable[[torch.Tensor], TeacherOutputs]


@contextmanager
def detect_inputs(model: nn.Module, store: dict) -> Iterator[None]:
    """Keep the input list of the model's Detect head in store['x'] while the block runs (hooks never persist,
    so the student stays picklable)."""
    def hook(module: nn.Module, args: tuple) -> None:
        store["x"] = list(args[0])  # a copy: Detect overwrites its input list in place

    handle = de_parallel(model).model[-1].register_forward_pre_hook(hook)
    try:
        yield
    finally:
        handle.remove()


class RawTeacher(nn.Module):
    """The teacher as one graph from images to Detect's raw maps (training-mode head: no box decoding) followed by
    Detect's inputs: what distillation reads, in a form that traces to ONNX."""

    def __init__(self, teacher: nn.Module):
        super().__init__()
        self.teacher = teacher

    def forward(self, imgs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        store: dict = {}
        detect = self.teacher.model[-1]
        detect.training = True
        try:
            with detect_inputs(self.teacher, store):
                maps = self.teacher(imgs)
        finally:
            detect.training = False
        return (*maps, *store["x"])


def _split(out: list[torch.Tensor], nl: int) -> TeacherOutputs:
    """RawTeacher's flat outputs (a graph output list cannot nest) as (maps, Detect inputs)."""
    return out[:nl], out[nl:]


def eager_runner(teacher: nn.Module) -> TeacherRunner:
    """The teacher in PyTorch, fed channels-last (the fused teacher's kernels are channels-last); fp16 teachers
    (CUDA) give float32 outputs."""
    raw, nl = RawTeacher(teacher), teacher.model[-1].nl
    dtype = next(teacher.parameters()).dtype

    def run(imgs: torch.Tensor) -> TeacherOutputs:
        with torch.no_grad():
            out = raw(imgs.to(dtype).contiguous(memory_format=torch.channels_last))
        return _split([x.float() for x in out], nl)

    return run


def onnx_runner(teacher: nn.Module) -> TeacherRunner:
    """The float32 CPU teacher exported in memory (no file) and run by ONNX Runtime with torch's thread count."""
    import onnxruntime

    nl, f, s = teacher.model[-1].nl, io.BytesIO(), 2 * int(teacher.stride.max())
    im = torch.zeros(1, 3, s, s)  # traced once; the graph keeps batch, height and width free
    axes = {"images": {0: "batch", 2: "height", 3: "width"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer and exporter notes about an internal graph are not the user's
        torch.onnx.export(RawTeacher(teacher), (im,), f, opset_version=17, input_names=["images"],
                          dynamic_axes=axes, dynamo=False)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = torch.get_num_threads(), 1
    # workers that spin while idle take CPU from torch's threads (2 threads, batch 8 at 320: 0.53 -> 0.38 CPU s)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(f.getvalue(), options, providers=["CPUExecutionProvider"])

    def run(imgs: torch.Tensor) -> TeacherOutputs:
        out = session.run(None, {"images": imgs.detach().float().contiguous().numpy()})
        return _split([torch.from_numpy(x) for x in out], nl)

    return run


def teacher_runner(teacher: nn.Module, onnx: bool = True) -> TeacherRunner:
    """ONNX Runtime for a float32 CPU teacher when onnx, else (or once it fails, said in one line) eager PyTorch."""
    p = next(teacher.parameters())
    if not onnx or p.device.type != "cpu" or p.dtype != torch.float32:
        return eager_runner(teacher)
    try:
        fast = onnx_runner(teacher)
    except Exception as e:  # any exporter or session failure: the eager teacher gives the same numbers, slower
        _say_fallback("unavailable", e)
        return eager_runner(teacher)
    current = fast

    def run(imgs: torch.Tensor) -> TeacherOutputs:
        nonlocal current
        try:
            return current(imgs)
        except Exception as e:  # a shape or runtime failure mid-training: the run goes on with the eager teacher
            if current is not fast:
                raise
            _say_fallback("failed", e)
            current = eager_runner(teacher)
            return current(imgs)

    return run


def _say_fallback(what: str, e: Exception) -> None:
    first = str(e).strip().splitlines()
    reason = type(e).__name__ + (f": {first[0]}" if first else "")
    LOGGER.warning(f"{colorstr('teacher: ')}ONNX Runtime {what} ({reason}), running it in PyTorch")
