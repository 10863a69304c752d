"""Per-image convolutions for DynamicConv: timm's CondConv2d arithmetic, each layer shape on its fastest exact path.

timm runs every image's mixed kernel as one grouped convolution over the batch folded into channels. On CPU that
falls off oneDNN's fast kernels for several of the Ghost model's shapes. The rules of `dynamic_conv2d`, chosen by
timing the alternatives at the Ghost model's shapes (the figures, with their machine: docs/speed_notes.md):

- 1x1 kernels: a batched matmul, in the input's memory layout (NCHW or channels-last);
- batch 1: a plain convolution in the input's layout (oneDNN's NCHW depth-wise kernel is as fast as or faster than a
  channels-last round trip);
- depth-wise kernels of channels-last inputs: the batch folded into channels inside the channels-last layout;
- anything else, NCHW depth-wise included: timm's grouped form (as fast as a channels-last round trip; shifted
  slices and a per-image loop were slower).

Under tracing (TorchScript, ONNX) only batch-size-agnostic ops are used, since `groups` would bake in the batch.
Batch-agnostic ONNX graphs (`--dynamic`) hold each depth-wise kernel as its experts' kernels in one constant
convolution, whose maps a matmul mixes with the routing weights (`_stacked_experts`: faster than the shifted slices
in ONNX Runtime); TorchScript keeps the shifted slices, faster in PyTorch at batch 1. Inside `fixed_batch_export()`
(static-shape exports) kxk kernels are traced as timm's grouped convolution with runtime weights instead, which ONNX
Runtime and OpenVINO run as one convolution (the shifted slices cost more); inside `static_weight_export()`
(onnx2tf, which rejects runtime weights and stalls on the slices) every kernel is traced as its experts'
constant-weight convolutions, each output scaled by the image's routing weight and summed. Both are contexts that
restore the mode they found, per thread.
For training, `routed_conv2d` makes routing, mixing and convolution one autograd node: the routing's gradient joins
the input gradient inside the convolution's backward, instead of as a full-size tensor added to it afterwards.
`reference_conv2d` is timm's own forward, the definition the tests and `python -m tools.benchmarks.kernels` hold
the fast paths to.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import CondConv2d
from timm.layers.padding import pad_same

_FIXED_BATCH: ContextVar[bool] = ContextVar("fixed_batch_export", default=False)
_STATIC_WEIGHTS: ContextVar[bool] = ContextVar("static_weight_export", default=False)


@contextlib.contextmanager
def _setting(var: ContextVar[bool], value: bool) -> Iterator[None]:
    """var set to value inside the block, its previous value back after it: contexts nest, other threads (and
    asyncio tasks) keep their own."""
    token = var.set(value)
    try:
        yield
    finally:
        var.reset(token)


def fixed_batch_export(enabled: bool = True) -> contextlib.AbstractContextManager[None]:
    """Trace kxk dynamic kernels for the traced input's batch size only (a static-shape export), as one grouped
    convolution with runtime weights."""
    return _setting(_FIXED_BATCH, enabled)


def static_weight_export(enabled: bool = True) -> contextlib.AbstractContextManager[None]:
    """Trace every dynamic kernel as its experts' convolutions with constant weights, summed with the image's routing
    weights: for converters that reject runtime conv weights (onnx2tf); exact at any batch size."""
    return _setting(_STATIC_WEIGHTS, enabled)


class _StaticView:
    """A CondConv2d seen with zero padding, after 'same' padding was applied to the input explicitly."""

    def __init__(self, cc: CondConv2d):
        self.__dict__.update({k: getattr(cc, k) for k in ("in_channels", "out_channels", "kernel_size", "stride",
                                                          "dilation", "groups", "weight", "bias", "num_experts")})
        self.padding, self.dynamic_padding = (0, 0), False


def is_channels_last(x: torch.Tensor) -> bool:
    """True when x is laid out NHWC in memory (and not also plain contiguous, as 1x1 maps or 1 channel are)."""
    return not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def _kernel_shape(cc: CondConv2d, rows: int) -> tuple[int, ...]:
    return (rows, cc.in_channels // cc.groups) + tuple(cc.kernel_size)


def _is_dense_1x1(cc: CondConv2d) -> bool:
    """A 1x1 kernel over all channels, unpadded: a matmul per image, after subsampling for any stride."""
    return cc.kernel_size == (1, 1) and cc.groups == 1 and cc.padding == (0, 0)


def _conv1x1_bmm(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, cc: CondConv2d) -> torch.Tensor:
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


def _conv1x1_traced(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None,
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
    """Batch 1: the mixed kernel is an ordinary kernel, run in x's memory layout."""
    return F.conv2d(x, weight.reshape(_kernel_shape(cc, cc.out_channels)), None if bias is None else bias.reshape(-1),
                    cc.stride, cc.padding, cc.dilation, cc.groups)


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


