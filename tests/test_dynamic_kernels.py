"""models/dynamic_kernels.py and the Ghost blocks' forward: every fast path equals timm's arithmetic (within 1e-4)."""

from __future__ import annotations

import threading

import onnx
import onnxruntime as ort
import pytest
import torch
import torch.nn as nn

from models.common import C3, C3_GhostModule, DynamicConv, GhostModule
from models.dynamic_kernels import (_FIXED_BATCH, _STATIC_WEIGHTS, fixed_batch_export, reference_conv2d,
                                    static_weight_export)

LAYERS = {  # (c1, c2, kernel, stride, padding, groups, bias)
    "dw3x3": (8, 8, 3, 1, 1, 8, False),
    "dw3x3 s2 bias": (8, 8, 3, 2, 1, 8, True),
    "1x1": (8, 8, 1, 1, 0, 1, False),
    "3x3 dense": (4, 6, 3, 1, 1, 1, True),
}


def dynamic_conv(name: str, fused_shift: bool = True) -> DynamicConv:
    torch.manual_seed(0)
    c1, c2, k, s, p, g, bias = LAYERS[name]
    m = DynamicConv(c1, c2, k, s, p, groups=g, bias=bias).eval()
    if fused_shift:
        bn = nn.BatchNorm2d(c2).eval()
        bn.running_mean.uniform_(-1, 1)
        bn.running_var.uniform_(0.5, 2)
        m.fuse_bn(bn)
    return m


def reference(m: DynamicConv, x: torch.Tensor) -> torch.Tensor:
    return reference_conv2d(x, m.routing, m.cond_conv, m.shift)


@pytest.mark.parametrize("name", LAYERS)
def test_fixed_batch_trace_equals_reference(name):
    """A static-shape export's grouped convolution with runtime weights gives timm's outputs at its batch size."""
    m = dynamic_conv(name)
    x = torch.randn(3, LAYERS[name][0], 12, 12)
    with torch.no_grad(), fixed_batch_export():
        traced = torch.jit.trace(m, x)
    assert ("aten::_convolution" in str(traced.graph)) == (name != "1x1")  # 1x1 kernels stay batched matmuls
    assert torch.allclose(traced(x), reference(m, x), atol=1e-4)


@pytest.mark.parametrize("name", LAYERS)
def test_batch_agnostic_trace_still_runs_any_batch(name):
    m = dynamic_conv(name)
    with torch.no_grad():
        traced = torch.jit.trace(m, torch.randn(1, LAYERS[name][0], 12, 12))
    x = torch.randn(4, LAYERS[name][0], 10, 10)
    assert torch.allclose(traced(x), reference(m, x), atol=1e-4)


def test_fixed_batch_export_is_scoped():
    """Only traces inside the block bake in the batch size; the flag is off again afterwards, even after an error."""
    m = dynamic_conv("dw3x3")
    with pytest.raises(RuntimeError), fixed_batch_export():
        raise RuntimeError
    with torch.no_grad():
        traced = torch.jit.trace(m, torch.randn(2, 8, 8, 8))
    x = torch.randn(5, 8, 8, 8)
    assert torch.allclose(traced(x), reference(m, x), atol=1e-4)


@pytest.mark.parametrize("mode, var", [(fixed_batch_export, _FIXED_BATCH), (static_weight_export, _STATIC_WEIGHTS)])
def test_export_modes_nest_and_restore(mode, var):
    """Each context restores the value it found, so an inner block (on or off) never ends an outer one."""
    assert var.get() is False
    with mode():
        with mode(False):
            assert var.get() is False
        assert var.get() is True
        with mode():
            assert var.get() is True
        assert var.get() is True
    assert var.get() is False


@pytest.mark.parametrize("mode, var", [(fixed_batch_export, _FIXED_BATCH), (static_weight_export, _STATIC_WEIGHTS)])
def test_export_modes_are_per_thread(mode, var):
    """An export in one thread does not change how another thread traces."""
    inside, seen = threading.Event(), []
    done = threading.Event()

    def other_thread():
        inside.wait(5)
        seen.append(var.get())
        done.set()

    t = threading.Thread(target=other_thread)
    t.start()
    with mode():
        inside.set()
        done.wait(5)
        assert var.get() is True
    t.join(5)
    assert seen == [False]


def _onnx_session(m: nn.Module, x: torch.Tensor, path, dynamic: bool) -> ort.InferenceSession:
    axes = {"x": {0: "batch"}, "y": {0: "batch"}} if dynamic else None
    with torch.no_grad(), fixed_batch_export(not dynamic):
        torch.onnx.export(m, (x,), str(path), input_names=["x"], output_names=["y"], dynamic_axes=axes,
                          opset_version=17, dynamo=False)
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("dynamic", [False, True])
def test_onnx_runtime_equals_reference(tmp_path, dynamic):
    """Static (grouped, fixed batch) and --dynamic (stacked experts, batch-agnostic) ONNX graphs give timm's outputs in
    ONNX Runtime; each depth-wise layer is one convolution in both."""
    m = nn.Sequential(dynamic_conv("1x1"), nn.ReLU(), dynamic_conv("dw3x3"), dynamic_conv("dw3x3 s2 bias")).eval()
    x = torch.randn(2, 8, 16, 16)
    session = _onnx_session(m, x, tmp_path / "m.onnx", dynamic)
    assert [n.op_type for n in onnx.load(str(tmp_path / "m.onnx")).graph.node].count("Conv") == 2
    for xi in ([x, torch.randn(3, 8, 16, 16)] if dynamic else [x]):
        with torch.no_grad():
            y0 = reference(m[3], reference(m[2], torch.relu(reference(m[0], xi))))
        y = torch.from_numpy(session.run(None, {"x": xi.numpy()})[0])
        assert torch.allclose(y, y0, atol=1e-4), (y - y0).abs().max()


def _outputs_and_grads(m: nn.Module, forward, x: torch.Tensor) -> list[torch.Tensor]:
    m.zero_grad(set_to_none=True)
    x = x.detach().requires_grad_()
    y = forward(x)
    y.backward(torch.linspace(-1, 1, y.numel()).view_as(y))
    return [y.detach(), x.grad] + [p.grad for p in m.parameters()]


def _assert_all_close(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    for u, v in zip(a, b):
        assert torch.allclose(u, v, atol=1e-4), (u - v).abs().max()


@pytest.mark.parametrize("c2", [8, 7])
def test_ghost_module_equals_concat_then_slice(c2):
    """GhostModule's one concatenation equals the seed patch's cat-then-slice, outputs and gradients (odd c2 too)."""
    torch.manual_seed(0)
    m = GhostModule(6, c2).train()
    x = torch.randn(2, 6, 10, 10)

    def seed_forward(xi):
        x1 = m.primary_conv(xi)
        return torch.cat([x1, m.cheap_operation(x1)], dim=1)[:, :m.oup]

    _assert_all_close(_outputs_and_grads(m, m, x), _outputs_and_grads(m, seed_forward, x))


@pytest.mark.parametrize("n", [1, 2])
def test_c3_ghost_module_equals_c3_forward(n):
    """The single concatenation of C3_GhostModule gives C3's forward, outputs and gradients."""
    torch.manual_seed(0)
    m = C3_GhostModule(8, 16, n).train()
    x = torch.randn(2, 8, 12, 12)
    _assert_all_close(_outputs_and_grads(m, m, x), _outputs_and_grads(m, lambda xi: C3.forward(m, xi), x))
