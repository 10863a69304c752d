"""What every experiment tracker shares: guarded hooks (a failing tracker warns once and switches itself off, training
goes on), YOLOv5's project naming, and the run's files a tracker uploads (images, checkpoints, dataset files)."""

from __future__ import annotations

import contextlib
import functools
import os
from pathlib import Path
from typing import Callable, Iterator

from utils.logger import LOGGER, colorstr
from utils.torch_utils import preserved_rng

TRACKER_HOOKS = ("on_pretrain_routine_end", "on_fit_epoch_end", "on_model_save", "on_train_end", "teardown")
DEFAULT_PROJECTS = ("runs/train", "runs/train-seg", "runs/train-cls")
RESULT_IMAGES = ("*.png", "*.jpg")  # results.png, confusion_matrix.png, *_curve.png, labels*.jpg, *_batch*.jpg
PREDICTION_IMAGES = "val_batch*_pred.jpg"


def env_flag(name: str, default: bool) -> bool:
    """A true/false environment switch (1/0, true/false, yes/no, on/off); default when unset."""
    value = os.getenv(name)
    return default if value is None or value == "" else value.strip().lower() in {"1", "true", "yes", "on"}


def project_name(opt, default: str) -> str:
    """YOLOv5's naming: the tool's default project for the default --project, else the folder name of --project."""
    project = Path(str(opt.project)).as_posix()
    return default if project.endswith(DEFAULT_PROJECTS) else Path(project).name


def run_images(save_dir: Path) -> list[Path]:
    """The images a finished run left in its folder (plots, label statistics, train/val batches)."""
    return sorted(f for pattern in RESULT_IMAGES for f in Path(save_dir).glob(pattern))


def checkpoints(trainer) -> list[Path]:
    """best.pt and last.pt of the run, those that exist."""
    return [f for f in (trainer.best, trainer.last) if Path(f).exists()]


def flat_options(opt, hyp: dict | None = None) -> dict:
    """--options and hyperparameters as one flat dict of plain values (paths as text), for a tracker's config."""
    params = {k: str(v) if isinstance(v, Path) else v for k, v in vars(opt).items() if k != "hyp"}
    return {**params, **(hyp or {})}


def dataset_files(data: dict, splits: tuple[str, ...]) -> Iterator[tuple[Path, str]]:
    """(file, name in the upload) for each image and label file of the named splits of a data dict."""
    from utils.data.image_files import img2label_paths, list_image_files

    for split in splits:
        if not data.get(split):
            continue
        images = list_image_files(data[split], prefix=f"{split}: ")
        for f in [*images, *img2label_paths(images)]:
            f = Path(f)
            if f.exists():
                yield f, f"{split}/{f.parent.name}/{f.name}"


def upload_splits(upload_dataset) -> tuple[str, ...]:
    """--upload_dataset: both splits; --upload_dataset val: the validation split only; off: none."""
    if not upload_dataset:
        return ()
    return ("val",) if str(upload_dataset) == "val" else ("train", "val")


class FreshFiles:
    """Remembers which files were already uploaded (by modification time), so each new version goes up once."""

    def __init__(self):
        self.seen: dict[Path, int] = {}

    def __call__(self, files: list[Path]) -> list[Path]:
        fresh = [f for f in files if self.seen.get(f) != f.stat().st_mtime_ns]
        self.seen.update({f: f.stat().st_mtime_ns for f in fresh})
        return fresh


def _guarded(hook: Callable) -> Callable:
    @functools.wraps(hook)
    def call(self, trainer) -> None:
        if not self.active:
            return
        try:
            with preserved_rng():  # a tracker leaves the run's augmentations and shuffles as they would be without it
                hook(self, trainer)
        except Exception as e:  # a tracker never ends a training: no network, bad key, server gone, broken install
            self.active = False
            LOGGER.warning(f"{colorstr(self.title + ': ')}WARNING ⚠️ {hook.__name__} failed ({type(e).__name__}: "
                           f"{str(e).strip().splitlines()[0] if str(e).strip() else 'no message'}); "
                           f"{self.title} logging is off for the rest of this run, training goes on")
            with contextlib.suppress(Exception):
                self.close()

    return call


class ExperimentTracker:
    """Base of the tracker plug-ins: subclasses define some of TRACKER_HOOKS and `close`; each hook is guarded."""

    title = "tracker"

    def __init__(self, opt):
        self.opt = opt
        self.active = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for hook in TRACKER_HOOKS:
            if hook in cls.__dict__:
                setattr(cls, hook, _guarded(cls.__dict__[hook]))

    def close(self) -> None:
        """End the tracker's session (idempotent)."""

    @_guarded
    def teardown(self, trainer) -> None:
        self.close()

    def save_period_due(self, trainer) -> bool:
        """YOLOv5: last.pt goes up every --save-period epochs, except at the final epoch (on_train_end uploads it)."""
        period = getattr(self.opt, "save_period", -1)
        return period > 0 and (trainer.epoch + 1) % period == 0 and trainer.epoch + 1 < self.opt.epochs