def _add_routed_bias(y: torch.Tensor, routing: torch.Tensor, cc: CondConv2d,
                     shift: torch.Tensor | None) -> torch.Tensor:
    """y plus each image's mixture of expert biases and the folded BatchNorm's shift, for forms that mix maps."""
    bias = torch.matmul(routing, cc.bias) if cc.bias is not None else None
    if shift is not None:
        bias = shift if bias is None else bias + shift
    return y if bias is None else y + bias.reshape(-1, cc.out_channels, 1, 1)


def _expert_sum(x: torch.Tensor, routing: torch.Tensor, cc: CondConv2d,
                shift: torch.Tensor | None) -> torch.Tensor:
    """conv(x, sum_e r_e W_e) = sum_e r_e conv(x, W_e): each expert a convolution with constant weights, its output
    scaled by the image's routing weight (export for converters that need constant weights)."""
    experts = cc.weight.reshape((cc.weight.shape[0],) + _kernel_shape(cc, cc.out_channels))
    y = None
    for e, r in enumerate(routing[:, :, None, None].split(1, 1)):
        ye = F.conv2d(x, experts[e], None, cc.stride, cc.padding, cc.dilation, cc.groups) * r
        y = ye if y is None else y + ye
    return _add_routed_bias(y, routing, cc, shift)


def _is_depthwise(cc: CondConv2d) -> bool:
    return cc.groups == cc.in_channels == cc.out_channels


def _stacked_experts(x: torch.Tensor, routing: torch.Tensor, cc: CondConv2d,
                     shift: torch.Tensor | None) -> torch.Tensor:
    """Depth-wise kernels, batch-agnostic: every expert's kernel in one constant depth-wise convolution (each channel
    gives one map per expert), the maps mixed by each image's routing weights in one matmul. It reads the input once,
    where the shifted slices read it once per tap (export)."""
    e, c, k = cc.num_experts, cc.out_channels, tuple(cc.kernel_size)
    kernels = cc.weight.reshape((e, c, 1) + k).transpose(0, 1).reshape((c * e, 1) + k)
    y = F.conv2d(x, kernels, None, cc.stride, cc.padding, cc.dilation, c)  # (B, C * E, H, W), channel-major
    h, w = y.shape[2:]
    y = torch.matmul(routing.reshape(-1, 1, 1, e), y.reshape(-1, c, e, h * w)).reshape(-1, c, h, w)
    return _add_routed_bias(y, routing, cc, shift)


def dynamic_conv2d(x: torch.Tensor, routing: torch.Tensor, cc: CondConv2d,
                   shift: torch.Tensor | None = None) -> torch.Tensor:
    """The same result as `cc(x, routing)` (+ shift), computed on the fastest path for the layer's shape."""
    if cc.dynamic_padding:
        x = pad_same(x, cc.kernel_size, cc.stride, cc.dilation)
        cc = _StaticView(cc)
    if _STATIC_WEIGHTS.get() and torch.jit.is_tracing():
        return _expert_sum(x, routing, cc, shift)
    if torch.onnx.is_in_onnx_export() and not _FIXED_BATCH.get() and _is_depthwise(cc):
        return _stacked_experts(x, routing, cc, shift)
    weight = torch.matmul(routing, cc.weight)  # (B, out * in/g * kh * kw): each image's mixture of experts
    bias = torch.matmul(routing, cc.bias) if cc.bias is not None else None
    if shift is not None:
        bias = shift.expand(x.shape[0], -1) if bias is None else bias + shift
    dense_1x1 = _is_dense_1x1(cc)
    if torch.jit.is_tracing() or torch.jit.is_scripting():
        if _FIXED_BATCH.get() and not dense_1x1:
            return _grouped(x, weight, bias, cc)
        return (_conv1x1_traced if dense_1x1 else _shifted)(x, weight, bias, cc)
    if dense_1x1:
        return _conv1x1_bmm(x, weight, bias, cc)
    if x.shape[0] == 1:
        return _single_image(x, weight, bias, cc)
    if _is_depthwise(cc) and is_channels_last(x):
        return _depthwise_channels_last(x, weight, bias, cc)
    return _grouped(x, weight, bias, cc)


def _pool(x: torch.Tensor) -> torch.Tensor:
    return F.adaptive_avg_pool2d(x, 1).flatten(1)


