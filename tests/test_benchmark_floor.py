"""tools/benchmarks/floor.py: the model with every C3 bottleneck stack free, a floor for any replacement of it."""

from __future__ import annotations

import pytest
import torch

from models.common import C3, Bottleneck
from models.yolo import DetectionModel
from tests.benchmark_helpers import section_table
from tools.benchmarks.floor import free_bottlenecks
from utils.errors import UserError


def test_only_the_bottleneck_stacks_go():
    torch.manual_seed(0)
    model = DetectionModel("yolov5n.yaml").eval()
    floor = free_bottlenecks(model)
    assert any(isinstance(m, Bottleneck) for m in model.modules())  # the original keeps its own
    assert not any(isinstance(m, Bottleneck) for m in floor.modules())
    stacks = tuple(f"model.{i}.m." for i, m in enumerate(model.model) if type(m) is C3)
    kept = {k: v for k, v in model.state_dict().items() if not k.startswith(stacks)}
    assert kept.keys() == floor.state_dict().keys()
    assert all(torch.equal(v, floor.state_dict()[k]) for k, v in kept.items())
    block, x = floor.model[2], torch.rand(1, 32, 16, 16)
    assert type(block) is C3
    torch.testing.assert_close(block(x), block.cv3(torch.cat((block.cv1(x), block.cv2(x)), 1)))


def test_cli_adds_the_floor_as_a_checkpoint_every_section_loads():
    t = section_table("headline", ["--quick", "--weights", "yolov5n.yaml", "yolov5n-ghostdyn.yaml",
                                       "--free-bottlenecks"]).set_index("model")
    assert list(t.index) == ["yolov5n", "yolov5n-ghostdyn", "yolov5n-free-bottlenecks"]
    floor, ghost = t.loc["yolov5n-free-bottlenecks"], t.loc["yolov5n-ghostdyn"]
    assert floor["parameters"] < ghost["parameters"] and floor["GFLOPs @64"] < ghost["GFLOPs @64"]


def test_a_first_model_without_c3_is_refused():
    with pytest.raises(UserError, match="no C3 block to free"):
        free_bottlenecks(DetectionModel("yolov5n-ghostdyn.yaml"))
