"""Faults during training: SIGKILL at seeded moments (one inside a checkpoint save) then --resume, Ctrl-C,
non-finite losses, and a long run's memory and file handles. Nothing written may be lost or left half-written."""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import random
import shutil
import signal
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
import torch
import yaml

import detect
import train as train_module
from engine.trainer import Trainer
import val
from tests.cli_helpers import one_line_error
from tests.detect_helpers import make_video, video_props
from tests.fault_helpers import TrainProcess, coco8_yaml, tiny_train_args
from models.checkpoints import load_checkpoint
from utils.errors import exit_on_user_error
from utils.files import yaml_save

SEED = 20261128  # picks the kill moments; any seed must pass
EPOCHS = 5
BATCHES = 2  # 4 coco8 training images in batches of 2


@pytest.fixture(autouse=True)
def _restore_torch_globals():
    """train.py asks for deterministic algorithms, as YOLOv5 does; other tests should not inherit that."""
    yield
    torch.use_deterministic_algorithms(False)


@pytest.fixture(autouse=True)
def _no_orphans():
    """A test that fails while its training run is paused still ends that run."""
    yield
    TrainProcess.stop_all()


def _epochs(run_dir: Path) -> list[int]:
    return pd.read_csv(run_dir / "results.csv", skipinitialspace=True)["epoch"].tolist()


def _finite(model: torch.nn.Module) -> bool:
    return all(torch.isfinite(p).all() for p in model.state_dict().values() if p.is_floating_point())


def _temporary_files(run_dir: Path) -> list[str]:
    return sorted(p.name for p in run_dir.rglob("*.tmp"))


def _survivor(run_dir: Path) -> int:
    """What a killed run left: every checkpoint loads with finite weights and results.csv lists each epoch once.

    Returns the epoch --resume starts from."""
    ckpt = load_checkpoint(run_dir / "weights" / "last.pt")
    assert ckpt["optimizer"] is not None and _finite(ckpt["model"]) and _finite(ckpt["ema"])
    best = load_checkpoint(run_dir / "weights" / "best.pt")
    assert 0 <= best["epoch"] <= ckpt["epoch"] and _finite(best["model"])
    epochs = _epochs(run_dir)
    assert epochs == list(range(len(epochs))) and len(epochs) in (ckpt["epoch"] + 1, ckpt["epoch"] + 2)
    return ckpt["epoch"] + 1


def test_sigkill_at_seeded_moments_then_resume_trains_every_epoch_once(tmp_path):
    rng = random.Random(SEED)
    data, runs, logs = coco8_yaml(tmp_path), tmp_path / "runs", tmp_path / "logs"
    run_dir, last = runs / "exp", runs / "exp" / "weights" / "last.pt"

    # 1: an unannounced moment, a random delay after a random batch of epoch 1 began
    run = TrainProcess(logs, tiny_train_args(data, runs, EPOCHS), tag="fresh")
    run.wait_for("batch", "1", str(rng.randrange(BATCHES)))
    time.sleep(rng.uniform(0.0, 0.2))
    run.signal(signal.SIGKILL)
    assert run.wait() == -signal.SIGKILL
    start = _survivor(run_dir)
    assert 1 <= start < EPOCHS - 1

    # 2: in the middle of a random batch of the first resumed epoch
    run = TrainProcess(logs, ["--resume", str(last)], fault=f"batch:{start}:{rng.randrange(BATCHES)}", tag="kill2")
    run.wait_for("paused")
    run.signal(signal.SIGKILL)
    run.wait()
    assert _survivor(run_dir) == start

    # 3: inside the save of last.pt, its temporary file written and not yet renamed
    run = TrainProcess(logs, ["--resume", str(last)], fault=f"save:last.pt:{start}", tag="kill3")
    run.wait_for("paused")
    run.signal(signal.SIGKILL)
    run.wait()
    assert any(n.startswith(".last.pt.") for n in _temporary_files(run_dir))  # the kill did land mid-save
    assert _survivor(run_dir) == start  # the previous last.pt is whole
    assert _epochs(run_dir)[-1] == start  # the epoch in flight was logged before its save; resume replaces it

    run = TrainProcess(logs, ["--resume", str(last)], tag="finish")
    assert run.wait() == 0, run.output()
    assert _epochs(run_dir) == list(range(EPOCHS))
    assert f"Resuming training from {last} from epoch {start} to {EPOCHS} total epochs" in run.stdout.read_text()
    final, best = load_checkpoint(last), load_checkpoint(run_dir / "weights" / "best.pt")
    assert final["epoch"] == -1 and _finite(final["model"]) and _finite(best["model"])
    assert _temporary_files(run_dir) == []  # the next save removed what the killed one left
    umask = os.umask(0)
    os.umask(umask)
    assert last.stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any torch.save file, not private 0600


