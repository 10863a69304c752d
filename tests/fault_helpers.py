"""Run train.py's CLI in a child process with probes, so a test can kill or interrupt it at a chosen moment.

Child side: `python -m tests.fault_helpers EVENTS FAULT -- <train.py arguments>` wraps a few Trainer methods,
ComputeLoss and os.replace to append what training is doing to the EVENTS file, injects the FAULT, then runs
train.py exactly as its `__main__` does. Nothing in the project knows about these probes.

Events, one per line: `batch E I` (about to train batch I of epoch E), `saving NAME E` (NAME's temporary file is
written and about to replace it), `epoch_end E RSS FDS CHILDREN`, `paused`.
FAULT: `none`; `batch:E:I` or `save:NAME:E` to stop (sleep) there, for a signal to arrive; `nan:E` for a loss
that is NaN from epoch E on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.data_helpers import copy_coco8

ROOT = Path(__file__).resolve().parents[1]


def coco8_yaml(folder: Path) -> Path:
    """A writeable copy of data/coco8 in folder and a data YAML pointing at it."""
    root = copy_coco8(folder)
    names = yaml.safe_load((ROOT / "data/coco8.yaml").read_text())["names"]
    f = folder / "coco8.yaml"
    f.write_text(yaml.safe_dump({"path": str(root), "train": "images/train", "val": "images/val", "names": names}))
    return f


def tiny_train_args(data: Path, project: Path, epochs: int, *extra: str) -> list[str]:
    """train.py arguments for a run of seconds per epoch: coco8 at 64 px, yolov5n from scratch, no plots."""
    return ["--data", str(data), "--cfg", "yolov5n.yaml", "--weights", "", "--img", "64", "--batch", "2",
            "--epochs", str(epochs), "--workers", "0", "--noplots", "--project", str(project), "--name", "exp",
            *extra]


class TrainProcess:
    """train.py running under the probes in its own process group (like a terminal job), output kept in files."""

    running: list[TrainProcess] = []  # for stop_all(): a paused run outlives a test that failed before its signal

    def __init__(self, folder: Path, args: list[str], fault: str = "none", tag: str = "run"):
        folder.mkdir(parents=True, exist_ok=True)
        self.events = folder / f"{tag}.events"
        self.stdout, self.stderr = folder / f"{tag}.out", folder / f"{tag}.err"
        self.events.write_text("")
        env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
        with open(self.stdout, "w") as out, open(self.stderr, "w") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "tests.fault_helpers", str(self.events), fault, "--",
                                          *args], cwd=ROOT, stdout=out, stderr=err, env=env, start_new_session=True)
        TrainProcess.running.append(self)

    def lines(self) -> list[list[str]]:
        return [x.split() for x in self.events.read_text().splitlines() if x.strip()]

    def wait_for(self, *prefix: str, timeout: float = 300) -> list[str]:
        """The first event starting with prefix; AssertionError with the output if the run ends or times out first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [e for e in self.lines() if e[:len(prefix)] == list(prefix)]
            if found:
                return found[0]
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no event {' '.join(prefix)} (exit code {self.proc.poll()}):\n{self.output()}")

    def signal(self, sig: int) -> None:
        """Send sig to the whole process group, as a terminal's Ctrl-C does (SIGKILL takes any loader workers too)."""
        os.killpg(self.proc.pid, sig)

    def wait(self, timeout: float = 300) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            raise AssertionError(f"train.py did not exit within {timeout}s:\n{self.output()}") from None

    @classmethod
    def stop_all(cls) -> None:
        """SIGKILL every run started here that is still going (paused runs sleep for an hour otherwise)."""
        for run in cls.running:
            if run.proc.poll() is None:
                run.signal(signal.SIGKILL)
                run.proc.wait()
        cls.running.clear()

    def output(self) -> str:
        return self.stdout.read_text()[-2000:] + "\n--- stderr ---\n" + self.stderr.read_text()[-4000:]


def _install_probes(events: Path, fault: str) -> None:
    """Wrap Trainer.train_step, Trainer.end_epoch, ComputeLoss and os.replace to log events and inject the fault."""
    import psutil

    from engine.trainer import Trainer
    from utils.training.loss import ComputeLoss

    proc = psutil.Process()
    state = {"epoch": -1}

    def log(*words) -> None:
        with open(events, "a") as f:
            f.write(" ".join(str(w) for w in words) + "\n")

    def maybe_pause(point: str) -> None:
        if point == fault:
            log("paused")
            time.sleep(3600)

    step, end_epoch, replace, loss = Trainer.train_step, Trainer.end_epoch, os.replace, ComputeLoss.__call__
    nan_from = int(fault.split(":")[1]) if fault.startswith("nan:") else None

    def probed_step(self, batch, ni, epoch, i):
        log("batch", epoch, i)
        maybe_pause(f"batch:{epoch}:{i}")
        state["training_epoch"] = epoch
        return step(self, batch, ni, epoch, i)

    def probed_loss(self, preds, targets):
        value, items = loss(self, preds, targets)
        if nan_from is not None and state.get("training_epoch", -1) >= nan_from:
            return value * float("nan"), items * float("nan")
        return value, items

    def probed_end_epoch(self, epoch, mloss, lr):
        state["epoch"] = epoch
        stop = end_epoch(self, epoch, mloss, lr)
        log("epoch_end", epoch, proc.memory_info().rss, proc.num_fds(), len(proc.children(recursive=True)))
        return stop

    def probed_replace(src, dst, *args, **kwargs):
        name = Path(dst).name
        if Path(src).name.startswith(f".{name}.") and name.endswith(".pt"):
            log("saving", name, state["epoch"])
            maybe_pause(f"save:{name}:{state['epoch']}")
        return replace(src, dst, *args, **kwargs)

    Trainer.train_step, Trainer.end_epoch = probed_step, probed_end_epoch
    ComputeLoss.__call__ = probed_loss
    os.replace = probed_replace


def main(argv: list[str]) -> None:
    events, fault, sep, *train_args = argv
    assert sep == "--", "usage: python -m tests.fault_helpers EVENTS FAULT -- <train.py arguments>"
    _install_probes(Path(events), fault)
    import train
    from utils.errors import exit_on_user_error

    exit_on_user_error(train.main)(train.parse_opt(args=train_args))


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)  # a background (&) launch inherits SIGINT ignored
    main(sys.argv[1:])
