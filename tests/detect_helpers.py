"""Shared by the detect/export/backend/hub tests: log capture, test videos, writable copies of weights."""

from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import numpy as np
import torch


ROOT = Path(__file__).resolve().parents[1]
SAMPLE_IMAGES = ROOT / "data" / "images"




def make_video(path: Path, n: int = 6, size: tuple[int, int] = (96, 64), fps: float = 10.0,
               frames: list[np.ndarray] | None = None) -> Path:
    """An mp4v video: the given BGR frames resized to size, or n flat frames whose grey level changes per frame."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    frames = frames if frames is not None else [np.full((size[1], size[0], 3), (20 * i) % 256, np.uint8)
                                                for i in range(n)]
    for f in frames:
        writer.write(cv2.resize(f, size))
    writer.release()
    return path


def video_props(path: Path) -> tuple[int, int, int, float]:
    """(frame count, width, height, fps) of a video file."""
    cap = cv2.VideoCapture(str(path))
    props = (int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
             int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), cap.get(cv2.CAP_PROP_FPS))
    cap.release()
    return props


def copy_weights(src: Path, dst_dir: Path, name: str | None = None) -> Path:
    """A writable copy of a weights file (exports are written beside the weights)."""
    dst = dst_dir / (name or src.name)
    shutil.copy(src, dst)
    return dst


def close(a: torch.Tensor, b: torch.Tensor, tol: float = 1e-4) -> bool:
    """Equal within tol relative to the magnitude (pixel boxes) plus tol absolute (probabilities)."""
    return bool(torch.allclose(a.float(), b.float(), rtol=tol, atol=tol))