@pytest.mark.parametrize("moment", ["batch:1:1", "save:last.pt:1"])
def test_ctrl_c_exits_promptly_and_leaves_only_whole_files(tmp_path, moment):
    data, runs = coco8_yaml(tmp_path), tmp_path / "runs"
    run = TrainProcess(tmp_path / "logs", tiny_train_args(data, runs, EPOCHS, "--workers", "2"), fault=moment)
    run.wait_for("paused")
    run.signal(signal.SIGINT)
    assert run.wait(timeout=60) != 0, run.output()  # stopped, loader workers included, and says it did not finish
    run_dir = runs / "exp"
    assert _temporary_files(run_dir) == []
    assert load_checkpoint(run_dir / "weights" / "last.pt")["epoch"] == 0
    assert _survivor(run_dir) == 1


def test_loss_turning_nan_stops_naming_epoch_and_batch_and_keeps_finite_checkpoints(tmp_path):
    data, runs = coco8_yaml(tmp_path), tmp_path / "runs"
    run = TrainProcess(tmp_path / "logs", tiny_train_args(data, runs, 3), fault="nan:1")
    assert run.wait() == 2, run.output()
    err = run.stderr.read_text()  # progress bars, then the one error line
    assert err.splitlines()[-1].startswith("ERROR: training diverged: non-finite loss/gradients at epoch 1, batch 0")
    assert "Traceback" not in err and err.count("ERROR") == 1
    run_dir = runs / "exp"
    assert _epochs(run_dir) == [0]
    for name in ("last.pt", "best.pt"):
        ckpt = load_checkpoint(run_dir / "weights" / name)
        assert ckpt["epoch"] == 0 and _finite(ckpt["model"]) and _finite(ckpt["ema"]), name


