"""results.csv: YOLOv5's columns, one row per epoch even when an epoch is redone; TensorBoard scalars."""

from __future__ import annotations

import subprocess
import sys

import pandas as pd
import pytest
import torch

from tests.conftest import ROOT
from utils.training.run_logger import RESULT_KEYS, RunLogger, progress_header, progress_row


class Recorder:
    """A SummaryWriter stand-in that remembers what it was given."""

    def __init__(self):
        self.scalars, self.closed = [], False

    def add_scalar(self, tag, value, step):
        self.scalars.append((tag, value, step))

    def close(self):
        self.closed = True


def _values(x: float) -> list[float]:
    return [x] * len(RESULT_KEYS)

def test_header_and_rows_match_yolov5(tmp_path):
    logger = RunLogger(tmp_path, plots=False, tensorboard=False)
    logger.log_epoch(0, _values(0.5))
    lines = (tmp_path / "results.csv").read_text().splitlines()
    assert lines[0].split(",")[0] == f"{'epoch':>20}"
    assert [c.strip() for c in lines[0].split(",")] == ["epoch", *RESULT_KEYS]
    assert lines[1].split(",")[1] == f"{0.5:20.5g}"


def test_each_epoch_is_kept_once(tmp_path):
    logger = RunLogger(tmp_path, plots=False, tensorboard=False)
    for e in range(3):
        logger.log_epoch(e, _values(e))
    logger.forget_from(1)  # a resume from epoch 1 redoes epochs 1 and 2
    logger.log_epoch(1, _values(10))
    logger.log_epoch(1, _values(11))  # logged twice (killed between csv write and checkpoint save)
    logger.log_epoch(2, _values(12))
    df = pd.read_csv(tmp_path / "results.csv", skipinitialspace=True)
    assert df["epoch"].tolist() == [0, 1, 2]
    assert df.iloc[:, 1].tolist() == [0, 11, 12]


def test_wrong_number_of_values_is_refused(tmp_path):
    with pytest.raises(ValueError, match="needs 13 values"):
        RunLogger(tmp_path, plots=False, tensorboard=False).log_epoch(0, [1.0])


def test_tensorboard_gets_every_scalar(tmp_path):
    writer = Recorder()
    logger = RunLogger(tmp_path, plots=False, writer=writer)
    logger.log_epoch(3, _values(0.25))
    logger.finish()
    assert [t for t, _, _ in writer.scalars] == list(RESULT_KEYS)
    assert {s for _, _, s in writer.scalars} == {3} and writer.closed


def test_progress_row_lines_up_with_header():
    row = progress_row(2, 10, torch.tensor([0.1, 0.2, 0.3]), 17, 640)
    assert len(row) == len(progress_header()) == 77
    assert row.split() == ["2/9", "0G", "0.1", "0.2", "0.3", "17", "640"]


def test_real_tensorboard_event_file(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = RunLogger(tmp_path, plots=False)
    logger.log_epoch(0, _values(0.5))
    logger.finish()
    events = EventAccumulator(str(next(tmp_path.glob("events.out.tfevents.*"))))
    events.Reload()
    assert set(events.Tags()["scalars"]) == set(RESULT_KEYS)


def test_tensorboard_writer_does_not_import_tensorflow(tmp_path):
    pytest.importorskip("tensorboard")
    code = ("import sys; from utils.training.run_logger import RunLogger; "
            f"RunLogger(sys.argv[1], plots=False).finish(); print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "False" and list(tmp_path.glob("events.out.tfevents.*"))
