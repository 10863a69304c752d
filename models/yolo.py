"""YOLOv5 detection and segmentation models: the Detect and Segment heads, the model built from a YAML by parse_model,
 and its summary CLI.

Usage: python models/yolo.py --cfg yolov5n-ghostdyn.yaml
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import math
import re
import sys
from copy import deepcopy
from pathlib import Path

import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

# YOLOv5's models.yolo namespace holds every block; importing models.common registers them for parse_model.
from models.common import (C3, SPP, SPPF, Bottleneck, C3_GhostModule, C3Ghost, Concat, Conv,  # noqa: E402, F401
                           DWConv, DynamicConv, DynamicConvBnAct, DynamicGhostBottleneck, Focus, GhostBottleneck,
                           GhostConv, GhostModule, Proto, fuse_module, replace_default_act)
from models.common import Classify  # noqa: E402
from models.registry import CHANNEL_MODULES, MODULES, REPEAT_MODULES, yaml_block  # noqa: E402
from utils.training.autoanchor import check_anchor_order  # noqa: E402
from utils.checks import make_divisible  # noqa: E402
from utils.errors import UserError, exit_on_user_error  # noqa: E402
from utils.files import check_yaml, yaml_load  # noqa: E402
from utils.logger import LOGGER, colorstr, print_args  # noqa: E402
from utils.torch_utils import initialize_weights, keep_freed_memory, model_info, scale_img, select_device  # noqa: E402


@yaml_block()
class Detect(nn.Module):
    """Per-level 1x1 convolutions to (xywh, obj, classes) for each anchor; decodes to pixels in eval mode."""

    stride = None  # set by the model from a dummy forward
    dynamic = False  # rebuild grids every call (dynamic-shape export)
    export = False  # return only the decoded tensor
    normalize = False  # xywh divided by the image size, as YOLOv5's TF exports (one INT8 scale fits every output)
    nm = 0  # trailing raw columns (Segment's mask coefficients): decoded as they are, without the sigmoid

    def __init__(self, nc: int = 80, anchors: tuple = (), ch: tuple = (), inplace: bool = True):
        super().__init__()
        if len(anchors) != len(ch):
            raise ValueError(f"{len(anchors)} anchor levels for {len(ch)} input layers")
        self.nc = nc
        self.no = nc + 5
        self.nl = len(anchors)
        self.na = len(anchors[0]) // 2
        self.grid = [torch.empty(0) for _ in range(self.nl)]
        self.anchor_grid = [torch.empty(0) for _ in range(self.nl)]
        self.register_buffer("anchors", torch.tensor(anchors).float().view(self.nl, -1, 2))
        self.m = nn.ModuleList(nn.Conv2d(x, self.no * self.na, 1) for x in ch)
        self.inplace = inplace

    def __setstate__(self, state: dict) -> None:
        """Grids are a cache: ones pickled by YOLOv5 v6.0 lack the -0.5 offset, so an unpickled head rebuilds them."""
        super().__setstate__(state)
        self._buffers.pop("anchor_grid", None)  # a buffer before YOLOv5 v6.0
        self.grid = [torch.empty(0) for _ in range(self.nl)]
        self.anchor_grid = [torch.empty(0) for _ in range(self.nl)]

    def forward(self, x: list[torch.Tensor]):
        if torch.compiler.is_compiling() and not torch.compiler.is_exporting() and not self.training:
            return self._forward_uncompiled(x)
        eager = not (self.normalize or torch.jit.is_tracing() or torch.jit.is_scripting()
                     or torch.compiler.is_compiling())
        by_rows = eager and not self.training and not torch.is_grad_enabled() and x[0].device.type == "cpu"
        for i in range(self.nl):
            x[i] = self._head_by_rows(i, x[i]) if by_rows else self._head(i, x[i])
        if self.training:
            return x
        return self._decode_in_place(x) if eager else self._decode(x)

    @torch.compiler.disable
    def _forward_uncompiled(self, x: list[torch.Tensor]):
        """Inference under torch.compile runs the head eagerly: inductor's kernel for the decode's sigmoid-split-cat
        over 85 columns took longer than the eager head altogether (docs/speed_notes.md)."""
        return Detect.forward(self, x)  # the detection part alone: a subclass's forward wraps this one

    def _head(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """Level i's raw predictions (bs, na, ny, nx, no): YOLOv5's 1x1 convolution, then its NCHW output permuted."""
        x = self.m[i](x)
        bs, _, ny, nx = x.shape
        return x.reshape(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous()

    def _head_by_rows(self, i: int, x: torch.Tensor) -> torch.Tensor:
        """`_head` for CPU inference: a matmul per image and anchor writes its (ny * nx, no) block in place. Permuting
        the convolution's NCHW output cost twice the convolution (docs/speed_notes.md)."""
        conv = self.m[i]
        bs, c, ny, nx = x.shape
        weight = conv.weight.reshape(self.na, self.no, c).transpose(1, 2)
        bias = conv.bias.reshape(self.na, self.no)
        pixels = x.flatten(2).transpose(1, 2)  # (bs, ny * nx, c): a view, of NCHW and of channels-last maps alike
        y = x.new_empty(bs, self.na, ny * nx, self.no)
        for j in range(bs):
            for a in range(self.na):
                torch.addmm(bias[a], pixels[j], weight[a], out=y[j, a])
        return y.view(bs, self.na, ny, nx, self.no)

    def _decode(self, x: list[torch.Tensor]):
        """YOLOv5's decode (sigmoid, split, affine, concatenations): the graph that exports see."""
        z = []
        for i in range(self.nl):
            bs, _, ny, nx, _ = x[i].shape
            if self.dynamic or self.grid[i].shape[2:4] != x[i].shape[2:4]:
                self.grid[i], self.anchor_grid[i] = self._make_grid(nx, ny, i)
            k = self.no - self.nm  # mask coefficients (Segment) stay raw; detection's graph is unchanged
            y, raw = (x[i][..., :k].sigmoid(), (x[i][..., k:],)) if self.nm else (x[i].sigmoid(), ())
            xy, wh, conf = y.split((2, 2, self.nc + 1), 4)
            if self.normalize:  # image-size units inside each level, pixel-sized constants folded: no INT8 tensor
                n = xy.new_tensor([nx, ny])  # of the graph holds pixels, whose range would swamp the scores' scale
                xy, wh = xy * (2 / n) + self.grid[i] / n, (wh * 2) ** 2 * (self.anchor_grid[i] / (n * self.stride[i]))
            else:
                xy = (xy * 2 + self.grid[i]) * self.stride[i]
                wh = (wh * 2) ** 2 * self.anchor_grid[i]
            z.append(torch.cat((xy, wh, conf, *raw), 4).view(bs, -1, self.no))  # no traced size product: Core ML
        return (torch.cat(z, 1),) if self.export else (torch.cat(z, 1), x)

    def _decode_in_place(self, x: list[torch.Tensor]):
        """`_decode` in eager inference: each level's sigmoid goes straight into its rows of the output, image by image
        (an image's rows are contiguous there), with no split or concatenation; the box affine runs on small contiguous
        copies of the four box columns (in place on the strided columns it cost more than the convolutions). The same
        numbers bit for bit at batch 1; at larger batches a confidence may round 1 ulp apart where an image's rows end
        inside a vector (sigmoid's vector and scalar tail paths)."""
        bs, rows, k = x[0].shape[0], [self.na * t.shape[2] * t.shape[3] for t in x], self.no - self.nm
        out = torch.empty(bs, sum(rows), self.no, device=x[0].device, dtype=x[0].dtype)
        for i, y in enumerate(out.split(rows, 1)):
            ny, nx = x[i].shape[2:4]
            if self.dynamic or self.grid[i].shape[2:4] != x[i].shape[2:4]:
                self.grid[i], self.anchor_grid[i] = self._make_grid(nx, ny, i)
            y = y.view(bs, self.na, ny, nx, self.no)
            for j in range(bs):
                if self.nm:  # Segment: sigmoid on the first k columns only (10-15% faster than on all, and _decode's
                    torch.sigmoid(x[i][j][..., :k], out=y[j][..., :k])  # numbers bit for bit), masks copied raw
                    y[j][..., k:] = x[i][j][..., k:]
                else:
                    torch.sigmoid(x[i][j], out=y[j])
            y[..., :2] = y[..., :2].mul(2).add_(self.grid[i]).mul_(self.stride[i])
            y[..., 2:4] = y[..., 2:4].mul(2).pow_(2).mul_(self.anchor_grid[i])
        return (out,) if self.export else (out, x)

    def _make_grid(self, nx: int, ny: int, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        d, t = self.anchors[i].device, self.anchors[i].dtype
        shape = 1, self.na, ny, nx, 2
        yv, xv = torch.meshgrid(torch.arange(ny, device=d, dtype=t), torch.arange(nx, device=d, dtype=t),
                                indexing="ij")
        grid = torch.stack((xv, yv), 2).expand(shape) - 0.5  # offset so that xy = 2 * sigmoid - 0.5 spans the cell
        anchor_grid = (self.anchors[i] * self.stride[i]).view((1, self.na, 1, 1, 2)).expand(shape)
        return grid, anchor_grid


@yaml_block()
class Segment(Detect):
    """Detect whose rows also carry nm mask coefficients, plus Proto's nm prototype masks from the finest level.

    Returns (raw maps, protos) in training, (decoded, protos) with `export`, else (decoded, protos, raw maps)."""

    def __init__(self, nc: int = 80, anchors: tuple = (), nm: int = 32, npr: int = 256, ch: tuple = (),
                 inplace: bool = True):
        super().__init__(nc, anchors, ch, inplace)
        self.nm = nm
        self.npr = npr
        self.no = 5 + nc + nm
        self.m = nn.ModuleList(nn.Conv2d(x, self.no * self.na, 1) for x in ch)
        self.proto = Proto(ch[0], npr, nm)
        self.detect = Detect.forward  # YOLOv5's Segment.forward calls this attribute: our checkpoints carry it

    def forward(self, x: list[torch.Tensor]):
        p = self.proto(x[0])  # before Detect.forward, which overwrites x in place
        x = Detect.forward(self, x)
        return (x, p) if self.training else (x[0], p) if self.export else (x[0], p, x[1])


class BaseModel(nn.Module):
    """A sequence of layers where each layer reads the previous output or saved outputs named by its `f`."""

    def forward(self, x: torch.Tensor, visualize: bool | Path = False):
        return self._forward_once(x, visualize)

    def _forward_once(self, x: torch.Tensor, visualize: bool | Path = False):
        """The last layer runs after the loop: torch.compile can break its graph at the head (Detect runs eagerly in
        compiled inference), which it cannot do inside a loop without giving up the whole loop, layer by layer."""
        y = []
        for m in self.model[:-1]:
            x = self._layer(m, x, y, visualize)
        return self._layer(self.model[-1], x, y, visualize)

    def forward_with_head_inputs(self, x: torch.Tensor) -> tuple:
        """(the head's output, the head's input maps): what feature distillation reads, as one function that
        torch.compile traces whole (a hook that captures the inputs would be traced again on every step)."""
        y = []
        for m in self.model[:-1]:
            x = self._layer(m, x, y, False)
        head = self.model[-1]
        inputs = [x if j == -1 else y[j] for j in head.f]
        return head(list(inputs)), inputs  # a copy for the head: it writes its outputs into the list it gets

    def _layer(self, m: nn.Module, x, y: list, visualize: bool | Path):
        """Layer m on the previous output or the saved outputs its `f` names; its output saved in y when needed."""
        if m.f != -1:
            x = y[m.f] if isinstance(m.f, int) else [x if j == -1 else y[j] for j in m.f]
        x = m(x)
        y.append(x if m.i in self.save else None)
        if visualize:
            from utils.evaluation.plots import feature_visualization

            feature_visualization(x, m.type, m.i, save_dir=visualize)
        return x

    def fuse(self) -> BaseModel:
        """Fold every BatchNorm into the convolution before it: each block's own `fuse()` (Conv and DynamicConv).
        Weights stay contiguous NCHW as in YOLOv5: channels-last kernels round differently and move boxes at NMS ties."""
        LOGGER.info("Fusing layers... ")
        fuse_module(self.model)
        self.info()
        return self

    def info(self, verbose: bool = False, img_size: int = 640) -> None:
        model_info(self, verbose, img_size)

    def _apply(self, fn):
        """Move the Detect head's stride and cached grids along with the parameters (to(), cpu(), half())."""
        self = super()._apply(fn)
        m = self.model[-1]
        if isinstance(m, Detect):
            m.stride = fn(m.stride)
            m.grid = list(map(fn, m.grid))
            if isinstance(m.anchor_grid, list):
                m.anchor_grid = list(map(fn, m.anchor_grid))
        return self


class DetectionModel(BaseModel):
    """YOLOv5 detection model built from a model YAML (a file name under models/, a path, or a dict)."""

    def __init__(self, cfg: str | Path | dict = "yolov5s.yaml", ch: int = 3, nc: int | None = None,
                 anchors: list | None = None):
        super().__init__()
        if isinstance(cfg, dict):
            self.yaml = cfg
        else:
            self.yaml_file = Path(cfg).name
            self.yaml = yaml_load(check_yaml(cfg))
        missing = [k for k in ("nc", "depth_multiple", "width_multiple", "anchors", "backbone", "head")
                   if k not in self.yaml]
        if missing:
            raise UserError(f"model config {getattr(self, 'yaml_file', 'dict')} lacks the key(s) {missing}")
        check_model_config(self.yaml, getattr(self, "yaml_file", "dict"))
        ch = self.yaml["ch"] = self.yaml.get("ch", ch)
        if nc and nc != self.yaml["nc"]:
            LOGGER.info(f"Overriding model.yaml nc={self.yaml['nc']} with nc={nc}")
            self.yaml["nc"] = nc
        if anchors:
            LOGGER.info(f"Overriding model.yaml anchors with anchors={anchors}")
            self.yaml["anchors"] = round(anchors)
        self.model, self.save = parse_model(deepcopy(self.yaml), ch=[ch])
        self.nc = self.yaml["nc"]
        self.names = {i: str(i) for i in range(self.nc)}
        self.inplace = self.yaml.get("inplace", True)

        m = self.model[-1] if len(self.model) else None
        name = getattr(self, "yaml_file", "dict")
        if not isinstance(m, Detect):
            raise UserError(f"model config {name}: the last layer must be Detect or Segment")
        s = 256  # a dummy image size that every stride divides
        m.inplace = self.inplace
        try:
            with torch.no_grad():
                maps = self.forward(torch.zeros(1, ch, s, s))
                maps = maps[0] if isinstance(m, Segment) else maps  # (maps, protos) from a segmentation head
                m.stride = torch.tensor([s / x.shape[-2] for x in maps])
        except (RuntimeError, TypeError, ValueError, IndexError) as e:
            raise UserError(f"model config {name} builds but cannot run an image: {str(e).splitlines()[0]}") from None
        check_anchor_order(m)
        m.anchors /= m.stride.view(-1, 1, 1)
        self.stride = m.stride
        self._initialize_biases()
        initialize_weights(self)
        self.info()
        LOGGER.info("")

    def forward(self, x: torch.Tensor, augment: bool = False, visualize: bool | Path = False):
        if augment:
            return self._forward_augment(x)
        return self._forward_once(x, visualize)

    def _forward_augment(self, x: torch.Tensor):
        """Test-time augmentation: predictions at 1, 0.83 and 0.67 scale (the second flipped) merged."""
        img_size = x.shape[-2:]
        y = []
        for si, fi in zip((1, 0.83, 0.67), (None, 3, None)):
            xi = scale_img(x.flip(fi) if fi else x, si, gs=int(self.stride.max()))
            yi = self._forward_once(xi)[0]
            y.append(self._descale_pred(yi, fi, si, img_size))
        y = self._clip_augmented(y)
        return torch.cat(y, 1), None

    def _descale_pred(self, p: torch.Tensor, flips: int | None, scale: float, img_size) -> torch.Tensor:
        if self.inplace:
            p[..., :4] /= scale
            if flips == 2:
                p[..., 1] = img_size[0] - p[..., 1]
            elif flips == 3:
                p[..., 0] = img_size[1] - p[..., 0]
            return p
        x, y, wh = p[..., 0:1] / scale, p[..., 1:2] / scale, p[..., 2:4] / scale
        if flips == 2:
            y = img_size[0] - y
        elif flips == 3:
            x = img_size[1] - x
        return torch.cat((x, y, wh, p[..., 4:]), -1)

    def _clip_augmented(self, y: list[torch.Tensor]) -> list[torch.Tensor]:
        """Drop the small-object level of the largest scale and the large-object level of the smallest."""
        nl = self.model[-1].nl
        g = sum(4 ** x for x in range(nl))
        e = 1
        i = (y[0].shape[1] // g) * sum(4 ** x for x in range(e))
        y[0] = y[0][:, :-i]
        i = (y[-1].shape[1] // g) * sum(4 ** (nl - 1 - x) for x in range(e))
        y[-1] = y[-1][:, i:]
        return y

    def _initialize_biases(self) -> None:
        """Start objectness near 8 objects per 640 image and class scores near 1/nc, so early training is stable."""
        m = self.model[-1]
        for mi, s in zip(m.m, m.stride):
            b = mi.bias.view(m.na, -1)
            b.data[:, 4] += math.log(8 / (640 / s) ** 2)
            b.data[:, 5:5 + m.nc] += math.log(0.6 / (m.nc - 0.99999))
            mi.bias = nn.Parameter(b.view(-1), requires_grad=True)


class SegmentationModel(DetectionModel):
    """YOLOv5 instance segmentation model: a DetectionModel whose head is Segment (models/segment/*.yaml)."""

    def __init__(self, cfg: str | Path | dict = "yolov5s-seg.yaml", ch: int = 3, nc: int | None = None,
                 anchors: list | None = None):
        super().__init__(cfg, ch, nc, anchors)


Model = DetectionModel  # YOLOv5's name, kept for checkpoints and user code


def model_class(cfg: str | Path | dict) -> type[DetectionModel]:
    """The model class a model YAML (dict, name or path) builds: SegmentationModel when its head ends in Segment,
    else DetectionModel, so that callers build any task's model without switching on it."""
    d = cfg if isinstance(cfg, dict) else yaml_load(check_yaml(cfg))
    head = d.get("head") if isinstance(d, dict) else None
    last = head[-1] if isinstance(head, list) and head else None
    is_segment = isinstance(last, (list, tuple)) and len(last) == 4 and last[2] in ("Segment", "models.yolo.Segment")
    return SegmentationModel if is_segment else DetectionModel


class ClassificationModel(BaseModel):
    """YOLOv5 classifier: a detection model's first `cutoff` layers, the last of them replaced by a Classify head
    sized to that layer's input. Built from a detection model (or anything holding one as `.model`) or a model YAML."""

    def __init__(self, cfg: str | Path | dict | None = None, model: nn.Module | None = None, nc: int = 1000,
                 cutoff: int = 10):
        super().__init__()
        if model is None and cfg is None:
            raise UserError("ClassificationModel needs a detection model (model=) or a model YAML (cfg=)")
        self._from_detection_model(DetectionModel(cfg) if model is None else model, nc, cutoff)

    def _from_detection_model(self, model: nn.Module, nc: int, cutoff: int) -> None:
        """Share the backbone layers (the detection model is left whole) and put Classify in place of layer cutoff-1."""
        if not isinstance(model, DetectionModel):
            model = getattr(model, "model", model)  # DetectMultiBackend and similar wrappers
        if not isinstance(model, DetectionModel):
            raise UserError(f"cannot make a classifier from {type(model).__name__}: a YOLOv5 detection model is needed")
        n = len(model.model)
        if not (isinstance(cutoff, int) and 1 <= cutoff < n):
            raise UserError(f"--cutoff {cutoff} is out of range: the detection model has {n} layers, use 1..{n - 1}")
        layers = model.model[:cutoff]
        m = layers[-1]
        conv = getattr(m, "conv", None) or getattr(getattr(m, "cv1", None), "conv", None)
        if not isinstance(conv, nn.Conv2d):
            raise UserError(f"--cutoff {cutoff}: layer {cutoff - 1} ({type(m).__name__}) has no input convolution "
                            "to size the Classify head from; choose a cutoff whose last layer is a Conv or C3-like block")
        c = Classify(conv.in_channels, nc)
        c.i, c.f, c.type, c.np = m.i, m.f, "models.common.Classify", sum(x.numel() for x in c.parameters())
        layers[-1] = c
        self.model = layers
        self.stride = model.stride
        self.save = [x for x in model.save if x < cutoff - 1]
        self.nc = nc
        self.names = {i: f"class{i}" for i in range(nc)}


def _resolve_module(name, layer: int) -> type[nn.Module]:
    if isinstance(name, str):
        if name in MODULES:
            return MODULES[name]
        torch_name = re.fullmatch(r"(?:torch\.)?nn\.(\w+)", name)
        if torch_name and isinstance(getattr(nn, torch_name.group(1), None), type) \
                and issubclass(getattr(nn, torch_name.group(1)), nn.Module):
            return getattr(nn, torch_name.group(1))
    raise UserError(f"model YAML layer {layer}: unknown module '{name}' "
                    f"(known: {', '.join(sorted(MODULES))} and nn.<Layer>)")


def _resolve_arg(a, symbols: dict):
    """A YAML argument: a known symbol (nc, anchors, None, True, False), a Python literal, or the string itself."""
    if not isinstance(a, str):
        return a
    if a in symbols:
        return symbols[a]
    with contextlib.suppress(ValueError, SyntaxError):
        return ast.literal_eval(a)
    return a


def parse_activation(text: str) -> nn.Module:
    """'nn.LeakyReLU(0.1)' -> nn.LeakyReLU(0.1), accepting only torch.nn activation classes and literal arguments."""
    match = re.fullmatch(r"\s*(?:torch\.)?(?:nn\.)?(\w+)\s*(?:\((.*)\))?\s*", text)
    cls = getattr(nn, match.group(1), None) if match else None
    if not (isinstance(cls, type) and issubclass(cls, nn.Module) and cls.__module__.endswith("activation")):
        raise UserError(f"model YAML activation '{text}' is not a torch.nn activation such as nn.SiLU()")
    try:
        args = ast.literal_eval(f"({match.group(2)},)") if match.group(2) else ()
    except (ValueError, SyntaxError):
        raise UserError(f"model YAML activation '{text}': arguments must be literal numbers or booleans") from None
    return cls(*args)


def _positive(x, kind: type | tuple = (int, float)) -> bool:
    """x is a number of the given kind (bool excluded) above zero."""
    return isinstance(x, kind) and not isinstance(x, bool) and x > 0


def _valid_anchors(anchors) -> bool:
    """A count of anchors per level, or one list of w,h pairs per level, all levels of the same length."""
    if _positive(anchors, int):
        return True
    return isinstance(anchors, list) and bool(anchors) and all(
        isinstance(a, list) and a and len(a) % 2 == 0 and len(a) == len(anchors[0]) and all(_positive(v) for v in a)
        for a in anchors)


def check_model_config(d: dict, name: str) -> None:
    """The top-level values of a model YAML have the right types, so a typo is reported rather than a traceback."""
    problems = []
    if not _positive(d["nc"], int):
        problems.append(f"nc must be a positive integer, got {d['nc']!r}")
    problems += [f"{k} must be a positive number, got {d[k]!r}" for k in ("depth_multiple", "width_multiple")
                 if not _positive(d[k])]
    if not _valid_anchors(d["anchors"]):
        problems.append(f"anchors must be a count or lists of w,h pairs of the same length, got {d['anchors']!r}")
    problems += [f"{k} must be a list of layers" for k in ("backbone", "head") if not isinstance(d[k], list)]
    if not _positive(d.get("ch", 3), int):
        problems.append(f"ch must be a positive integer, got {d['ch']!r}")
    if problems:
        raise UserError(f"model config {name}: {'; '.join(problems)}")


def _build_layer(i: int, layer: list, ch: list[int], c2: int, symbols: dict, gd: float, gw: float,
                 no: int) -> tuple[nn.Module, type, list, int, int]:
    """One [from, number, module, args] row: (module, its class, args used, repeats shown, out channels)."""
    f, n, m, args = layer
    m = _resolve_module(m, i)
    if not _positive(n, int):
        raise UserError(f"model YAML layer {i}: number of repeats must be a positive integer, got {n!r}")
    args = [_resolve_arg(a, symbols) for a in (args or [])]
    n = n_ = max(round(n * gd), 1) if n > 1 else n
    if m in CHANNEL_MODULES:  # registered by @yaml_block(channels=True): Conv, C3, ..., C3_GhostModule
        c1, c2 = ch[f], args[0]
        if c2 != no:
            c2 = make_divisible(c2 * gw, 8)
        args = [c1, c2, *args[1:]]
        if m in REPEAT_MODULES:  # @yaml_block(channels=True, repeat=True): C3, C3Ghost, C3_GhostModule
            args.insert(2, n)
            n = 1
    elif m is nn.BatchNorm2d:
        args = [ch[f]]
    elif m is Concat:
        c2 = sum(ch[x] for x in f)
    elif m in (Detect, Segment):
        if m is Segment:  # (nc, anchors, nm=32, npr=256, ch): the prototype channels scale with the width
            args += [32, 256][len(args) - 2:]
            args[3] = make_divisible(args[3] * gw, 8)
        args.append([ch[x] for x in f])
        if isinstance(args[1], int):
            args[1] = [list(range(args[1] * 2))] * len(f)
    else:
        c2 = ch[f]
    try:
        m_ = nn.Sequential(*(m(*args) for _ in range(n))) if n > 1 else m(*args)
    except (TypeError, ValueError, IndexError, RuntimeError) as e:
        raise UserError(f"model YAML layer {i}: cannot build {m.__name__} with arguments {args}: {e}") from None
    return m_, m, args, n_, c2


def parse_model(d: dict, ch: list[int]) -> tuple[nn.Sequential, list[int]]:
    """Build the layers of a model YAML dict; return them and the indices of outputs later layers read."""
    LOGGER.info(f"\n{'':>3}{'from':>18}{'n':>3}{'params':>10}  {'module':<40}{'arguments':<30}")
    anchors, nc, gd, gw, act = d["anchors"], d["nc"], d["depth_multiple"], d["width_multiple"], d.get("activation")
    activation = parse_activation(act) if act else None
    if act:
        LOGGER.info(f"{colorstr('activation:')} {act}")
    na = (len(anchors[0]) // 2) if isinstance(anchors, list) else anchors
    no = na * (nc + 5)
    symbols = {"nc": nc, "anchors": anchors, "None": None, "True": True, "False": False}

    layers, save, c2 = [], [], ch[-1]
    for i, layer in enumerate(d["backbone"] + d["head"]):
        if not (isinstance(layer, (list, tuple)) and len(layer) == 4):
            raise UserError(f"model YAML layer {i}: expected [from, number, module, args], got {layer}")
        try:
            m_, m, args, n_, c2 = _build_layer(i, layer, ch, c2, symbols, gd, gw, no)
        except UserError:  # already one line naming the layer (a UserError is a ValueError too)
            raise
        except (TypeError, ValueError, IndexError, KeyError) as e:
            raise UserError(f"model YAML layer {i} {layer}: {type(e).__name__}: {e}") from None
        f = layer[0]
        t = f"{m.__module__}.{m.__name__}".replace("__main__.", "")
        n_params = sum(x.numel() for x in m_.parameters())
        m_.i, m_.f, m_.type, m_.np = i, f, t, n_params
        LOGGER.info(f"{i:>3}{str(f):>18}{n_:>3}{n_params:10.0f}  {t:<40}{str(args):<30}")
        save.extend(x % i for x in ([f] if isinstance(f, int) else f) if x != -1)
        layers.append(m_)
        if i == 0:
            ch = []
        ch.append(c2)
    model = nn.Sequential(*layers)
    if activation is not None:
        replace_default_act(model, activation)
    return model, sorted(save)


def parse_opt(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cfg", type=str, default="yolov5s.yaml", help="model.yaml")
    parser.add_argument("--batch-size", type=int, default=1, help="total batch size for all GPUs")
    parser.add_argument("--device", default="", help="cuda device, i.e. 0 or 0,1,2,3 or cpu")
    parser.add_argument("--profile", action="store_true", help="profile model speed")
    parser.add_argument("--test", action="store_true", help="test all yolo*.yaml")
    parser.add_argument("--fuse", action="store_true", help="also print the fused model's summary")
    opt = parser.parse_args(argv)
    print_args(vars(opt))
    return opt


@exit_on_user_error
def main(opt: argparse.Namespace) -> None:
    device = select_device(opt.device)
    keep_freed_memory(device)
    im = torch.rand(opt.batch_size, 3, 640, 640).to(device)
    if opt.test:
        for cfg in sorted((ROOT / "models").rglob("yolo*.yaml")):
            model_class(cfg)(cfg)
        return
    model = model_class(opt.cfg)(opt.cfg).to(device)
    if opt.profile:
        from utils.torch_utils import time_sync

        model.eval()
        with torch.no_grad():
            for _ in range(3):
                t = time_sync()
                model(im)
                LOGGER.info(f"forward {opt.batch_size}x3x640x640: {(time_sync() - t) * 1000:.1f} ms")
    if opt.fuse:
        model.eval().fuse()


if __name__ == "__main__":
    main(parse_opt())
