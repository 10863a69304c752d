"""Train a YOLOv5 or Ghost detector on a YOLO-format dataset, on CPU, one GPU or several (torch.distributed).

Usage:
    python train.py --data coco8.yaml --cfg yolov5n-ghostdyn.yaml --weights '' --img 320 --epochs 3
    python train.py --data coco128.yaml --cfg yolov5n-ghostdyn.yaml --weights yolov5n.pt --img 640
    python -m torch.distributed.run --nproc_per_node 2 train.py --data coco128.yaml --weights yolov5n.pt --device 0,1
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

FILE = Path(__file__).resolve()
if str(FILE.parent) not in sys.path:
    sys.path.insert(0, str(FILE.parent))  # `python /path/to/train.py` from any folder

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

from engine.detect import DetectTask  # noqa: E402
from engine.teacher import Distillation  # noqa: E402
from engine.task import Task  # noqa: E402
from engine.trainer import run_training  # noqa: E402
from utils.checks import check_args  # noqa: E402
from utils.errors import UserError, exit_on_user_error  # noqa: E402
from utils.files import RunLock, check_file, check_yaml, increment_path, root_rel  # noqa: E402
from utils.logger import LOGGER, colorstr, print_args  # noqa: E402
from utils.training.evolve import (constrain, evolvable, history, load_population, mutate,  # noqa: E402
                                   record_generation)
from utils.training.hyps import load_hyp  # noqa: E402
from engine.resume import resume_options  # noqa: E402
from utils.distributed import local_rank, rank, world_size  # noqa: E402
from utils.torch_utils import keep_freed_memory, select_device  # noqa: E402


def plugins_from(opt: argparse.Namespace) -> list:
    """The training plug-ins the flags ask for: distillation with --teacher."""
    if opt.teacher:
        return [Distillation(opt.teacher, opt.teacher_warmup_steps, opt.teacher_warmup_images)]
    return []


def train(hyp: str | Path | dict, opt: argparse.Namespace, device: torch.device, task: Task | None = None) -> tuple:
    """Train with opt (see parse_opt) on device; returns the final validation row (metrics, then val losses)."""
    return run_training(task or DetectTask(), load_hyp(hyp), opt, device, plugins_from(opt))


def parse_opt(known: bool = False, args: list[str] | None = None, task: Task | None = None) -> argparse.Namespace:
    """train.py's flags (YOLOv5's); a task other than detection changes the defaults and adds its own flags."""
    root = root_rel()
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", type=str, default=root / "yolov5s.pt", help="initial weights path")
    parser.add_argument("--cfg", type=str, default="", help="model.yaml path")
    parser.add_argument("--data", type=str, default=root / "data/coco128.yaml", help="dataset.yaml path")
    parser.add_argument("--hyp", type=str, default=root / "data/hyps/hyp.scratch-low.yaml", help="hyperparameters path")
    parser.add_argument("--epochs", type=int, default=100, help="total training epochs")
    parser.add_argument("--batch-size", type=int, default=16, help="total batch size for all GPUs, -1 for autobatch")
    parser.add_argument("--imgsz", "--img", "--img-size", type=int, default=640, help="train, val image size (pixels)")
    parser.add_argument("--rect", action="store_true", help="rectangular training")
    parser.add_argument("--resume", nargs="?", const=True, default=False, help="resume most recent training")
    parser.add_argument("--nosave", action="store_true", help="only save final checkpoint")
    parser.add_argument("--noval", action="store_true", help="only validate final epoch")
    parser.add_argument("--noautoanchor", action="store_true", help="disable AutoAnchor")
    parser.add_argument("--noplots", action="store_true", help="save no plot files")
    parser.add_argument("--evolve", type=int, nargs="?", const=300, help="evolve hyperparameters for x generations")
    parser.add_argument("--evolve_population", type=str, default=root / "data/hyps",
                        help="location for loading population")
    parser.add_argument("--resume_evolve", type=str, default=None, help="resume evolve from last generation")
    parser.add_argument("--cache", type=str, nargs="?", const="ram", help="image --cache ram/disk")
    parser.add_argument("--image-weights", action="store_true", help="use weighted image selection for training")
    parser.add_argument("--device", default="", help="cuda device, i.e. 0 or 0,1,2,3 or cpu")
    parser.add_argument("--multi-scale", action="store_true", help="vary img-size +/- 50%%")
    parser.add_argument("--single-cls", action="store_true", help="train multi-class data as single-class")
    parser.add_argument("--optimizer", type=str, choices=["SGD", "Adam", "AdamW"], default="SGD", help="optimizer")
    parser.add_argument("--sync-bn", action="store_true", help="use SyncBatchNorm, only available in DDP mode")
    parser.add_argument("--workers", type=int, default=8, help="max dataloader workers (per RANK in DDP mode)")
    parser.add_argument("--project", default=root / "runs/train", help="save to project/name")
    parser.add_argument("--name", default="exp", help="save to project/name")
    parser.add_argument("--exist-ok", action="store_true", help="existing project/name ok, do not increment")
    parser.add_argument("--quad", action="store_true", help="quad dataloader")
    parser.add_argument("--cos-lr", action="store_true", help="cosine LR scheduler")
    parser.add_argument("--label-smoothing", type=float, default=0.0, help="Label smoothing epsilon")
    parser.add_argument("--patience", type=int, default=100, help="EarlyStopping patience (epochs without improvement)")
    parser.add_argument("--freeze", nargs="+", type=int, default=[0], help="Freeze layers: backbone=10, first3=0 1 2")
    parser.add_argument("--save-period", type=int, default=-1, help="Save checkpoint every x epochs (disabled if < 1)")
    parser.add_argument("--seed", type=int, default=0, help="Global training seed")
    parser.add_argument("--compile", action="store_true", help="run the training forward through torch.compile")
    parser.add_argument("--teacher", type=str, default="", help="distill from these YOLOv5 weights (same strides)")
    parser.add_argument("--teacher-warmup-steps", type=int, default=0,
                        help="label-free warm start: steps of block-wise imitation of --teacher before training")
    parser.add_argument("--teacher-warmup-images", type=str, default="",
                        help="image folder or list for the warm start (default: the training images)")
    parser.add_argument("--local_rank", "--local-rank", type=int, default=-1, help="Automatic DDP Multi-GPU argument")
    parser.add_argument("--bucket", type=str, default="", help="gsutil bucket")
    parser.add_argument("--entity", default=None, help="Entity")
    parser.add_argument("--upload_dataset", nargs="?", const=True, default=False, help='Upload data, "val" option')
    parser.add_argument("--bbox_interval", type=int, default=-1, help="Set bounding-box image logging interval")
    parser.add_argument("--artifact_alias", type=str, default="latest", help="Version of dataset artifact to use")
    if hasattr(task, "add_arguments"):
        task.add_arguments(parser)
        parser.set_defaults(**task.cli_defaults())
    return parser.parse_known_args(args)[0] if known else parser.parse_args(args)


def prepare_options(opt: argparse.Namespace, task: Task | None = None) -> argparse.Namespace:
    """Resolve files and the run folder; for --resume, the interrupted run's own options."""
    if opt.resume and not opt.evolve:
        return resume_options(opt.resume, Path(opt.project).parent, defaults=vars(parse_opt(args=[], task=task)))
    opt.data, opt.cfg = check_file(opt.data), check_yaml(opt.cfg) if opt.cfg else ""
    opt.hyp = load_hyp(opt.hyp)  # checked before anything trains; a dict from here on, as opt.yaml records it
    opt.weights, opt.project = str(opt.weights), str(opt.project)
    if not (opt.cfg or opt.weights):
        raise UserError("either --cfg or --weights must be specified")
    if (opt.teacher_warmup_steps or opt.teacher_warmup_images) and not opt.teacher:
        raise UserError("--teacher-warmup-steps/--teacher-warmup-images need --teacher WEIGHTS to imitate")
    if opt.teacher_warmup_steps < 0:
        raise UserError(f"--teacher-warmup-steps {opt.teacher_warmup_steps} must be 0 (no warm start) or more")
    opt.teacher = str(Path(opt.teacher).resolve()) if opt.teacher and Path(opt.teacher).is_file() else opt.teacher
    if opt.evolve:
        if Path(opt.project).parent == root_rel() / "runs" and Path(opt.project).name.startswith("train"):
            opt.project = str(root_rel() / "runs" / Path(opt.project).name.replace("train", "evolve"))
        opt.exist_ok, opt.resume = opt.resume, False
    if opt.name == "cfg":
        opt.name = Path(opt.cfg).stem
    opt.save_dir = str(increment_path(Path(opt.project) / opt.name, exist_ok=opt.exist_ok, mkdir=rank() in {-1, 0}))
    return opt


