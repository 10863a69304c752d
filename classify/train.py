"""Train a classifier on an ImageNet-style folder dataset: a YOLOv5 classifier .pt, a detector converted at --cutoff,
a model YAML (yolov5n-ghostdyn.yaml: the Ghost backbone) or a torchvision model, on the one training engine.

Usage:
    python classify/train.py --model yolov5n.pt --data coco128-cls --epochs 10 --img 224
    python classify/train.py --model yolov5n-ghostdyn.yaml --data ../datasets/coco128-cls --epochs 10 --img 224
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # first: `import train` must find the root train.py, not this file

import torch.distributed as dist  # noqa: E402

from engine.classify import ClassifyTask, classify_hyp  # noqa: E402
from engine.trainer import run_training  # noqa: E402
from train import init_distributed  # noqa: E402
from utils.checks import bool_flag, check_args  # noqa: E402
from utils.distributed import local_rank, rank  # noqa: E402
from utils.errors import exit_on_user_error  # noqa: E402
from utils.files import RunLock, increment_path, root_rel  # noqa: E402
from utils.logger import LOGGER, print_args  # noqa: E402
from utils.torch_utils import keep_freed_memory, select_device  # noqa: E402

# train.py flags the engine reads that classify/train.py does not have: YOLOv5 v7.0's fixed behaviour
ENGINE_DEFAULTS = {"evolve": None, "noval": False, "noplots": False, "resume": False, "freeze": [0], "patience": 0,
                   "save_period": -1, "single_cls": False, "multi_scale": False, "quad": False, "cos_lr": False,
                   "sync_bn": False, "compile": False, "image_weights": False, "teacher": "", "entity": None,
                   "upload_dataset": False, "bbox_interval": -1, "artifact_alias": "latest", "bucket": ""}


def parse_opt(known: bool = False, args: list[str] | None = None) -> argparse.Namespace:
    root = root_rel()
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=str, default="yolov5s-cls.pt",
                        help="initial weights (.pt), a model YAML or a torchvision model name")
    parser.add_argument("--data", type=str, default="imagenette160",
                        help="dataset folder or name: coco8-cls, cifar10, mnist, imagenette160, ...")
    parser.add_argument("--epochs", type=int, default=10, help="total training epochs")
    parser.add_argument("--batch-size", type=int, default=64, help="total batch size for all GPUs")
    parser.add_argument("--imgsz", "--img", "--img-size", type=int, default=224, help="train, val image size (pixels)")
    parser.add_argument("--nosave", action="store_true", help="only save final checkpoint")
    parser.add_argument("--cache", type=str, nargs="?", const="ram", help='--cache images in "ram" (default) or "disk"')
    parser.add_argument("--device", default="", help="cuda device, i.e. 0 or 0,1,2,3 or cpu")
    parser.add_argument("--workers", type=int, default=8, help="max dataloader workers (per RANK in DDP mode)")
    parser.add_argument("--project", default=root / "runs/train-cls", help="save to project/name")
    parser.add_argument("--name", default="exp", help="save to project/name")
    parser.add_argument("--exist-ok", action="store_true", help="existing project/name ok, do not increment")
    parser.add_argument("--pretrained", nargs="?", const=True, default=True, type=bool_flag,
                        help="start from i.e. --pretrained False")
    parser.add_argument("--optimizer", choices=["SGD", "Adam", "AdamW", "RMSProp"], default="Adam", help="optimizer")
    parser.add_argument("--lr0", type=float, default=0.001, help="initial learning rate")
    parser.add_argument("--decay", type=float, default=5e-5, help="weight decay")
    parser.add_argument("--label-smoothing", type=float, default=0.1, help="Label smoothing epsilon")
    parser.add_argument("--cutoff", type=int, default=None, help="Model layer cutoff index for Classify() head")
    parser.add_argument("--dropout", type=float, default=None, help="Dropout (fraction)")
    parser.add_argument("--verbose", action="store_true", help="Verbose mode")
    parser.add_argument("--seed", type=int, default=0, help="Global training seed")
    parser.add_argument("--local_rank", type=int, default=-1, help="Automatic DDP Multi-GPU argument, do not modify")
    return parser.parse_known_args(args)[0] if known else parser.parse_args(args)


def main(opt: argparse.Namespace) -> None:
    if rank() in {-1, 0}:
        print_args(vars(opt), "classify/train: ")
    check_args(vars(opt))
    for k, v in ENGINE_DEFAULTS.items():
        setattr(opt, k, getattr(opt, k, v))
    device = select_device(opt.device, batch_size=opt.batch_size)
    keep_freed_memory(device)
    opt.save_dir = str(increment_path(Path(opt.project) / opt.name, exist_ok=opt.exist_ok, mkdir=rank() in {-1, 0}))
    if local_rank() != -1:
        device = init_distributed(opt, device)
    try:
        with RunLock(opt.save_dir) if rank() in {-1, 0} else contextlib.nullcontext():
            run_training(ClassifyTask(), classify_hyp(opt), opt, device, [])
        if rank() in {-1, 0}:
            best = Path(opt.save_dir) / "weights/best.pt"
            LOGGER.info(f"Predict:         python classify/predict.py --weights {best} --source im.jpg\n"
                        f"Validate:        python classify/val.py --weights {best} --data {opt.data}\n"
                        f"Export:          python export.py --weights {best} --include onnx")
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def run(**kwargs) -> argparse.Namespace:
    """Python entry: run(model='yolov5n.pt', data='coco8-cls', epochs=1, imgsz=64)."""
    opt = parse_opt(True)
    for k, v in kwargs.items():
        setattr(opt, k, v)
    main(opt)
    return opt


if __name__ == "__main__":
    exit_on_user_error(main)(parse_opt())
