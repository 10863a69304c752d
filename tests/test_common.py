"""Blocks of models/common.py: shapes, the fast DynamicConv against timm's forward, and BatchNorm folding."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from models.common import (C3, SPP, SPPF, C3_GhostModule, C3Ghost, Conv, DynamicConv, DynamicConvBnAct,
                           DynamicGhostBottleneck, Focus, GhostBottleneck, GhostConv, GhostModule, fuse_module)
from models.common import _pooling_layout
from models.dynamic_kernels import _RoutedConv, dynamic_conv2d, reference_conv2d


def _reference(dc: DynamicConv, x: torch.Tensor) -> torch.Tensor:
    return reference_conv2d(x, dc.routing, dc.cond_conv, dc.shift)


CASES = {  # name: (in, out, kernel, stride, padding, groups, bias, batch)
    "1x1": (16, 24, 1, 1, 0, 1, False, 4),
    "1x1-bias": (16, 24, 1, 1, 0, 1, True, 3),
    "1x1-strided": (16, 8, 1, 2, 0, 1, False, 2),
    "depthwise": (12, 12, 3, 1, 1, 12, False, 4),
    "grouped": (16, 8, 3, 1, 1, 4, True, 3),
    "strided-3x3": (8, 16, 3, 2, 1, 1, False, 2),
    "batch-1": (8, 16, 3, 1, 1, 1, True, 1),
    "same-padding": (8, 8, 3, 2, "same", 1, False, 2),
    "batch-1-depthwise": (8, 8, 3, 1, 1, 8, False, 1),
}


@pytest.mark.parametrize("name", CASES)
def test_dynamic_conv_fast_path_matches_timm(name):
    cin, cout, k, s, p, g, bias, b = CASES[name]
    torch.manual_seed(0)
    dc = DynamicConv(cin, cout, k, s, p, groups=g, bias=bias)
    x = torch.randn(b, cin, 13, 11, requires_grad=True)
    y_fast = dc(x)
    grads_fast = torch.autograd.grad(y_fast.square().sum(), [x, *dc.parameters()])
    y_ref = _reference(dc, x)
    grads_ref = torch.autograd.grad(y_ref.square().sum(), [x, *dc.parameters()])
    assert y_fast.shape == y_ref.shape
    assert torch.allclose(y_fast, y_ref, atol=1e-5, rtol=1e-5)
    for gf, gr in zip(grads_fast, grads_ref):
        assert torch.allclose(gf, gr, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("name", CASES)
def test_dynamic_conv_traced_path_is_batch_agnostic(name):
    """The traced graph (export) must give timm's result at a batch size other than the one traced."""
    cin, cout, k, s, p, g, bias, _ = CASES[name]
    torch.manual_seed(1)
    dc = DynamicConv(cin, cout, k, s, p, groups=g, bias=bias).eval()
    traced = torch.jit.trace(dc, torch.randn(1, cin, 13, 11))
    x = torch.randn(3, cin, 13, 11)
    with torch.no_grad():
        assert torch.allclose(traced(x), _reference(dc, x), atol=1e-5, rtol=1e-5)


GRADCHECK_CASES = {  # name: (in, out, kernel, stride, padding, dilation, groups, bias, batch)
    "1x1": (4, 6, 1, 1, 0, 1, 1, False, 3),
    "1x1-bias": (4, 6, 1, 1, 0, 1, 1, True, 2),
    "1x1-strided": (4, 6, 1, 2, 0, 1, 1, False, 2),
    "depthwise": (4, 4, 3, 1, 1, 1, 4, False, 3),
    "depthwise-dilated": (4, 4, 3, 1, 2, 2, 4, True, 2),
    "depthwise-strided": (4, 4, 3, 2, 1, 1, 4, False, 2),
    "grouped": (4, 6, 3, 1, 1, 1, 2, True, 2),
    "batch-1": (4, 6, 3, 1, 1, 1, 1, True, 1),
}


@pytest.mark.parametrize("name", GRADCHECK_CASES)
def test_dynamic_conv_fused_backward_gradcheck(name):
    """The hand-written backward of routing + mixing + convolution against numerical gradients, in float64."""
    cin, cout, k, s, p, d, g, bias, b = GRADCHECK_CASES[name]
    torch.manual_seed(0)
    dc = DynamicConv(cin, cout, k, s, p, d, groups=g, bias=bias, num_experts=2).double()
    x = torch.randn(b, cin, 6, 5, dtype=torch.float64, requires_grad=True)
    inputs = (x, dc.routing.weight, dc.routing.bias, dc.cond_conv.weight) + ((dc.cond_conv.bias,) if bias else ())

    def f(x, routing_weight, routing_bias, experts, expert_bias=None):
        return _RoutedConv.apply(x, routing_weight, routing_bias, experts, expert_bias, dc.cond_conv, None)

    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ["1x1", "depthwise", "grouped", "batch-1", "batch-1-depthwise"])