def init_distributed(opt: argparse.Namespace, device: torch.device) -> torch.device:
    """Join the torch.distributed group: NCCL on CUDA, gloo on CPU; one GPU per process."""
    msg = "is not compatible with YOLOv5 Multi-GPU DDP training"
    if opt.image_weights:
        raise UserError(f"--image-weights {msg}")
    if opt.evolve:
        raise UserError(f"--evolve {msg}")
    if opt.batch_size == -1:
        raise UserError(f"AutoBatch with --batch-size -1 {msg}, please pass a valid --batch-size")
    if opt.batch_size % world_size():
        raise UserError(f"--batch-size {opt.batch_size} must be multiple of WORLD_SIZE {world_size()}")
    if device.type == "cuda":
        if torch.cuda.device_count() <= local_rank():
            raise UserError(f"insufficient CUDA devices for DDP command: LOCAL_RANK {local_rank()}, "
                            f"{torch.cuda.device_count()} device(s)")
        torch.cuda.set_device(local_rank())
        device = torch.device("cuda", local_rank())
    backend = "nccl" if device.type == "cuda" and dist.is_nccl_available() else "gloo"
    dist.init_process_group(backend=backend, timeout=timedelta(hours=3))
    return device


def evolve(opt: argparse.Namespace, device: torch.device, task: Task | None = None) -> None:
    """--evolve N: N trainings with mutated hyps, recorded in evolve.csv; the best in hyp_evolve.yaml."""
    defaults = {k: v for p in plugins_from(opt) for k, v in getattr(p, "hyp_defaults", {}).items()}
    hyp, limits = evolvable({**defaults, **load_hyp(opt.hyp)}, opt.noautoanchor)
    opt.noval, opt.nosave = True, True
    save_dir = Path(opt.save_dir)
    evolve_csv = save_dir / "evolve.csv"
    population = load_population(hyp, opt.resume_evolve, opt.evolve_population)
    sync_bucket(opt.bucket, f"gs://{opt.bucket}/evolve.csv", evolve_csv)
    for _ in range(opt.evolve):
        data = history(evolve_csv)
        done = 0 if data is None else len(data)  # generation 1 trains --hyp, the next ones the population
        hyp = constrain(population[done - 1], limits) if 1 <= done <= len(population) else mutate(hyp, limits, data)
        results = train(dict(hyp), opt, device, task)
        record_generation(tuple(float(x) for x in results), hyp, save_dir)
        sync_bucket(opt.bucket, evolve_csv, f"gs://{opt.bucket}")
    from utils.evaluation.plots import plot_evolve

    plot_evolve(evolve_csv)
    LOGGER.info(f"Hyperparameter evolution finished {opt.evolve} generations\n"
                f"Results saved to {colorstr('bold', save_dir)}\n"
                f"Usage example: $ python train.py --hyp {save_dir / 'hyp_evolve.yaml'}")


