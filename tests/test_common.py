"""Blocks of models/common.py: shapes, the fast DynamicConv against timm's forward, and BatchNorm folding."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from models.common import (C3, SPP, SPPF, C3_GhostModule, C3Ghost, Conv, DynamicConv, DynamicConvBnAct,
                           DynamicGhostBottleneck, Focus, GhostBottleneck, GhostConv, GhostModule, dynamic_conv2d,
                           fuse_module)


def _reference(dc: DynamicConv, x: torch.Tensor) -> torch.Tensor:
    """timm's own CondConv2d forward, the definition the fast path must reproduce."""
    y = dc.cond_conv(x, dc.routing_weights(x))
    return y if dc.shift is None else y + dc.shift.view(1, -1, 1, 1)


CASES = {  # name: (in, out, kernel, stride, padding, groups, bias, batch)
    "1x1": (16, 24, 1, 1, 0, 1, False, 4),
    "1x1-bias": (16, 24, 1, 1, 0, 1, True, 3),
    "1x1-strided": (16, 8, 1, 2, 0, 1, False, 2),
    "depthwise": (12, 12, 3, 1, 1, 12, False, 4),
    "grouped": (16, 8, 3, 1, 1, 4, True, 3),
    "strided-3x3": (8, 16, 3, 2, 1, 1, False, 2),
    "batch-1": (8, 16, 3, 1, 1, 1, True, 1),
    "same-padding": (8, 8, 3, 2, "same", 1, False, 2),
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


def test_dynamic_conv_state_dict_is_timm_layout():
    dc = DynamicConv(8, 16, 3, num_experts=4)
    assert set(dc.state_dict()) == {"routing.weight", "routing.bias", "cond_conv.weight"}
    assert dc.cond_conv.weight.shape == (4, 16 * 8 * 3 * 3)


def test_dynamic_conv_bn_folding_matches():
    torch.manual_seed(0)
    seq = nn.Sequential(DynamicConv(8, 16, 3, 1, 1), nn.BatchNorm2d(16), nn.ReLU())
    seq[1].running_mean.uniform_(-1, 1)
    seq[1].running_var.uniform_(0.5, 2)
    seq[1].weight.data.uniform_(0.5, 1.5)
    seq[1].bias.data.uniform_(-1, 1)
    seq.eval()
    x = torch.randn(3, 8, 10, 10)
    with torch.no_grad():
        before = seq(x)
        fuse_module(seq)
        after = seq(x)
    assert isinstance(seq[1], nn.Identity)
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
