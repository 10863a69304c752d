"""Train a YOLOv5 (or Ghost) instance-segmentation model on YOLO polygon labels: train.py's loop with the segment Task.

Usage:
    python segment/train.py --data coco128-seg.yaml --weights yolov5n.pt --cfg yolov5n-seg.yaml --img 640
    python segment/train.py --data coco128-seg.yaml --weights yolov5n.pt --cfg yolov5n-seg-ghostdyn.yaml --img 320
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # first: `import train` must find the root train.py, not this file

import train  # noqa: E402
from engine.segment import SegmentTask  # noqa: E402
from utils.errors import exit_on_user_error  # noqa: E402


def parse_opt(known: bool = False, args: list[str] | None = None) -> argparse.Namespace:
    """train.py's flags with v7.0's segmentation defaults (runs/train-seg, coco128-seg) and --mask-ratio/--no-overlap."""
    return train.parse_opt(known, args, SegmentTask())


def main(opt: argparse.Namespace) -> None:
    train.main(opt, SegmentTask())


def run(**kwargs) -> argparse.Namespace:
    """Python entry: run(data='coco8-seg.yaml', cfg='yolov5n-seg.yaml', weights='', imgsz=160, epochs=1)."""
    return train.run(SegmentTask(), **kwargs)


if __name__ == "__main__":
    exit_on_user_error(main)(parse_opt())
