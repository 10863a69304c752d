"""Classify images, folders, globs, videos, cameras and streams with a YOLOv5 classifier; print each image's top-5
classes and save annotated results to runs/predict-cls.

Usage:
    python classify/predict.py --weights yolov5n-cls.pt --source data/images      # folder
                                                                   img.jpg          # image
                                                                   vid.mp4          # video
                                                                   0                # webcam
                                                                   'path/*.jpg'     # glob
    Weights may be .pt, .torchscript, .onnx or an OpenVINO folder (*_openvino_model).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.append(str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from detect import VideoSaver, can_show_windows, open_source, source_fps  # noqa: E402
from models.checkpoints import strip_optimizer  # noqa: E402
from models.classify import load_classifier  # noqa: E402
from utils.annotator import Annotator  # noqa: E402
from utils.checks import check_args, check_img_size  # noqa: E402
from utils.data.classify_transforms import classify_transforms  # noqa: E402
from utils.errors import exit_on_user_error  # noqa: E402
from utils.evaluation.classify_metrics import check_scores  # noqa: E402
from utils.files import ROOT, check_file, increment_path, run_folder  # noqa: E402
from utils.inference.sources import classify_source  # noqa: E402
from utils.logger import LOGGER  # noqa: E402
from utils.torch_utils import select_device  # noqa: E402
from utils.inference.stages import Stages  # noqa: E402
from utils.inference.predict_cli import parse_predict, predict_parser, report_run  # noqa: E402


def top5_text(prob: torch.Tensor, names: dict[int, str]) -> tuple[str, list[str]]:
    """('bus 0.41, minibus 0.30, ' for the console, ['0.41 bus', ...] for the image and the .txt), best first."""
    top5 = prob.argsort(0, descending=True)[:5].tolist()
    return "".join(f"{names[j]} {prob[j]:.2f}, " for j in top5), [f"{prob[j]:.2f} {names[j]}" for j in top5]


def annotate(im0: np.ndarray, lines: list[str]) -> np.ndarray:
    """The top-5 lines written at the image's top-left corner, as YOLOv5 does."""
    annotator = Annotator(im0, example="abc")
    y = 32
    for line in lines:
        annotator.text((32, y), line, txt_color=(255, 255, 255))
        y += max(annotator.lw * 8, 12)
    return annotator.result()


@torch.inference_mode()
def run(weights: str | Path | list = ROOT / "yolov5s-cls.pt", source: str | Path = ROOT / "data/images",
        data: str | Path = ROOT / "data/coco128.yaml", imgsz: tuple[int, int] = (224, 224), device: str = "",
        view_img: bool = False, save_txt: bool = False, nosave: bool = False, augment: bool = False,
        visualize: bool = False, update: bool = False, project: str | Path = ROOT / "runs/predict-cls",
        name: str = "exp", exist_ok: bool = False, half: bool = False, dnn: bool = False,
        vid_stride: int = 1) -> Path:
    """Classify every frame of source, print its top 5 and save what was asked for; returns the run folder."""
    check_args(locals(), python=True)
    source = str(source)
    save_img = not nosave and not source.endswith(".txt")
    kind = classify_source(source)
    if kind.is_url and kind.is_file:
        source = check_file(source)
    save_dir = run_folder(project, name, exist_ok, labels=save_txt)

    device = select_device(device)
    model = load_classifier(weights, device, dnn, half)
    names = model.names
    imgsz = model.export_imgsz(check_img_size(list(imgsz), s=model.stride))
    transform = classify_transforms(tuple(imgsz))
    dataset = open_source(source, kind, list(imgsz), model.stride, False, vid_stride)
    bs = len(dataset) if kind.webcam else 1
    model.check_input_size(tuple(imgsz), bs)
    videos = VideoSaver(bs)
    view_img = view_img and can_show_windows()

    seen, stages = 0, Stages()
    for path, _, im0s, vid_cap, s in dataset:
        stages.start()
        frames = im0s if kind.webcam else [im0s]
        im = torch.stack([transform(x) for x in frames]).to(device)
        stages.end(0)
        vis = increment_path(save_dir / Path(path if isinstance(path, str) else path[0]).stem, mkdir=True) \
            if visualize else False
        logits = model(im, augment=augment, visualize=vis)
        stages.end(1)
        check_scores(logits)
        prob = logits.float().softmax(1)
        stages.end(2)
        for i, p in enumerate(prob):
            seen += 1
            if kind.webcam:
                file, im0, frame = Path(path[i]), im0s[i].copy(), dataset.count
                s += f"{i}: "
            else:
                file, im0, frame = Path(path), im0s.copy(), getattr(dataset, "frame", 0)
            s += "%gx%g " % im.shape[2:]
            console, lines = top5_text(p, names)
            s += console
            if save_txt:
                suffix = "" if dataset.mode == "image" else f"_{frame}"
                with open(save_dir / "labels" / f"{file.stem}{suffix}.txt", "a") as f:
                    f.write("\n".join(lines) + "\n")
            if save_img or view_img:
                im0 = annotate(im0, lines)
            if view_img:
                import cv2

                cv2.imshow(str(file), im0)
                cv2.waitKey(1)
            if save_img:
                if dataset.mode == "image":
                    import cv2

                    cv2.imwrite(str(save_dir / file.name), im0)
                else:
                    videos.write(i, str(save_dir / file.name), im0, source_fps(vid_cap, dataset, i))
        LOGGER.info(f"{s}{stages.last[1] * 1e3:.1f}ms")
    videos.close()

    report_run(seen, stages, imgsz, source, save_dir, save_txt, save_img)
    if update:
        strip_optimizer(weights[0] if isinstance(weights, (list, tuple)) else weights)
    return save_dir


def parse_opt(argv: list[str] | None = None) -> argparse.Namespace:
    """classify/predict.py's command line, with YOLOv5 v7.0's flags and defaults."""
    return parse_predict(predict_parser("classify"), argv, "classify/predict: ")


@exit_on_user_error
def main(opt: argparse.Namespace) -> None:
    check_args(vars(opt))
    run(**vars(opt))


if __name__ == "__main__":
    main(parse_opt())
