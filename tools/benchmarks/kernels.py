"""DynamicConv layers alone: every distinct layer shape of a Ghost model, fast path vs timm's forward.

    python -m tools.benchmarks.kernels --weights yolov5n-ghostdyn.yaml --imgsz 640 --threads 1
"""

from __future__ import annotations

from copy import deepcopy

import pandas as pd
import torch
import torch.nn as nn

from models.common import DynamicConv
from models.dynamic_kernels import reference_conv2d
from tools.benchmarks.cli import Settings, main
from tools.benchmarks.timing import measure
from tools.benchmarks.variants import is_dynamic
from utils.logger import LOGGER

TITLE = "DynamicConv layers alone, batch {train_batch} at {imgsz} (timm's CondConv2d forward vs fast path)"


def layer_shapes(model: nn.Module, imgsz: int, device: torch.device) -> list[tuple[DynamicConv, tuple, int]]:
    """Each distinct DynamicConv layer shape of a model at imgsz: (a layer, its input (C, H, W), layers sharing it)."""
    calls = []
    hooks = [m.register_forward_hook(lambda m, i, o: calls.append((m, tuple(i[0].shape[1:]))))
             for m in model.modules() if isinstance(m, DynamicConv)]
    with torch.no_grad():
        model(torch.zeros(1, 3, imgsz, imgsz, device=device))
    for h in hooks:
        h.remove()
    groups: dict[tuple, list] = {}
    for m, shape in calls:
        cc = m.cond_conv
        key = (cc.in_channels, cc.out_channels, cc.kernel_size, cc.stride, cc.groups, cc.bias is not None, shape)
        groups.setdefault(key, [m, shape, 0])[2] += 1
    return [tuple(v) for v in groups.values()]


def _label(m: DynamicConv, shape: tuple) -> str:
    cc = m.cond_conv
    k, s = cc.kernel_size[0], cc.stride[0]
    kind = "dw " if cc.groups == cc.in_channels > 1 else ""
    return f"{k}x{k} {kind}{cc.in_channels}->{cc.out_channels}{f' s{s}' if s > 1 else ''} @{shape[1]}x{shape[2]}"


def _row(layer: DynamicConv, shape: tuple, count: int, s: Settings) -> dict:
    """One layer shape: forward and forward+backward, timm vs fast; the largest difference of outputs, and of
    gradients relative to their largest value (they are sums over a whole batch of feature maps)."""
    layer = deepcopy(layer).train().requires_grad_(True)
    torch.manual_seed(0)
    x = torch.randn(s.train_batch, *shape, device=s.device)
    sides = {"timm": lambda xi: reference_conv2d(xi, layer.routing, layer.cond_conv, layer.shift), "fast": layer}
    with torch.no_grad():
        grad_out = torch.randn_like(layer(x))

    def forward(side: str) -> list[torch.Tensor]:
        with torch.no_grad():
            return [sides[side](x)]

    def forward_backward(side: str) -> list[torch.Tensor]:
        xi = x.detach().requires_grad_()
        layer.zero_grad(set_to_none=True)
        y = sides[side](xi)
        y.backward(grad_out)
        return [y.detach(), xi.grad] + [p.grad for p in layer.parameters()]

    ref, fast = forward_backward("timm"), forward_backward("fast")
    row = {"layer": _label(layer, shape), "n": count}
    for name, fn in (("fwd", forward), ("fwd+bwd", forward_backward)):
        t = measure({side: lambda side=side, fn=fn: fn(side) for side in sides}, s.runs, clock=s.clock)
        row.update({f"{name} timm ms": t["timm"] * 1e3, f"{name} fast ms": t["fast"] * 1e3,
                    f"{name} x": t["timm"] / t["fast"]})
    row["out max abs diff"] = (ref[0] - fast[0]).abs().max().item()
    row["grad max rel diff"] = max(((a - b).abs().max() / a.abs().max()).item() for a, b in zip(ref[1:], fast[1:]))
    return row


def table(s: Settings) -> pd.DataFrame | None:
    """Every distinct DynamicConv shape of the first dynamic model alone, at the training batch size on random
    inputs: forward, and forward+backward, of timm's forward vs the fast path; the largest difference of outputs and
    of gradients (relative to their largest value); a total row weighted by how many layers share each shape."""
    name = next((k for k, m in s.models.items() if is_dynamic(m)), None)
    if name is None:
        LOGGER.info("kernels: no model with DynamicConv layers among --weights, skipped")
        return None
    df = pd.DataFrame([_row(m, shape, n, s) for m, shape, n in layer_shapes(s.models[name], s.imgsz, s.device)])
    total = {"layer": f"total ({name}, all layers)", "n": int(df["n"].sum()),
             "out max abs diff": df["out max abs diff"].max(), "grad max rel diff": df["grad max rel diff"].max()}
    for p in ("fwd", "fwd+bwd"):
        total[f"{p} timm ms"] = (df[f"{p} timm ms"] * df["n"]).sum()
        total[f"{p} fast ms"] = (df[f"{p} fast ms"] * df["n"]).sum()
        total[f"{p} x"] = total[f"{p} timm ms"] / total[f"{p} fast ms"]
    return pd.concat([df, pd.DataFrame([total])], ignore_index=True)


if __name__ == "__main__":
    main(("kernels",))
