"""tools/distill_blocks.py: the student scored with its teacher's blocks put back, one at a time and together."""

from __future__ import annotations

from copy import deepcopy
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import yaml

from models.checkpoints import save_checkpoint
from models.loading import attempt_load
from models.yolo import Model
from tests.data_helpers import copy_coco8
from tools.distill_blocks import main, parse_opt, swaps, with_teacher_layers
from utils.files import ROOT
from utils.torch_utils import intersect_dicts

GHOST_BLOCKS = [2, 4, 6, 8, 13, 17, 20, 23]


def _student_of(teacher: nn.Module) -> nn.Module:
    """A Ghost model holding every tensor of the teacher that fits: only its GhostModules differ."""
    torch.manual_seed(1)
    student = Model("yolov5n-ghostdyn.yaml", nc=teacher.model[-1].nc)
    student.load_state_dict(intersect_dicts(teacher.state_dict(), student.state_dict()), strict=False)
    return student.eval()


def _save(model: nn.Module, path: Path) -> str:
    m = deepcopy(model).half()
    m.names = {i: str(i) for i in range(m.model[-1].nc)}
    save_checkpoint({"epoch": -1, "model": m, "optimizer": None}, path)
    return str(path)


def _coco8_yaml(tmp_path: Path) -> str:
    """A data YAML for a writable copy of the in-repo coco8 (its 4 val images score the swaps)."""
    names = yaml.safe_load((ROOT / "data/coco8.yaml").read_text())["names"]
    f = tmp_path / "coco8.yaml"
    f.write_text(yaml.safe_dump({"path": str(copy_coco8(tmp_path)), "train": "images/train", "val": "images/val",
                                 "names": names}))
    return str(f)


def test_putting_back_every_block_gives_the_teacher_and_leaves_the_student_alone():
    torch.manual_seed(0)
    teacher = Model("yolov5n.yaml").eval()
    student = _student_of(teacher)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        raw = lambda m: m(x)[1][0]  # noqa: E731 - the first level's raw Detect maps
        before = raw(student)
        hybrid = with_teacher_layers(student, teacher, GHOST_BLOCKS)
        assert torch.equal(raw(hybrid), raw(teacher))
        assert torch.equal(raw(student), before)
    assert [type(hybrid.model[i]).__name__ for i in GHOST_BLOCKS] == ["C3"] * 8
    assert [type(student.model[i]).__name__ for i in GHOST_BLOCKS] == ["C3_GhostModule"] * 8


def test_swaps_are_each_block_then_backbone_head_and_all():
    groups = swaps(Model("yolov5n-ghostdyn.yaml"), GHOST_BLOCKS)
    assert list(groups) == ["none (the student)", *(f"layer {i}" for i in GHOST_BLOCKS), "backbone blocks",
                            "head blocks", "all blocks"]
    assert groups["backbone blocks"] == [2, 4, 6, 8] and groups["head blocks"] == [13, 17, 20, 23]


def test_a_student_made_like_its_teacher_is_refused(tmp_path, capsys):
    teacher = _save(Model("yolov5n.yaml").eval(), tmp_path / "t.pt")
    with pytest.raises(SystemExit) as e:
        main(parse_opt(["--student", teacher, "--teacher", teacher, "--data", _coco8_yaml(tmp_path), "--img", "64",
                        "--workers", "0"]))
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err == "ERROR: the student has no block unlike the teacher's: its mAP cannot be traced to blocks"


def test_cli_scores_the_student_and_every_swap_on_real_weights(tmp_path, yolov5n_pt):
    import val

    teacher = attempt_load(yolov5n_pt, "cpu", fuse=False).float().eval()
    student = _save(_student_of(teacher), tmp_path / "student.pt")
    f = _coco8_yaml(tmp_path)
    scores = main(parse_opt(["--student", student, "--teacher", str(yolov5n_pt), "--data", f, "--img", "320",
                             "--workers", "0"]))
    assert len(scores) == 12
    own = val.run(f, yolov5n_pt, imgsz=320, workers=0, plots=False, project=tmp_path / "val")[0][2:4]
    assert scores["all blocks"] == pytest.approx(own, abs=1e-6) and own[1] > 0.2  # yolov5n.pt itself
    assert scores["none (the student)"][1] < 0.5 * own[1]  # random GhostModules lose most of it