def test_amp_skips_the_step_of_a_non_finite_loss():
    """With AMP the GradScaler skips an inf/NaN step and training goes on, counting the skipped steps."""
    trainer = Trainer.__new__(Trainer)
    model = torch.nn.Linear(3, 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer.model, trainer.amp, trainer.ema, trainer.skipped_steps = model, True, None, 0
    trainer.optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer.scaler = torch.amp.GradScaler("cpu", enabled=True)
    trainer.scaler.scale((model(torch.ones(2, 3)) * float("inf")).sum()).backward()
    trainer.optimizer_step(epoch=4, i=7)
    assert trainer.skipped_steps == 1
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    trainer.scaler.scale(model(torch.ones(2, 3)).sum()).backward()
    trainer.optimizer_step(epoch=4, i=8)
    assert trainer.skipped_steps == 1 and not torch.equal(before["weight"], model.weight)


def test_long_run_memory_and_file_handles_stay_flat(tmp_path):
    """RSS after the 8th epoch within 10% of after the 2nd; no file handles or loader workers pile up."""
    data, runs = coco8_yaml(tmp_path), tmp_path / "runs"
    run = TrainProcess(tmp_path / "logs", tiny_train_args(data, runs, 8, "--workers", "2"), tag="long")
    assert run.wait() == 0, run.output()
    ends = {int(e[1]): [int(x) for x in e[2:]] for e in run.lines() if e[0] == "epoch_end"}
    assert sorted(ends) == list(range(8))
    (rss2, fds2, kids2), (rss8, fds8, kids8) = ends[1], ends[7]
    assert rss8 <= 1.10 * rss2, f"RSS grew from {rss2 / 2**20:.0f} MiB to {rss8 / 2**20:.0f} MiB"
    assert fds8 <= fds2 and kids8 <= kids2, ends


def _open_files() -> set[str]:
    """What this process's file descriptors point at."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            found.add(os.readlink(f"/proc/self/fd/{fd}"))
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to list open files")
def test_video_and_loader_handles_are_closed(yolov5n_pt, tmp_path):
    """After detect.py read a video and wrote one, and val.py ran loader workers, no file and no worker is left."""
    video = make_video(tmp_path / "clip.mp4", n=5)
    data = coco8_yaml(tmp_path)
    before, workers_before = _open_files(), set(psutil.Process().children(recursive=True))
    save_dir = detect.run(weights=yolov5n_pt, source=video, imgsz=(64, 64), project=tmp_path, name="video")
    val.run(data=str(data), weights=str(yolov5n_pt), imgsz=64, batch_size=2, workers=2, project=str(tmp_path),
            plots=False)
    gc.collect()
    assert video_props(save_dir / "clip.mp4")[0] == 5  # the written video is complete, so it was closed
    assert {f for f in _open_files() - before if str(tmp_path) in f} == set()
    assert set(psutil.Process().children(recursive=True)) - workers_before == set()


def test_truncated_last_pt_on_resume_is_one_clear_line(tmp_path, capsys):
    """A last.pt cut short (say, by a full disk) is named in one line, no traceback, and left as it was."""
    run_dir = tmp_path / "exp"
    (run_dir / "weights").mkdir(parents=True)
    opts = vars(train_module.parse_opt(args=tiny_train_args(coco8_yaml(tmp_path), tmp_path, 2)))
    yaml_save(run_dir / "opt.yaml", {**opts, "save_dir": str(run_dir)})
    last = run_dir / "weights" / "last.pt"
    cut = b"PK\x03\x04" + bytes(100)  # the start of a zip, then nothing
    last.write_bytes(cut)
    with pytest.raises(SystemExit) as e:
        exit_on_user_error(train_module.main)(argparse.Namespace(**{**opts, "resume": str(last)}))
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and str(last) in err and "Traceback" not in err
    assert last.read_bytes() == cut


def test_resuming_a_copied_run_writes_into_the_copy_and_a_busy_folder_is_refused(tmp_path, capsys):
    """The run folder comes from where last.pt is, not from opt.yaml; a folder in use is refused in one line; the
    temporary files a killed run left are removed when the next run takes the folder."""
    data, runs, logs = coco8_yaml(tmp_path), tmp_path / "runs", tmp_path / "logs"
    run = TrainProcess(logs, tiny_train_args(data, runs, 2), fault="batch:1:0", tag="original")
    run.wait_for("paused")
    run.signal(signal.SIGKILL)
    run.wait()
    original, copy = runs / "exp", runs / "copy"
    shutil.copytree(original, copy)
    before = {p.relative_to(original): p.read_bytes() for p in original.rglob("*") if p.is_file()}
    leftovers = [copy / "weights" / ".last.pt.999999999.dead.tmp", copy / ".results.csv.tmp"]
    for f in leftovers:
        f.write_bytes(b"")  # what a run killed inside a save leaves

    resumed = TrainProcess(logs, ["--resume", str(copy / "weights" / "last.pt")], fault="batch:1:1", tag="copy")
    resumed.wait_for("paused")
    assert not any(f.exists() for f in leftovers)  # removed at start, before the first save
    for args in (["--resume", str(copy / "weights" / "last.pt")],
                 tiny_train_args(data, runs, 2)[:-2] + ["--name", "copy", "--exist-ok"]):
        err = one_line_error("train", args, capsys)
        assert f"{copy} is in use by another run (pid {resumed.proc.pid}" in err, err
    resumed.signal(signal.SIGKILL)
    resumed.wait()
    # the resumed run had rewritten its opt.yaml and hyp.yaml by then: in the copy, and nothing in the original
    assert {p.relative_to(original): p.read_bytes() for p in original.rglob("*") if p.is_file()} == before
    assert yaml.safe_load((copy / "opt.yaml").read_text())["save_dir"] == str(copy)
