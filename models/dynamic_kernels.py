"""Per-image convolutions for DynamicConv: timm's CondConv2d arithmetic, each layer shape on its fastest exact path.

timm runs every image's mixed kernel as one grouped convolution over the batch folded into channels. On CPU that
falls off oneDNN's fast kernels for most of the Ghost model's shapes, so `dynamic_conv2d` picks, by the rules below
(measured with benchmarks.py --section dynconv on 2 CPU threads):

- 1x1 kernels: a batched matmul, in the input's memory layout (NCHW or channels-last);
- batch 1: a plain convolution, depth-wise ones in channels-last (oneDNN's NCHW depth-wise kernel is slow);
- depth-wise kernels of channels-last inputs: the batch folded into channels inside the channels-last layout;
- anything else: timm's grouped form.

Under tracing (TorchScript, ONNX) only batch-size-agnostic ops are used, since `groups` would bake in the batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import CondConv2d
from timm.layers.padding import pad_same


class _StaticView:
    """A CondConv2d seen with zero padding, after 'same' padding was applied to the input explicitly."""

    def __init__(self, cc: CondConv2d):
        self.__dict__.update({k: getattr(cc, k) for k in ("in_channels", "out_channels", "kernel_size", "stride",
                                                          "dilation", "groups", "weight", "bias")})
        self.padding, self.dynamic_padding = (0, 0), False


def is_channels_last(x: torch.Tensor) -> bool:
    """True when x is laid out NHWC in memory (and not also plain contiguous, as 1x1 maps or 1 channel are)."""
    return not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def _kernel_shape(cc: CondConv2d, rows: int) -> tuple[int, ...]:
    return (rows, cc.in_channels // cc.groups) + tuple(cc.kernel_size)


def _pointwise(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, cc: CondConv2d) -> torch.Tensor:
    """1x1 convolution as one batched matmul per image; the output keeps the input's memory layout."""
    if cc.stride != (1, 1):
        x = x[:, :, ::cc.stride[0], ::cc.stride[1]]
    b, c, h, w = x.shape
    o = cc.out_channels
    w_b = weight.reshape(b, o, c)
    if is_channels_last(x):  # (B, HW, C) @ (B, C, O): NHWC in, NHWC out, no copies
        x_b = x.permute(0, 2, 3, 1).reshape(b, h * w, c)
        y = torch.bmm(x_b, w_b.transpose(1, 2)) if bias is None else torch.baddbmm(bias.unsqueeze(1), x_b,
                                                                                       w_b.transpose(1, 2))
        return y.view(b, h, w, o).permute(0, 3, 1, 2)
    x_b = x.reshape(b, c, h * w)
    y = torch.bmm(w_b, x_b) if bias is None else torch.baddbmm(bias.unsqueeze(-1), w_b, x_b)
    return y.view(b, o, h, w)


def _pointwise_traced(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                      cc: CondConv2d) -> torch.Tensor:
    """1x1 convolution as a broadcast matmul whose graph does not fix the batch size (export)."""
    if cc.stride != (1, 1):
        x = x[:, :, ::cc.stride[0], ::cc.stride[1]]
    h, w = x.shape[2:]
    y = torch.matmul(weight.reshape(-1, cc.out_channels, cc.in_channels), x.reshape(x.shape[0], cc.in_channels, -1))
    if bias is not None:
        y = y + bias.unsqueeze(-1)
    return y.reshape(x.shape[0], cc.out_channels, h, w)


def _single_image(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, cc: CondConv2d) -> torch.Tensor:
    """Batch 1: the mixed kernel is an ordinary kernel; depth-wise ones run channels-last, then back to x's layout."""
    depthwise = cc.groups == cc.in_channels and not is_channels_last(x)
    xi = x.contiguous(memory_format=torch.channels_last) if depthwise else x
    y = F.conv2d(xi, weight.reshape(_kernel_shape(cc, cc.out_channels)), None if bias is None else bias.reshape(-1),
                 cc.stride, cc.padding, cc.dilation, cc.groups)
    return y.contiguous() if depthwise else y


