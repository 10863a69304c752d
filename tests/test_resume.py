"""--resume helpers: finding the latest run, restoring its options, refusing finished checkpoints."""

from __future__ import annotations

import os
import time

import pytest
import torch

from utils.errors import UserError
from utils.files import yaml_save
from engine.resume import get_latest_run, restore_state, resume_options


def _touch(path, mtime: float):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    os.utime(path, (mtime, mtime))


def test_latest_run_is_the_newest_last_pt(tmp_path):
    assert get_latest_run(tmp_path) == ""
    _touch(tmp_path / "train/exp/weights/last.pt", time.time() - 100)
    time.sleep(0.01)
    _touch(tmp_path / "train/exp2/weights/last.pt", time.time())
    assert get_latest_run(tmp_path).endswith("exp2/weights/last.pt")


def test_resume_options_come_from_the_run_folder(tmp_path):
    last = tmp_path / "exp/weights/last.pt"
    _touch(last, time.time())
    yaml_save(tmp_path / "exp/opt.yaml", {"epochs": 7, "cfg": "x.yaml", "weights": "yolov5s.pt", "resume": False})
    opt = resume_options(str(last), tmp_path, defaults={"epochs": 100, "cos_lr": False})
    assert opt.epochs == 7 and opt.cfg == "" and opt.weights == str(last) and opt.resume is True
    assert opt.cos_lr is False  # an option the old run did not record gets its default
    assert resume_options(True, tmp_path).weights == str(last)


def test_resume_without_runs_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="found no last.pt"):
        resume_options(True, tmp_path)


def test_finished_checkpoint_cannot_be_resumed():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    with pytest.raises(UserError, match="nothing to resume"):
        restore_state({"epoch": -1, "optimizer": None}, opt, None, "best.pt", 10)


def test_state_is_restored():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    saved = torch.optim.SGD([p], lr=0.5, momentum=0.9).state_dict()
    best, start = restore_state({"epoch": 3, "optimizer": saved, "best_fitness": 0.25}, opt, None, "last.pt", 10)
    assert (best, start) == (0.25, 4)
    assert opt.param_groups[0]["lr"] == 0.5


def test_the_run_folder_is_where_the_checkpoint_is_not_where_opt_yaml_says(tmp_path):
    copy = tmp_path / "copy"
    _touch(copy / "weights" / "last.pt", time.time())
    yaml_save(copy / "opt.yaml", {"epochs": 3, "save_dir": str(tmp_path / "original")})
    opt = resume_options(str(copy / "weights" / "last.pt"), tmp_path)
    assert opt.save_dir == str(copy)


def test_a_checkpoint_outside_a_run_folder_is_refused(tmp_path):
    _touch(tmp_path / "last.pt", time.time())
    with pytest.raises(UserError, match="lives in its run folder as RUN/weights/last.pt"):
        resume_options(str(tmp_path / "last.pt"), tmp_path)
