"""Validate a trained YOLOv5 classifier on a classification dataset's test/ split (else val/).

Usage:
    python classify/val.py --weights yolov5n-cls.pt --data ../datasets/coco128-cls --img 224
    python classify/val.py --weights yolov5n-cls.pt --data coco128-cls        # a name under ../datasets
Weights may be .pt, .torchscript, .onnx or an OpenVINO folder (*_openvino_model), as export.py writes them.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

import torch  # noqa: E402

from models.backends import DetectMultiBackend  # noqa: E402
from models.classify import load_classifier  # noqa: E402
from utils.checks import bool_flag, check_args, check_img_size  # noqa: E402
from utils.data.classify_config import check_cls_dataset  # noqa: E402
from utils.data.classify_dataset import create_classification_dataloader  # noqa: E402
from utils.errors import UserError, exit_on_user_error  # noqa: E402
from utils.evaluation.classify_metrics import evaluate, print_results  # noqa: E402
from utils.files import ROOT, root_rel, run_folder  # noqa: E402
from utils.logger import LOGGER, colorstr, print_args  # noqa: E402
from utils.torch_utils import select_device  # noqa: E402


def fixed_input(model: DetectMultiBackend, imgsz: int, batch_size: int) -> tuple[int, int]:
    """(imgsz, batch size) to run at: an export made for one input shape gets exactly that shape."""
    if model.input_shape is None:
        return imgsz, batch_size
    b, _, h, w = model.input_shape
    if h != w:
        raise UserError(f"{model.input_shape} export: classification runs on square images, export with a square "
                        "--imgsz or --dynamic")
    if (h, b) != (imgsz, batch_size):
        LOGGER.info(f"Forcing --batch-size {b} square inference ({b},3,{h},{w}) for a model exported for that shape")
    return h, b


@torch.inference_mode()
def run(data: str | Path = ROOT / "../datasets/mnist", weights: str | Path | list = ROOT / "yolov5s-cls.pt",
        batch_size: int = 128, imgsz: int = 224, device: str = "", workers: int = 8, verbose: bool = False,
        project: str | Path = ROOT / "runs/val-cls", name: str = "exp", exist_ok: bool = False,
        half: bool = False, dnn: bool = False) -> tuple[float, float, float]:
    """top1, top5 and (no criterion here) loss 0.0 of weights on the dataset; per-class rows when verbose."""
    check_args(locals(), python=True)
    device = select_device(device, batch_size=batch_size)
    save_dir = run_folder(project, name, exist_ok)
    d = check_cls_dataset(data)
    model = load_classifier(weights, device, dnn, half)
    if len(model.names) != d["nc"] and (model.pt or model.jit or model.onnx or model.xml or model.runtime):
        raise UserError(f"the model has {len(model.names)} classes and {d['path']} has {d['nc']}: "
                        f"validate a classifier on the dataset it was trained for")
    imgsz, batch_size = fixed_input(model, check_img_size(imgsz, s=model.stride), batch_size)
    split = d["test"] or d["val"]
    dataloader = create_classification_dataloader(split, imgsz, batch_size, augment=False, rank=-1, workers=workers,
                                                  shuffle=False, classes=list(d["names"].values()))
    action = "validating" if Path(split).name == "val" else "testing"
    results = evaluate(model, dataloader, device=device, desc=action)
    print_results(results, model.names, per_class=verbose)
    t = tuple(x / len(dataloader.dataset) * 1e3 for x in results.seconds)
    LOGGER.info(f"Speed: %.1fms pre-process, %.1fms inference, %.1fms post-process per image at shape "
                f"{(1, 3, imgsz, imgsz)}" % t)
    LOGGER.info(f"Results saved to {colorstr('bold', save_dir)}")
    return results.top1, results.top5, results.loss


def parse_opt(argv: list[str] | None = None) -> argparse.Namespace:
    """classify/val.py's command line, with YOLOv5 v7.0's flags and defaults."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=str, default=root_rel() / "../datasets/mnist", help="dataset path")
    parser.add_argument("--weights", nargs="+", type=str, default=root_rel() / "yolov5s-cls.pt", help="model.pt path(s)")
    parser.add_argument("--batch-size", type=int, default=128, help="batch size")
    parser.add_argument("--imgsz", "--img", "--img-size", type=int, default=224, help="inference size (pixels)")
    parser.add_argument("--device", default="", help="cuda device, i.e. 0 or 0,1,2,3 or cpu")
    parser.add_argument("--workers", type=int, default=8, help="max dataloader workers (per RANK in DDP mode)")
    parser.add_argument("--verbose", type=bool_flag, nargs="?", const=True, default=True, help="verbose output")
    parser.add_argument("--project", default=root_rel() / "runs/val-cls", help="save to project/name")
    parser.add_argument("--name", default="exp", help="save to project/name")
    parser.add_argument("--exist-ok", action="store_true", help="existing project/name ok, do not increment")
    parser.add_argument("--half", action="store_true", help="use FP16 half-precision inference")
    parser.add_argument("--dnn", action="store_true", help="use OpenCV DNN for ONNX inference")
    opt = parser.parse_args(argv)
    print_args(vars(opt), "classify/val: ")
    return opt


@exit_on_user_error
def main(opt: argparse.Namespace) -> None:
    check_args(vars(opt))
    run(**vars(opt))


if __name__ == "__main__":
    main(parse_opt())
