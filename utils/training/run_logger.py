"""What a training run records: results.csv, TensorBoard scalars, the console progress rows and the run's plots."""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import torch

from utils.logger import LOGGER, colorstr

RESULT_KEYS = (
    "train/box_loss", "train/obj_loss", "train/cls_loss",
    "metrics/precision", "metrics/recall", "metrics/mAP_0.5", "metrics/mAP_0.5:0.95",
    "val/box_loss", "val/obj_loss", "val/cls_loss",
    "x/lr0", "x/lr1", "x/lr2",
)
PROGRESS_COLUMNS = ("Epoch", "GPU_mem", "box_loss", "obj_loss", "cls_loss", "Instances", "Size")
TRAIN_PLOT_BATCHES = 3
TQDM_BAR_FORMAT = "{l_bar}{bar:10}{r_bar}"  # a short bar, leaving room for the loss columns


def progress_header(columns: tuple[str, ...] = PROGRESS_COLUMNS) -> str:
    """The column titles printed above each epoch's progress bar."""
    return ("%11s" * len(columns)) % columns


def progress_row(epoch: int, epochs: int, mean_loss: torch.Tensor, instances: int, size: int) -> str:
    """One progress-bar description: epoch/total, CUDA memory, running mean losses, targets and image size."""
    mem = f"{torch.cuda.memory_reserved() / 1e9 if torch.cuda.is_available() else 0:.3g}G"
    values = (*mean_loss.tolist(), instances, size)
    return ("%11s" * 2 + "%11.4g" * len(values)) % (f"{epoch}/{epochs - 1}", mem, *values)


def csv_line(values: list[float | str], fmt: str) -> str:
    """A results.csv / evolve.csv line: YOLOv5 pads every field (to 20 characters; its seg and cls runs to 23)."""
    return ",".join(fmt % v for v in values) + "\n"


def read_csv_rows(file: Path) -> tuple[str, list[str]]:
    """(header line, data lines) of a results-style CSV; ('', []) when it does not exist."""
    if not file.exists():
        return "", []
    lines = file.read_text().splitlines(keepends=True)
    return (lines[0], lines[1:]) if lines else ("", [])


def write_atomic(file: Path, text: str) -> None:
    """Replace a file in one step, so a kill mid-write leaves the old or the new content, never half of it."""
    tmp = file.with_name(f".{file.name}.tmp")
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, file)


def _tensorboard_without_tensorflow() -> None:
    """Let TensorBoard use its bundled TensorFlow stub: importing TensorFlow (when installed for exports) costs every
    training run 10-30 s at start. TensorBoard's own switch is an importable `tensorboard.compat.notf` module."""
    if "tensorflow" not in sys.modules:
        sys.modules.setdefault("tensorboard.compat.notf", types.ModuleType("tensorboard.compat.notf"))


def _tensorboard_writer(save_dir: Path):
    """A SummaryWriter for the run folder when tensorboard is installed, else None."""
    _tensorboard_without_tensorflow()
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        LOGGER.info(f"{colorstr('TensorBoard: ')}not installed, scalars are in results.csv only "
                    f"(pip install tensorboard to log them)")
        return None
    LOGGER.info(f"{colorstr('TensorBoard: ')}Start with 'tensorboard --logdir {save_dir.parent}', "
                f"view at http://localhost:6006/")
    return SummaryWriter(str(save_dir))


class RunLogger:
    """Writes a run folder's results.csv (one row per epoch, exactly once) and scalars, and draws results.png; a
    training plug-in (its on_* methods are callbacks) for every task, whose columns it is given."""

    def __init__(self, save_dir: Path, plots: bool = True, writer=None, tensorboard: bool = True,
                 keys: tuple[str, ...] = RESULT_KEYS, width: int = 20):
        self.save_dir = Path(save_dir)
        self.csv = self.save_dir / "results.csv"
        self.plots = plots
        self.keys = tuple(keys)
        self.width = width
        self.tb = writer if writer is not None else (_tensorboard_writer(self.save_dir) if tensorboard else None)

    def on_train_start(self, trainer) -> None:
        self.forget_from(trainer.start_epoch)

    def on_fit_epoch_end(self, trainer) -> None:
        self.log_epoch(trainer.epoch, [trainer.metrics[k] for k in self.keys])

    def on_train_end(self, trainer) -> None:
        self.finish()

    def forget_from(self, epoch: int) -> None:
        """Drop rows of this epoch and later (a resumed run redoes them)."""
        header, rows = read_csv_rows(self.csv)
        kept = [r for r in rows if _row_epoch(r) < epoch]
        if header and len(kept) != len(rows):
            write_atomic(self.csv, header + "".join(kept))

    def log_epoch(self, epoch: int, values: list[float]) -> None:
        """Add epoch's row to results.csv (replacing any earlier row of that epoch) and to TensorBoard."""
        if len(values) != len(self.keys):
            raise ValueError(f"log_epoch needs {len(self.keys)} values ({', '.join(self.keys)}), got {len(values)}")
        header, rows = read_csv_rows(self.csv)
        header = header or csv_line(["epoch", *self.keys], f"%{self.width}s")
        rows = [r for r in rows if _row_epoch(r) < epoch]
        write_atomic(self.csv, header + "".join(rows) + csv_line([epoch, *values], f"%{self.width}.5g"))
        if self.tb:
            for k, v in zip(self.keys, values):
                self.tb.add_scalar(k, v, epoch)

    def finish(self) -> None:
        """results.png from results.csv, then the closing 'Results saved to' line."""
        if self.plots and self.csv.exists():
            from utils.evaluation.plots import plot_results

            plot_results(file=self.csv)
        if self.tb:
            self.tb.close()
        LOGGER.info(f"Results saved to {colorstr('bold', self.save_dir)}")


def _row_epoch(row: str) -> float:
    """The epoch number at the start of a results.csv row (inf for an unreadable row, so it gets dropped)."""
    try:
        return float(row.split(",", 1)[0])
    except ValueError:
        return float("inf")