def _depthwise_channels_last(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
                             cc: CondConv2d) -> torch.Tensor:
    """Depth-wise kernels on an NHWC input: one depth-wise convolution over B x C channels, still NHWC."""
    b, c, h, w = x.shape
    folded = x.permute(2, 3, 0, 1).reshape(1, h, w, b * c).permute(0, 3, 1, 2)
    y = F.conv2d(folded, weight.reshape(_kernel_shape(cc, b * cc.out_channels)),
                 None if bias is None else bias.reshape(-1), cc.stride, cc.padding, cc.dilation, b * cc.groups)
    ho, wo = y.shape[2:]
    return y.permute(0, 2, 3, 1).reshape(ho, wo, b, cc.out_channels).permute(2, 3, 0, 1).contiguous(
        memory_format=torch.channels_last)


def _grouped(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, cc: CondConv2d) -> torch.Tensor:
    """timm's form: one grouped convolution over the batch folded into channels."""
    b, c, h, w = x.shape
    y = F.conv2d(x.reshape(1, b * c, h, w), weight.reshape(_kernel_shape(cc, b * cc.out_channels)),
                 None if bias is None else bias.reshape(-1), cc.stride, cc.padding, cc.dilation, cc.groups * b)
    return y.view(b, cc.out_channels, y.shape[-2], y.shape[-1])


def _shifted(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, cc: CondConv2d) -> torch.Tensor:
    """Per-image convolution as a sum over kernel taps of shifted slices: no op depends on the batch size (export)."""
    c, g = cc.in_channels, cc.groups
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = cc.kernel_size, cc.stride, cc.dilation, cc.padding
    cin, cout = c // g, cc.out_channels // g
    w = weight.reshape(-1, g, cout, cin, kh, kw)
    x = F.pad(x, [pw, pw, ph, ph]) if ph or pw else x
    out = None
    for i in range(kh):
        for j in range(kw):
            end_h, end_w = dh * (kh - 1 - i), dw * (kw - 1 - j)
            xs = x[:, :, i * dh:(-end_h or None):sh, j * dw:(-end_w or None):sw]
            if cin == 1 and cout == 1:  # depth-wise: an element-wise multiply per tap
                y = xs * w[:, :, 0, 0, i, j].reshape(-1, c, 1, 1)
            else:
                y = torch.matmul(w[..., i, j], xs.reshape(xs.shape[0], g, cin, -1))
                y = y.reshape(xs.shape[0], g * cout, xs.shape[2], xs.shape[3])
            out = y if out is None else out + y
    return out if bias is None else out + bias.reshape(-1, cc.out_channels, 1, 1)


def dynamic_conv2d(x: torch.Tensor, routing: torch.Tensor, cc: CondConv2d,
                   shift: torch.Tensor | None = None) -> torch.Tensor:
    """The same result as `cc(x, routing)` (+ shift), computed on the fastest path for the layer's shape."""
    weight = torch.matmul(routing, cc.weight)  # (B, out * in/g * kh * kw): each image's mixture of experts
    bias = torch.matmul(routing, cc.bias) if cc.bias is not None else None
    if shift is not None:
        bias = shift.expand(x.shape[0], -1) if bias is None else bias + shift
    if cc.dynamic_padding:
        x = pad_same(x, cc.kernel_size, cc.stride, cc.dilation)
        cc = _StaticView(cc)
    pointwise = cc.kernel_size == (1, 1) and cc.groups == 1 and cc.padding == (0, 0)
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        return (_pointwise_traced if pointwise else _shifted)(x, weight, bias, cc)
    if pointwise:
        return _pointwise(x, weight, bias, cc)
    if x.shape[0] == 1:
        return _single_image(x, weight, bias, cc)
    if cc.groups == cc.in_channels == cc.out_channels and is_channels_last(x):
        return _depthwise_channels_last(x, weight, bias, cc)
    return _grouped(x, weight, bias, cc)