def sync_bucket(bucket: str, src: str | Path, dst: str | Path) -> None:
    """--bucket: copy evolve.csv from / to Google Cloud Storage with gsutil, as YOLOv5 does."""
    if not bucket:
        return
    if shutil.which("gsutil") is None:
        LOGGER.info(f"--bucket {bucket}: gsutil is not installed, evolve.csv stays in the run folder only")
        return
    subprocess.run(["gsutil", "cp", str(src), str(dst)], check=False)


def note_logger_flags(opt: argparse.Namespace) -> None:
    """YOLOv5's Weights & Biases / ClearML / Comet flags: accepted; one line when set but no such logger exists."""
    logger_flags = {"entity": None, "upload_dataset": False, "bbox_interval": -1, "artifact_alias": "latest"}
    used = [f"--{k}" for k, default in logger_flags.items() if getattr(opt, k) != default]
    loggers = [m for m in ("wandb", "clearml", "comet_ml") if importlib.util.find_spec(m) is not None]
    if used and not loggers:
        LOGGER.info(f"{', '.join(used)}: options of the Weights & Biases / ClearML / Comet loggers, none of which is "
                    f"installed; ignored")


def main(opt: argparse.Namespace, task: Task | None = None) -> None:
    if rank() in {-1, 0}:
        print_args(vars(opt), "train: ")
        note_logger_flags(opt)
    check_args(vars(opt), special={"batch_size": ((-1, "AutoBatch"),)})
    opt = prepare_options(opt, task)
    device = select_device(opt.device, batch_size=opt.batch_size)
    keep_freed_memory(device)
    if local_rank() != -1:
        device = init_distributed(opt, device)
        run_dir = [opt.save_dir]  # rank 0's folder: another rank may have counted exp2 once rank 0 made exp
        dist.broadcast_object_list(run_dir, 0)
        opt.save_dir = run_dir[0]
    try:
        with RunLock(opt.save_dir) if rank() in {-1, 0} else contextlib.nullcontext():
            evolve(opt, device, task) if opt.evolve else train(opt.hyp, opt, device, task)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def run(task: Task | None = None, **kwargs) -> argparse.Namespace:
    """Python entry: run(data='coco8.yaml', cfg='yolov5n-ghostdyn.yaml', weights='', imgsz=320, epochs=3)."""
    opt = parse_opt(True, task=task)
    for k, v in kwargs.items():
        setattr(opt, k, v)
    main(opt, task)
    return opt


if __name__ == "__main__":
    exit_on_user_error(main)(parse_opt())
