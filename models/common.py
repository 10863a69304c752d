"""Network blocks: YOLOv5's standard modules and the DynamicConv Ghost family (CondConv experts routed per image).

Attribute names follow YOLOv5 (and the seed patch for the dynamic blocks) so that pickled checkpoints load here.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from timm.layers import CondConv2d, DropPath, SqueezeExcite

from models.dynamic_kernels import routed_conv2d, routing_weights
from models.registry import yaml_block
from utils.torch_utils import bn_scale_shift, fuse_conv_and_bn


def autopad(k: int | list[int], p: int | list[int] | None = None, d: int = 1) -> int | list[int]:
    """Padding that keeps the spatial size ('same') for stride 1."""
    if d > 1:
        k = d * (k - 1) + 1 if isinstance(k, int) else [d * (x - 1) + 1 for x in k]
    if p is None:
        p = k // 2 if isinstance(k, int) else [x // 2 for x in k]
    return p


@yaml_block(channels=True)
class Conv(nn.Module):
    """Conv2d -> BatchNorm2d -> activation; a model YAML's `activation` replaces `default_act` in its own model only."""

    default_act = nn.SiLU()

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1, d: int = 1,
                 act: bool | nn.Module = True):
        super().__init__()
        self.conv = nn.Conv2d(c1, c2, k, s, autopad(k, p, d), groups=g, dilation=d, bias=False)
        self.bn = nn.BatchNorm2d(c2)
        self.act = self.default_act if act is True else act if isinstance(act, nn.Module) else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))

    def fuse(self) -> None:
        """Fold the BatchNorm into the convolution (eval-mode inference)."""
        if isinstance(self.bn, nn.BatchNorm2d):
            self.conv = fuse_conv_and_bn(self.conv, self.bn)
            self.bn = nn.Identity()


def replace_default_act(module: nn.Module, act: nn.Module) -> None:
    """Give `act` to every Conv inside that took the class default, leaving the class (and later models) untouched."""
    for m in module.modules():
        if isinstance(m, Conv) and m.act is Conv.default_act:
            m.act = act