def _route(pooled: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    return torch.sigmoid(F.linear(pooled, weight, bias))


def routing_weights(x: torch.Tensor, routing: nn.Linear) -> torch.Tensor:
    """Each image's expert weights: a sigmoid of a linear map of its channel means."""
    return _route(_pool(x), routing.weight, routing.bias)


def _is_unstrided_1x1(cc: CondConv2d) -> bool:
    """A dense 1x1 kernel at stride 1: input and output pixels match one to one, so both gradients are matmuls."""
    return _is_dense_1x1(cc) and cc.stride == (1, 1)


def _is_depthwise_same(cc: CondConv2d) -> bool:
    """Depth-wise, stride 1, output the size of the input: its input gradient is a convolution with flipped kernels."""
    same = all(2 * p == d * (k - 1) for p, d, k in zip(cc.padding, cc.dilation, cc.kernel_size))
    return _is_depthwise(cc) and cc.stride == (1, 1) and same


def _kernel_grad(x: torch.Tensor, weight: torch.Tensor, grad: torch.Tensor,
                 cc: CondConv2d) -> tuple[torch.Tensor | None, torch.Tensor]:
    """(input gradient, or None where `_fused_input_grad` makes it; per-image kernel gradient (B, -1))."""
    b, c, h, w = x.shape
    if _is_unstrided_1x1(cc):
        g_weight = torch.bmm(grad.reshape(b, cc.out_channels, h * w), x.reshape(b, c, h * w).transpose(1, 2))
        return None, g_weight.view(b, -1)
    fused = _is_depthwise_same(cc)
    g_x, g_weight, _ = torch.ops.aten.convolution_backward(
        grad.reshape(1, b * cc.out_channels, *grad.shape[2:]), x.reshape(1, b * c, h, w),
        weight.reshape(_kernel_shape(cc, b * cc.out_channels)), None, cc.stride, cc.padding, cc.dilation, False,
        [0, 0], cc.groups * b, [not fused, True, False])
    return None if fused else g_x.view(b, c, h, w), g_weight.reshape(b, -1)


def _fused_input_grad(grad: torch.Tensor, weight: torch.Tensor, g_pooled: torch.Tensor,
                      cc: CondConv2d) -> torch.Tensor:
    """Input gradient of 1x1 and same-size depth-wise kernels, the routing's (B, C) gradient added inside the op."""
    (b, c), (h, w), o = g_pooled.shape, grad.shape[2:], cc.out_channels
    if _is_unstrided_1x1(cc):
        return torch.baddbmm(g_pooled.unsqueeze(-1).expand(b, c, h * w), weight.view(b, o, c).transpose(1, 2),
                             grad.reshape(b, o, h * w)).view(b, c, h, w)
    kernels = weight.reshape(_kernel_shape(cc, b * o)).flip(-1, -2)
    return F.conv2d(grad.reshape(1, b * o, h, w), kernels, g_pooled.reshape(-1), 1, cc.padding, cc.dilation,
                    b * c).view(b, c, h, w)


class _RoutedConv(torch.autograd.Function):
    """Routing, expert mixing and the per-image convolution as one autograd node. The routing's gradient reaches the
    input as a per-channel constant added inside the convolution's input gradient, instead of as a full-size
    gradient of the pooling summed with the convolution's."""

    @staticmethod
    def forward(ctx, x, routing_weight, routing_bias, experts, expert_bias, cc, shift):
        pooled = _pool(x)
        r = _route(pooled, routing_weight, routing_bias)
        ctx.cc = cc
        ctx.save_for_backward(x, pooled, r, routing_weight, experts, expert_bias)
        return dynamic_conv2d(x, r, cc, shift)

    @staticmethod
    def backward(ctx, grad):
        x, pooled, r, routing_weight, experts, expert_bias = ctx.saved_tensors
        cc = ctx.cc
        weight = r @ experts
        g_x, g_weight = _kernel_grad(x, weight, grad, cc)
        g_r = g_weight @ experts.t()
        g_experts = r.t() @ g_weight
        g_expert_bias = None
        if expert_bias is not None:
            g_bias = grad.sum((2, 3))
            g_r += g_bias @ expert_bias.t()
            g_expert_bias = r.t() @ g_bias
        g_logits = g_r * r * (1 - r)
        g_pooled = g_logits @ routing_weight / (x.shape[2] * x.shape[3])
        if g_x is None:
            g_x = _fused_input_grad(grad, weight, g_pooled, cc)
        else:
            g_x += g_pooled[:, :, None, None]
        g_routing_bias = g_logits.sum(0) if ctx.needs_input_grad[2] else None
        return g_x, g_logits.t() @ pooled, g_routing_bias, g_experts, g_expert_bias, None, None


def routed_conv2d(x: torch.Tensor, routing: nn.Linear, cc: CondConv2d,
                  shift: torch.Tensor | None = None) -> torch.Tensor:
    """DynamicConv's forward: `cc(x, routing_weights(x, routing))` (+ shift), with the one-node backward when
    gradients are wanted (autograd's own where AMP, export tracing or 'same' padding is involved)."""
    fused_backward = (torch.is_grad_enabled() and not cc.dynamic_padding and not torch.jit.is_tracing()
                      and not torch.jit.is_scripting() and not torch.is_autocast_enabled(x.device.type)
                      and (x.requires_grad or routing.weight.requires_grad or cc.weight.requires_grad))
    if fused_backward:
        return _RoutedConv.apply(x, routing.weight, routing.bias, cc.weight, cc.bias, cc, shift)
    return dynamic_conv2d(x, routing_weights(x, routing), cc, shift)


def reference_conv2d(x: torch.Tensor, routing: nn.Linear, cc: CondConv2d,
                     shift: torch.Tensor | None = None) -> torch.Tensor:
    """timm's own CondConv2d forward (+ shift), on autograd: the definition the fast paths must reproduce."""
    y = cc(x, routing_weights(x, routing))
    return y if shift is None else y + shift.view(1, -1, 1, 1)
