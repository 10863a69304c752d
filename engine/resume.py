"""--resume: find the interrupted run, restore its options, and put optimizer, EMA and epoch back where they were."""

from __future__ import annotations

import argparse
import glob
import os
import random
from pathlib import Path

import numpy as np
import torch

from utils.errors import UserError
from utils.files import check_file, yaml_load
from utils.logger import LOGGER
from utils.torch_utils import de_parallel


def get_latest_run(search_dir: str | Path) -> str:
    """The most recently written last*.pt under search_dir, '' when there is none."""
    last = glob.glob(f"{glob.escape(str(search_dir))}/**/last*.pt", recursive=True)  # a folder name is no pattern
    return max(last, key=os.path.getctime) if last else ""


def resume_options(resume: str | bool, search_dir: str | Path, defaults: dict | None = None) -> argparse.Namespace:
    """The options of the run to resume (its opt.yaml over the current defaults), pointed at its last.pt and at the
    run folder that holds that last.pt."""
    if isinstance(resume, str):
        last = Path(check_file(resume))
    else:
        found = get_latest_run(search_dir)
        if not found:
            raise UserError(f"--resume found no last.pt under {search_dir}; name the checkpoint: --resume path/to/last.pt")
        last = Path(found)
    run_dir = run_folder_of(last)
    opt_yaml = run_dir / "opt.yaml"
    if opt_yaml.is_file():
        options = yaml_load(opt_yaml)
    else:
        from models.checkpoints import load_checkpoint

        options = load_checkpoint(last).get("opt")
        if not isinstance(options, dict):
            raise UserError(f"cannot resume {last}: neither {opt_yaml} nor the checkpoint holds the run's options")
    opt = argparse.Namespace(**{**(defaults or {}), **options})
    opt.cfg, opt.weights, opt.resume, opt.save_dir = "", str(last), True, str(run_dir)
    return opt


def run_folder_of(last: Path) -> Path:
    """The run folder a checkpoint belongs to: where it is now (RUN/weights/last.pt), never the folder its options
    name, so resuming a copied run writes into the copy and leaves the original alone."""
    last = Path(os.path.abspath(last))  # a symlinked copy still writes into the copy: links are not followed
    if last.parent.name != "weights":
        raise UserError(f"--resume {last}: a resumable checkpoint lives in its run folder as RUN/weights/last.pt, "
                        f"next to RUN/opt.yaml; put it there (e.g. mkdir -p run/weights && cp {last.name} run/weights/)")
    return last.parent.parent


def restore_state(ckpt: dict, optimizer: torch.optim.Optimizer, ema, weights: str, epochs: int) -> tuple[float, int]:
    """Load optimizer and EMA state from a last.pt; return (best fitness, first epoch to run)."""
    start_epoch = ckpt["epoch"] + 1
    if start_epoch <= 0 or ckpt.get("optimizer") is None:
        raise UserError(f"{weights} training to {epochs} epochs is finished, nothing to resume; start a new training "
                        f"without --resume, i.e. `python train.py --weights {weights}`")
    optimizer.load_state_dict(ckpt["optimizer"])
    best_fitness = float(ckpt.get("best_fitness") or 0.0)
    if ema is not None and ckpt.get("ema") is not None:
        ema.ema.load_state_dict(ckpt["ema"].float().state_dict())
        ema.updates = ckpt["updates"]
    LOGGER.info(f"Resuming training from {weights} from epoch {start_epoch} to {epochs} total epochs")
    return best_fitness, start_epoch


def training_state(trainer) -> dict:
    """What an exact resume needs beyond YOLOv5's checkpoint keys: fp32 weights (model and EMA are stored in fp16),
    the random generators, the training loader's shuffle generator, gradient accumulation, the AMP scale and early
    stopping. last.pt carries it as 'train_state'; strip_optimizer drops it from the final files."""
    np_state = np.random.get_state()
    loader = getattr(trainer.train_loader, "generator", None)
    return {
        "model": {k: v.detach().clone() for k, v in de_parallel(trainer.model).state_dict().items()},
        "ema": {k: v.detach().clone() for k, v in trainer.ema.ema.state_dict().items()},
        "python_rng": random.getstate(),
        "numpy_rng": (np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *np_state[2:]),
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else [],
        "loader_rng": loader.get_state() if loader is not None else None,
        "last_opt_step": trainer.last_opt_step,
        "accumulate": trainer.accumulate,
        "scaler": trainer.scaler.state_dict(),
        "stopper": (trainer.stopper.best_fitness, trainer.stopper.best_epoch),
        "maps": torch.from_numpy(np.asarray(trainer.maps, dtype=np.float64)),
    }


def restore_training_state(trainer, state: dict) -> None:
    """Put back what training_state saved, as the first thing of the resumed epoch loop (nothing may draw from the
    random generators after it). Exact on CPU with --workers 0: worker processes keep generators of their own."""
    de_parallel(trainer.model).load_state_dict(state["model"])
    trainer.ema.ema.load_state_dict(state["ema"])
    trainer.last_opt_step, trainer.accumulate = state["last_opt_step"], state["accumulate"]
    trainer.scaler.load_state_dict(state["scaler"])
    trainer.stopper.best_fitness, trainer.stopper.best_epoch = state["stopper"]
    trainer.maps = state["maps"].numpy()
    random.setstate(state["python_rng"])
    name, keys, *rest = state["numpy_rng"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), *rest))
    torch.set_rng_state(state["torch_rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    loader = getattr(trainer.train_loader, "generator", None)
    if loader is not None and state["loader_rng"] is not None:
        loader.set_state(state["loader_rng"])