@yaml_block(channels=True)
class DWConv(Conv):
    """Depth-wise convolution: one group per common channel of input and output."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, d: int = 1, act: bool | nn.Module = True):
        super().__init__(c1, c2, k, s, g=math.gcd(c1, c2), d=d, act=act)


@yaml_block(channels=True)
class Bottleneck(nn.Module):
    """1x1 then 3x3 convolution, with a residual connection when shapes allow."""

    def __init__(self, c1: int, c2: int, shortcut: bool = True, g: int = 1, e: float = 0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_, c2, 3, 1, g=g)
        self.add = shortcut and c1 == c2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


@yaml_block(channels=True, repeat=True)
class C3(nn.Module):
    """CSP bottleneck with 3 convolutions: a stack of `m` blocks on one half, a 1x1 shortcut on the other."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5):
        super().__init__()
        c_ = int(c2 * e)
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c1, c_, 1, 1)
        self.cv3 = Conv(2 * c_, c2, 1)
        self.m = nn.Sequential(*(Bottleneck(c_, c_, shortcut, g, e=1.0) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(torch.cat((self.m(self.cv1(x)), self.cv2(x)), 1))


@yaml_block(channels=True)
class SPP(nn.Module):
    """Spatial pyramid pooling with parallel max-pools of several sizes."""

    def __init__(self, c1: int, c2: int, k: tuple[int, ...] = (5, 9, 13)):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * (len(k) + 1), c2, 1, 1)
        self.m = nn.ModuleList(nn.MaxPool2d(kernel_size=x, stride=1, padding=x // 2) for x in k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        return self.cv2(torch.cat([x] + [m(x) for m in self.m], 1))


@yaml_block(channels=True)
class SPPF(nn.Module):
    """SPP with one max-pool applied three times in series: same output as SPP(k=(5, 9, 13)), faster."""

    def __init__(self, c1: int, c2: int, k: int = 5):
        super().__init__()
        c_ = c1 // 2
        self.cv1 = Conv(c1, c_, 1, 1)
        self.cv2 = Conv(c_ * 4, c2, 1, 1)
        self.m = nn.MaxPool2d(kernel_size=k, stride=1, padding=k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.cv1(x)
        y1 = self.m(_pooling_layout(x))
        y2 = self.m(y1)
        return self.cv2(torch.cat((x, y1, y2, self.m(y2)), 1))


def _pooling_layout(x: torch.Tensor) -> torch.Tensor:
    """x channels-last for CPU inference: the max-pool kernel is 13-16x faster there and its maxima are the same
    numbers (the concatenation after it is NCHW again). Training and traced graphs keep x as it is."""
    if x.device.type != "cpu" or torch.is_grad_enabled() or torch.jit.is_tracing() or torch.jit.is_scripting():
        return x
    return x.contiguous(memory_format=torch.channels_last)


@yaml_block(channels=True)
class Focus(nn.Module):
    """Space-to-depth (every second pixel into channels) followed by a convolution."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1,
                 act: bool | nn.Module = True):
        super().__init__()
        self.conv = Conv(c1 * 4, c2, k, s, p, g, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2], x[..., 1::2, 1::2]), 1))


@yaml_block()
class Concat(nn.Module):
    """Concatenate a list of tensors along dimension `d`."""

    def __init__(self, dimension: int = 1):
        super().__init__()
        self.d = dimension

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return torch.cat(x, self.d)


class Classify(nn.Module):
    """Classification head: 1x1 Conv to 1280 channels (EfficientNet-B0's width), global average pool, dropout, Linear;
    a list input (several feature maps) is concatenated along channels first."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, p: int | None = None, g: int = 1):
        super().__init__()
        c_ = 1280
        self.conv = Conv(c1, c_, k, s, autopad(k, p), g)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(p=0.0, inplace=True)
        self.linear = nn.Linear(c_, c2)

    def forward(self, x: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        if isinstance(x, list):
            x = torch.cat(x, 1)
        return self.linear(self.drop(self.pool(self.conv(x)).flatten(1)))


class Proto(nn.Module):
    """The segmentation head's prototype masks: c2 maps at twice the resolution of the finest level (stride 4),
    which each detection mixes with its own coefficients."""

    def __init__(self, c1: int, c_: int = 256, c2: int = 32):
        super().__init__()
        self.cv1 = Conv(c1, c_, k=3)
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.cv2 = Conv(c_, c_, k=3)
        self.cv3 = Conv(c_, c2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cv3(self.cv2(self.upsample(self.cv1(x))))


@yaml_block(channels=True)
class GhostConv(nn.Module):
    """GhostNet convolution: half the channels from a convolution, the other half from a cheap 5x5 depth-wise one."""

    def __init__(self, c1: int, c2: int, k: int = 1, s: int = 1, g: int = 1, act: bool | nn.Module = True):
        super().__init__()
        c_ = c2 // 2
        self.cv1 = Conv(c1, c_, k, s, None, g, act=act)
        self.cv2 = Conv(c_, c_, 5, 1, None, c_, act=act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv1(x)
        return torch.cat((y, self.cv2(y)), 1)


@yaml_block(channels=True)
class GhostBottleneck(nn.Module):
    """YOLOv5's Ghost bottleneck built from GhostConv."""

    def __init__(self, c1: int, c2: int, k: int = 3, s: int = 1):
        super().__init__()
        c_ = c2 // 2
        self.conv = nn.Sequential(
            GhostConv(c1, c_, 1, 1),
            DWConv(c_, c_, k, s, act=False) if s == 2 else nn.Identity(),
            GhostConv(c_, c2, 1, 1, act=False),
        )
        self.shortcut = (nn.Sequential(DWConv(c1, c1, k, s, act=False), Conv(c1, c2, 1, 1, act=False))
                         if s == 2 else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.shortcut(x)


@yaml_block(channels=True, repeat=True)
class C3Ghost(C3):
    """C3 with GhostBottleneck blocks."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5):
        super().__init__(c1, c2, n, shortcut, g, e)
        c_ = int(c2 * e)
        self.m = nn.Sequential(*(GhostBottleneck(c_, c_) for _ in range(n)))


# ---------------------------------------------------------------------------------------------------------------------
# DynamicConv Ghost family


@yaml_block(channels=True)
class DynamicConv(nn.Module):
    """CondConv: `num_experts` kernels mixed per image by sigmoid routing weights computed from the pooled input.

    More parameters than a convolution for almost no extra FLOPs: the mixing is one small matmul per image.
    """

    def __init__(self, c1: int, c2: int, kernel_size: int = 1, stride: int = 1, padding: int | str = "",
                 dilation: int = 1, groups: int = 1, bias: bool = False, num_experts: int = 4):
        super().__init__()
        self.routing = nn.Linear(c1, num_experts)
        self.cond_conv = CondConv2d(c1, c2, kernel_size, stride, padding, dilation, groups, bias, num_experts)
        self.register_buffer("shift", None)  # per-channel output shift, set when a BatchNorm is folded in

    def __setstate__(self, state: dict) -> None:
        """Unpickling skips __init__: modules pickled by the seed's YOLOv5 patch have no 'shift' buffer yet."""
        super().__setstate__(state)
        self._buffers.setdefault("shift", None)

    def routing_weights(self, x: torch.Tensor) -> torch.Tensor:
        return routing_weights(x, self.routing)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return routed_conv2d(x, self.routing, self.cond_conv, self.shift)

    @torch.no_grad()
    def fuse_bn(self, bn: nn.BatchNorm2d) -> None:
        """Fold an eval-mode BatchNorm: the routed sum is linear, so each expert takes the scale; the shift stays."""
        cc = self.cond_conv
        scale, shift = bn_scale_shift(bn)
        cc.weight.copy_((cc.weight.view(cc.num_experts, cc.out_channels, -1) * scale.view(1, -1, 1)).view_as(cc.weight))
        if cc.bias is not None:
            cc.bias.mul_(scale)
        self.shift = shift if self.shift is None else self.shift * scale + shift


def fuse_module(module: nn.Module) -> None:
    """Fold every BatchNorm into the convolution before it: each block that owns a BatchNorm folds it in `fuse()`."""
    for m in list(module.modules()):
        if callable(getattr(m, "fuse", None)):
            m.fuse()


def _fold_bn(owner: nn.Module, conv: str, bn: str) -> None:
    """Fold the eval-mode BatchNorm `owner.<bn>` into the DynamicConv `owner.<conv>`; the BatchNorm becomes Identity."""
    if isinstance(getattr(owner, bn), nn.BatchNorm2d):
        getattr(owner, conv).fuse_bn(getattr(owner, bn))
        setattr(owner, bn, nn.Identity())


@yaml_block(channels=True)
class GhostModule(nn.Module):
    """GhostNet module with dynamic convolutions: a primary conv makes c2/ratio maps, a cheap depth-wise one the rest.

    `oup` keeps the seed patch's attribute name: pickled checkpoints restore it."""

    def __init__(self, c1: int, c2: int, kernel_size: int = 1, ratio: int = 2, dw_size: int = 3, stride: int = 1,
                 act_layer: type[nn.Module] | None = nn.ReLU, num_experts: int = 4):
        super().__init__()
        self.oup = c2
        init_channels = math.ceil(c2 / ratio)
        new_channels = init_channels * (ratio - 1)
        self.primary_conv = nn.Sequential(
            DynamicConv(c1, init_channels, kernel_size, stride, kernel_size // 2, num_experts=num_experts),
            nn.BatchNorm2d(init_channels),
            act_layer(inplace=True) if act_layer is not None else nn.Sequential(),
        )
        self.cheap_operation = nn.Sequential(
            DynamicConv(init_channels, new_channels, dw_size, 1, dw_size // 2, groups=init_channels,
                        num_experts=num_experts),
            nn.BatchNorm2d(new_channels),
            act_layer(inplace=True) if act_layer is not None else nn.Sequential(),
        )

    def halves(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(primary maps, cheap maps cut to oup in all): the output's two parts, for a caller to concatenate once."""
        x1 = self.primary_conv(x)
        x2 = self.cheap_operation(x1)
        return x1, x2[:, :self.oup - self.primary_conv[0].cond_conv.out_channels]  # a constant in traces (Core ML)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.halves(x), 1)

    def fuse(self) -> None:
        """Fold both BatchNorms (the seed patch's Sequential layout is kept: they become Identity)."""
        _fold_bn(self.primary_conv, "0", "1")
        _fold_bn(self.cheap_operation, "0", "1")


@yaml_block(channels=True, repeat=True)
class C3_GhostModule(C3):
    """C3 whose bottleneck stack is made of dynamic GhostModules; `shortcut` and `g` are kept for YAML compatibility."""

    def __init__(self, c1: int, c2: int, n: int = 1, shortcut: bool = True, g: int = 1, e: float = 0.5):
        super().__init__(c1, c2, n, shortcut, g, e)
        c_ = int(c2 * e)
        self.m = nn.Sequential(*(GhostModule(c_, c_) for _ in range(n)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """C3's forward with the last GhostModule's two parts and cv2's maps concatenated in one copy."""
        y = self.m[:-1](self.cv1(x))
        return self.cv3(torch.cat((*self.m[-1].halves(y), self.cv2(x)), 1))


@yaml_block(channels=True)
class DynamicConvBnAct(nn.Module):
    """DynamicConv -> BatchNorm -> activation, residual (with drop-path) when `skip`, stride 1 and in == out."""

    def __init__(self, c1: int, c2: int, kernel_size: int = 3, stride: int = 1, dilation: int = 1,
                 act_layer: type[nn.Module] = nn.ReLU, skip: bool = False, drop_path_rate: float = 0.0,
                 num_experts: int = 4):
        super().__init__()
        self.has_skip = skip and stride == 1 and c1 == c2
        self.conv = DynamicConv(c1, c2, kernel_size, stride, (kernel_size - 1) // 2 * dilation, dilation,
                                num_experts=num_experts)
        self.bn1 = nn.BatchNorm2d(c2)
        self.act1 = act_layer(inplace=True)
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.bn1(self.conv(x)))
        return self.drop_path(y) + x if self.has_skip else y

    def fuse(self) -> None:
        _fold_bn(self, "conv", "bn1")


@yaml_block(channels=True)
class DynamicGhostBottleneck(nn.Module):
    """GhostNet bottleneck of dynamic GhostModules (expansion 2), named apart from YOLOv5's GhostBottleneck."""

    def __init__(self, c1: int, c2: int, dw_kernel_size: int = 3, stride: int = 1, se_ratio: float = 0.0,
                 act_layer: type[nn.Module] = nn.ReLU, num_experts: int = 4):
        super().__init__()
        c_ = 2 * c1
        self.stride = stride
        self.ghost1 = GhostModule(c1, c_, act_layer=act_layer, num_experts=num_experts)
        if stride > 1:
            self.conv_dw = DynamicConv(c_, c_, dw_kernel_size, stride, (dw_kernel_size - 1) // 2,
                                       groups=c_, num_experts=num_experts)
            self.bn_dw = nn.BatchNorm2d(c_)
        else:
            self.conv_dw, self.bn_dw = nn.Identity(), nn.Identity()
        self.se = SqueezeExcite(c_, rd_ratio=se_ratio, gate_layer="hard_sigmoid") if se_ratio > 0 else nn.Identity()
        self.ghost2 = GhostModule(c_, c2, act_layer=None, num_experts=num_experts)
        if c1 == c2 and stride == 1:
            self.shortcut = nn.Sequential()
        else:
            self.shortcut = nn.Sequential(
                DynamicConv(c1, c1, dw_kernel_size, stride, (dw_kernel_size - 1) // 2, groups=c1,
                            num_experts=num_experts),
                nn.BatchNorm2d(c1),
                DynamicConv(c1, c2, 1, 1, 0, num_experts=num_experts),
                nn.BatchNorm2d(c2),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.se(self.bn_dw(self.conv_dw(self.ghost1(x))))
        return self.ghost2(y) + self.shortcut(x)

    def fuse(self) -> None:
        _fold_bn(self, "conv_dw", "bn_dw")
        if len(self.shortcut):
            _fold_bn(self.shortcut, "0", "1")
            _fold_bn(self.shortcut, "2", "3")


def __getattr__(name: str):
    """YOLOv5 users import AutoShape and DetectMultiBackend from models.common. They sit above this module (they load
    models built from these blocks), so they are looked up on first use rather than imported here."""
    if name == "AutoShape":
        from models.autoshape import AutoShape

        return AutoShape
    if name == "DetectMultiBackend":
        from models.backends import DetectMultiBackend

        return DetectMultiBackend
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
