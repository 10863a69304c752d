"""tools/benchmarks/traffic.py: bytes read and written per operator, views and allocations moving nothing."""

from __future__ import annotations

import torch
import torch.nn as nn

from tools.benchmarks.traffic import TrafficCounter, megabytes_moved


def test_reads_and_writes_of_each_operator_kind():
    x, z = torch.rand(1000), torch.empty(1000)
    with TrafficCounter() as counter:
        x.view(10, 100).t()[:5]  # views: nothing moves
        torch.empty(10_000)  # an allocation: nothing moves
        x.relu_()  # in place: read and written
        x * 2  # read x, write a new tensor
        torch.sigmoid(x, out=z)  # read x, write z (never read)
    assert dict(counter.bytes) == {"relu_": 8000, "mul": 8000, "sigmoid": 8000}


def test_a_convolution_moves_its_input_weights_and_output():
    conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
    mb, per_op = megabytes_moved(conv, torch.rand(1, 3, 16, 16))
    assert mb == per_op["convolution"] == (3 * 16 * 16 + 8 * 3 * 9 + 8 * 16 * 16) * 4 / 1e6
