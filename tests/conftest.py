"""Shared fixtures: paths to ../shared (tests that need it skip with a reason when it is absent)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from utils.logger import LOGGER

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.getenv("YOLO_SHARED", ROOT.parent / "shared"))

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
# Experiment trackers installed here stay off in every training the tests run (and in their subprocesses): no network,
# no ./mlflow.db; tests/test_loggers.py switches each one on for itself.
for _k, _v in {"WANDB_MODE": "disabled", "COMET_MODE": "disabled", "YOLOv5_MLFLOW": "false"}.items():
    os.environ.setdefault(_k, _v)


def shared_path(rel: str) -> Path:
    """A file under ../shared, or skip the calling test with a clear reason."""
    p = SHARED / rel
    if not p.exists():
        pytest.skip(f"needs {p} (the project's shared data folder, ../shared from the repo root)")
    return p


def golden(name: str):
    """A YOLOv5 v7.0 reference file from ../shared/golden (see its README): the npz arrays or the json object."""
    p = shared_path(f"golden/{name}")
    if p.suffix == ".json":
        return json.loads(p.read_text())
    return dict(np.load(p, allow_pickle=False))


@pytest.fixture
def yolov5n_pt() -> Path:
    return shared_path("weights/yolov5n.pt")


@pytest.fixture
def seedpatch_pt() -> Path:
    return shared_path("weights/yolov5n-ghostdyn-seedpatch.pt")


@pytest.fixture
def coco128() -> Path:
    return shared_path("datasets/coco128")


@pytest.fixture
def bus_jpg() -> Path:
    return shared_path("images/bus.jpg")


@pytest.fixture
def zidane_jpg() -> Path:
    return shared_path("images/zidane.jpg")


@pytest.fixture
def log_lines():
    """Messages of the 'yolov5' logger during the test (it does not propagate to caplog)."""
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    LOGGER.addHandler(handler)
    yield lines
    LOGGER.removeHandler(handler)


@pytest.fixture(autouse=True)
def _restore_torch_globals():
    """train.py asks for deterministic algorithms, as YOLOv5 does; other tests should not inherit that."""
    yield
    torch.use_deterministic_algorithms(False)
