"""What detect.py, segment/predict.py and classify/predict.py share: YOLOv5 v7.0's flags, with each task's defaults (the
tasks that draw boxes add the NMS, label-file and drawing flags), and the closing summary of a run."""

from __future__ import annotations

import argparse
from pathlib import Path

from utils.errors import UserError
from utils.files import root_rel
from utils.inference.stages import Stages
from utils.logger import LOGGER, colorstr, print_args

# task -> (default weights, default run folder, default image size)
DEFAULTS = {"detect": ("yolov5s.pt", "runs/detect", 640), "segment": ("yolov5s-seg.pt", "runs/predict-seg", 640),
            "classify": ("yolov5s-cls.pt", "runs/predict-cls", 224)}


def predict_parser(task: str) -> argparse.ArgumentParser:
    """The shared flags, in YOLOv5's order of the --help screen; the caller adds its own and calls parse_predict."""
    weights, project, imgsz = DEFAULTS[task]
    boxes = task != "classify"
    streams = "/.streams" if task == "detect" else ""
    root = root_rel()
    p = argparse.ArgumentParser()
    p.add_argument("--weights", nargs="+", type=str, default=root / weights, help="model path(s)")
    p.add_argument("--source", type=str, default=root / "data/images", help=f"file/dir/URL/glob/0(webcam){streams}")
    p.add_argument("--data", type=str, default=root / "data/coco128.yaml", help="(optional) dataset.yaml path")
    p.add_argument("--imgsz", "--img", "--img-size", nargs="+", type=int, default=[imgsz], help="inference size h,w")
    if boxes:
        p.add_argument("--conf-thres", type=float, default=0.25, help="confidence threshold")
        p.add_argument("--iou-thres", type=float, default=0.45, help="NMS IoU threshold")
        p.add_argument("--max-det", type=int, default=1000, help="maximum detections per image")
    p.add_argument("--device", default="", help="cuda device, i.e. 0 or 0,1,2,3 or cpu")
    p.add_argument("--view-img", action="store_true", help="show results")
    p.add_argument("--save-txt", action="store_true", help="save results to *.txt")
    if boxes:
        p.add_argument("--save-conf", action="store_true", help="save confidences in --save-txt labels")
        p.add_argument("--save-crop", action="store_true", help="save cropped prediction boxes")
    p.add_argument("--nosave", action="store_true", help="do not save images/videos")
    if boxes:
        p.add_argument("--classes", nargs="+", type=int, help="filter by class: --classes 0, or --classes 0 2 3")
        p.add_argument("--agnostic-nms", action="store_true", help="class-agnostic NMS")
    p.add_argument("--augment", action="store_true", help="augmented inference")
    p.add_argument("--visualize", action="store_true", help="visualize features")
    p.add_argument("--update", action="store_true", help="update all models")
    p.add_argument("--project", default=root / project, help="save results to project/name")
    p.add_argument("--name", default="exp", help="save results to project/name")
    p.add_argument("--exist-ok", action="store_true", help="existing project/name ok, do not increment")
    if boxes:
        p.add_argument("--line-thickness", default=3, type=int, help="bounding box thickness (pixels)")
        p.add_argument("--hide-labels", default=False, action="store_true", help="hide labels")
        p.add_argument("--hide-conf", default=False, action="store_true", help="hide confidences")
    p.add_argument("--half", action="store_true", help="use FP16 half-precision inference")
    p.add_argument("--dnn", action="store_true", help="use OpenCV DNN for ONNX inference")
    p.add_argument("--vid-stride", type=int, default=1, help="video frame-rate stride")
    return p


def parse_predict(parser: argparse.ArgumentParser, argv: list[str] | None, prefix: str) -> argparse.Namespace:
    """Parse, widen a single --imgsz to h,w, and print the options as YOLOv5 does."""
    opt = parser.parse_args(argv)
    opt.imgsz *= 2 if len(opt.imgsz) == 1 else 1
    print_args(vars(opt), prefix)
    return opt


def report_run(seen: int, stages: Stages, imgsz: tuple, source, save_dir: Path, save_txt: bool, saved: bool) -> None:
    """YOLOv5's closing lines: the speed per image and where results went; a source that gave no image is an error."""
    if seen == 0:
        raise UserError(f"no readable images or video frames in --source {source}")
    t = stages.per_image(seen)
    LOGGER.info(f"Speed: %.1fms pre-process, %.1fms inference, %.1fms NMS per image at shape {(1, 3, *imgsz)}" % t)
    if save_txt or saved:
        n = len(list(save_dir.glob("labels/*.txt")))
        s = f"\n{n} labels saved to {save_dir / 'labels'}" if save_txt else ""
        LOGGER.info(f"Results saved to {colorstr('bold', save_dir)}{s}")