def test_dynamic_conv_channels_last_matches_timm(name):
    """Channels-last inputs take their own paths; values and gradients still equal timm's, layout is kept."""
    cin, cout, k, s, p, g, bias, b = CASES[name]
    torch.manual_seed(0)
    dc = DynamicConv(cin, cout, k, s, p, groups=g, bias=bias)
    x = torch.randn(b, cin, 13, 11).contiguous(memory_format=torch.channels_last).requires_grad_()
    y_fast = dc(x)
    grads_fast = torch.autograd.grad(y_fast.square().sum(), [x, *dc.parameters()])
    y_ref = _reference(dc, x)
    grads_ref = torch.autograd.grad(y_ref.square().sum(), [x, *dc.parameters()])
    assert torch.allclose(y_fast, y_ref, atol=1e-5, rtol=1e-5)
    for gf, gr in zip(grads_fast, grads_ref):
        assert torch.allclose(gf, gr, atol=1e-4, rtol=1e-4)
    if k == 1 or g == cin:
        assert y_fast.is_contiguous(memory_format=torch.channels_last)


def test_dynamic_conv_autocast_falls_back_to_autograd():
    """Under autocast (AMP) the layer runs on autograd's own backward and still trains."""
    torch.manual_seed(0)
    dc = DynamicConv(8, 8, 3, 1, 1, groups=8)
    x = torch.randn(2, 8, 9, 9, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = dc(x)
    y.float().square().sum().backward()
    assert y.dtype == torch.bfloat16 and x.grad is not None and dc.cond_conv.weight.grad is not None
    with torch.no_grad():
        assert torch.allclose(y.float(), _reference(dc, x), atol=0.1, rtol=0.05)


def test_dynamic_conv_state_dict_is_timm_layout():
    dc = DynamicConv(8, 16, 3, num_experts=4)
    assert set(dc.state_dict()) == {"routing.weight", "routing.bias", "cond_conv.weight"}
    assert dc.cond_conv.weight.shape == (4, 16 * 8 * 3 * 3)


def test_dynamic_conv_bn_folding_matches():
    torch.manual_seed(0)
    gm = GhostModule(8, 16)
    for bn in (gm.primary_conv[1], gm.cheap_operation[1]):
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        bn.weight.data.uniform_(0.5, 1.5)
        bn.bias.data.uniform_(-1, 1)
    gm.eval()
    x = torch.randn(3, 8, 10, 10)
    with torch.no_grad():
        before = gm(x)
        fuse_module(gm)
        after = gm(x)
    assert isinstance(gm.primary_conv[1], nn.Identity) and isinstance(gm.cheap_operation[1], nn.Identity)
    assert torch.allclose(before, after, atol=1e-5)


def test_dynamic_conv_shift_applies_on_every_path():
    dc = DynamicConv(4, 6, 1).eval()
    dc.shift = torch.arange(6.0)
    x = torch.randn(2, 4, 5, 5)
    with torch.no_grad():
        assert torch.allclose(dynamic_conv2d(x, dc.routing_weights(x), dc.cond_conv, dc.shift), _reference(dc, x),
                              atol=1e-5)


@pytest.mark.parametrize("block, args, out_c", [
    (Conv, (8, 16, 3, 2), 16), (C3, (8, 16, 2), 16), (SPP, (8, 16), 16), (SPPF, (8, 16), 16), (Focus, (3, 16), 16),
    (GhostConv, (8, 16), 16), (GhostBottleneck, (16, 16), 16), (C3Ghost, (8, 16, 1), 16),
    (GhostModule, (8, 12), 12), (GhostModule, (8, 7), 7), (C3_GhostModule, (8, 16, 2), 16),
    (DynamicConvBnAct, (8, 8, 3, 1, 1, nn.ReLU, True), 8), (DynamicGhostBottleneck, (8, 16, 3, 2, 0.25), 16),
    (DynamicGhostBottleneck, (8, 8), 8),
])
def test_block_shapes_and_fusion(block, args, out_c):
    torch.manual_seed(0)
    m = block(*args)
    x = torch.randn(2, args[0], 16, 16)
    m.train()
    m(x).sum().backward()  # trains
    m.eval()
    with torch.no_grad():
        y = m(x)
        assert y.shape[:2] == (2, out_c)
        fuse_module(m)
        assert not any(isinstance(s, nn.BatchNorm2d) for s in m.modules())
        assert torch.allclose(m(x), y, atol=1e-4, rtol=1e-4)


def test_ghost_module_attribute_names_match_seed_patch():
    gm = GhostModule(16, 16)
    assert isinstance(gm.primary_conv[0], DynamicConv) and isinstance(gm.primary_conv[1], nn.BatchNorm2d)
    assert isinstance(gm.cheap_operation[0], DynamicConv) and gm.cheap_operation[0].cond_conv.groups == 8
    c3 = C3_GhostModule(32, 32, n=2)
    assert [type(b) for b in c3.m] == [GhostModule, GhostModule] and c3.cv3.conv.in_channels == 32


def test_sppf_inference_pools_channels_last_with_the_same_numbers():
    torch.manual_seed(0)
    m = SPPF(64, 64).eval()
    x = torch.randn(2, 64, 12, 12)
    y_train_path = m(x).detach()  # gradients on: pools in x's NCHW layout
    with torch.no_grad():
        y = m(x)
        assert _pooling_layout(x).is_contiguous(memory_format=torch.channels_last)
    assert _pooling_layout(x) is x
    assert torch.equal(y, y_train_path) and y.is_contiguous()
