"""Inference inputs for detect.py: image files, folders, globs, lists, videos, cameras and network streams."""

from __future__ import annotations

import glob
import math
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from threading import Thread
from urllib.parse import urlparse

import cv2
import numpy as np

from utils.data.augmentations import letterbox
from utils.data.image_decode import UnreadableImage, read_image
from utils.data.image_files import IMG_FORMATS, VID_FORMATS
from utils.errors import MissingFile, UserError
from utils.files import is_pattern, read_text
from utils.logger import LOGGER

STREAM_PREFIXES = ("rtsp://", "rtmp://", "http://", "https://")
DEFAULT_PORTS = {"rtsp": 554, "rtmp": 1935, "http": 80, "https": 443}


@dataclass(frozen=True)
class SourceKind:
    """What --source names: a media file, a URL, and whether it is read as live streams."""

    is_file: bool
    is_url: bool
    webcam: bool


def classify_source(source: str) -> SourceKind:
    """YOLOv5's rules: digits, *.streams and non-file URLs are live streams, everything else is read as files."""
    is_file = Path(source).suffix[1:].lower() in IMG_FORMATS + VID_FORMATS
    is_url = source.lower().startswith(STREAM_PREFIXES)
    webcam = source.isnumeric() or source.endswith(".streams") or (is_url and not is_file)
    return SourceKind(is_file=is_file, is_url=is_url, webcam=webcam)


def to_model_input(im0: np.ndarray, img_size: int | tuple, stride: int, auto: bool) -> np.ndarray:
    """Letterbox a BGR HWC frame and turn it into the contiguous RGB CHW uint8 array a model takes."""
    im = letterbox(im0, img_size, stride=stride, auto=auto)[0]
    return np.ascontiguousarray(im.transpose((2, 0, 1))[::-1])


def expand_paths(path: str | Path | list) -> list[str]:
    """Every file named by a path, folder, glob, .txt list (one path a line) or list of those, sorted. An existing
    path is taken literally (a folder cam[1] is a folder), a missing one as a glob pattern when it is one."""
    if isinstance(path, (str, Path)) and Path(path).suffix.lower() == ".txt" and Path(path).is_file():
        path = [x.strip() for x in read_text(path, errors="replace").splitlines() if x.strip()]
    files = []
    for p in sorted(path) if isinstance(path, (list, tuple)) else [path]:
        p = os.path.abspath(p)  # not resolved: a symlink keeps the name the user gave it in the outputs
        if os.path.isdir(p):
            files.extend(sorted(glob.glob(os.path.join(glob.escape(p), "*.*"))))
        elif os.path.isfile(p):
            files.append(p)
        elif is_pattern(p):
            files.extend(sorted(glob.glob(p, recursive=True)))
        else:
            raise MissingFile(f"--source {p} does not exist")
    return files


class LoadImages:
    """Iterate over images and video frames, one at a time: yields (path, im, im0, video_capture, log prefix)."""

    def __init__(self, path: str | Path | list, img_size: int | tuple = 640, stride: int = 32, auto: bool = True,
                 vid_stride: int = 1):
        files = expand_paths(path)
        images = [x for x in files if x.split(".")[-1].lower() in IMG_FORMATS]
        videos = [x for x in files if x.split(".")[-1].lower() in VID_FORMATS]
        if not images and not videos:
            raise UserError(f"no images or videos found in {path}; supported formats are images "
                            f"{', '.join(IMG_FORMATS)} and videos {', '.join(VID_FORMATS)}")
        self.files = images + videos
        self.nf = len(self.files)
        self.video_flag = [False] * len(images) + [True] * len(videos)
        self.img_size, self.stride, self.auto = img_size, stride, auto
        self.vid_stride = max(int(vid_stride), 1)
        self.mode = "image"
        self.cap = None
        self.frame = self.frames = 0
        self.count = 0

    def __iter__(self):
        self.count = 0
        return self

    def __next__(self) -> tuple[str, np.ndarray, np.ndarray, cv2.VideoCapture | None, str]:
        while self.count < self.nf:
            path = self.files[self.count]
            if self.video_flag[self.count]:
                frame = self._next_frame(path)
                if frame is None:
                    self.count += 1
                    continue
                s = f"video {self.count + 1}/{self.nf} ({self.frame}/{self.frames}) {path}: "
                im0 = frame
            else:
                self.count += 1
                self.mode = "image"
                try:
                    im0 = read_image(path)  # decoded as training decodes it
                except UnreadableImage as e:
                    LOGGER.warning(f"WARNING ⚠️ skipping {path}: {e}")
                    continue
                s = f"image {self.count}/{self.nf} {path}: "
            return path, to_model_input(im0, self.img_size, self.stride, self.auto), im0, self.cap, s
        raise StopIteration

    def _next_frame(self, path: str) -> np.ndarray | None:
        """The next frame of the video at path (every vid_stride-th), or None once it is exhausted or unreadable."""
        if self.mode != "video" or self.cap is None:
            if not self._open_video(path):
                return None
        grabbed = all(self.cap.grab() for _ in range(self.vid_stride))
        ok, im0 = self.cap.retrieve() if grabbed else (False, None)
        if not ok:
            self.cap.release()
            self.cap, self.mode = None, "image"
            return None
        self.frame += 1
        return im0

    def _open_video(self, path: str) -> bool:
        self.mode, self.frame = "video", 0
        self.cap = cv2.VideoCapture(path)
        if not self.cap.isOpened():
            LOGGER.warning(f"WARNING ⚠️ skipping {path}: not a readable video")
            self.cap, self.mode = None, "image"
            return False
        self.frames = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) / self.vid_stride)
        return True

    def __len__(self) -> int:
        return self.nf


def check_reachable(url: str, timeout: float) -> None:
    """Fail within seconds with a UserError when a stream URL's host does not accept connections."""
    parsed = urlparse(url)
    host, port = parsed.hostname, parsed.port or DEFAULT_PORTS.get(parsed.scheme.lower(), 80)
    if not host:
        raise UserError(f"stream URL '{url}' has no host name")
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as e:
        raise UserError(f"stream {url} is unreachable ({host}:{port}: {e.strerror or e}); "
                        f"check the address and the network") from None


@contextmanager
def quiet_opencv():
    """Hide OpenCV's own backend warnings while probing a camera, so our one clear error is what the user sees."""
    level = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        cv2.utils.logging.setLogLevel(level)


def open_capture(source: str | int, timeout: float) -> cv2.VideoCapture:
    """An opened cv2.VideoCapture for a camera index, stream URL or video file, else a UserError within seconds."""
    if isinstance(source, str) and source.lower().startswith(STREAM_PREFIXES):
        check_reachable(source, timeout)
        ms = int(timeout * 1000)
        cap = cv2.VideoCapture(source, cv2.CAP_FFMPEG,
                               [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms])
        what = f"stream {source}"
    else:
        with quiet_opencv():
            cap = cv2.VideoCapture(source)
        what = f"camera {source}" if isinstance(source, int) else f"video {source}"
    if not cap.isOpened():
        hint = " (no such camera on this machine?)" if isinstance(source, int) else ""
        raise UserError(f"failed to open {what}{hint}")
    return cap


def read_stream_list(sources: str) -> list[str]:
    """Sources named by --source: the lines of a .streams/.txt file, or the single source itself."""
    if os.path.isfile(sources):
        lines = [x.strip() for x in read_text(sources, errors="replace").splitlines()]
        found = [x for x in lines if x and not x.startswith("#")]
        if not found:
            raise UserError(f"{sources} lists no streams (one URL or camera index per line)")
        return found
    return [sources]


class LoadStreams:
    """Read cameras and network streams in background threads; yields the newest frame of every stream as a batch."""

    def __init__(self, sources: str = "file.streams", img_size: int | tuple = 640, stride: int = 32,
                 auto: bool = True, vid_stride: int = 1, timeout: float = 5.0):
        self.mode = "stream"
        self.img_size, self.stride, self.auto = img_size, stride, auto
        self.vid_stride = max(int(vid_stride), 1)
        self.sources = read_stream_list(sources)
        n = len(self.sources)
        self.imgs: list[np.ndarray] = [np.empty(0)] * n
        self.fps = [30.0] * n
        self.frames = [0] * n
        self.threads: list[Thread] = []
        for i, s in enumerate(self.sources):
            source = int(s) if s.isnumeric() else s
            cap = open_capture(source, timeout)
            self._start_reader(i, s, cap)
        LOGGER.info("")
        shapes = np.stack([to_model_input(x, img_size, stride, auto).shape for x in self.imgs])
        self.rect = np.unique(shapes, axis=0).shape[0] == 1 and auto
        if not self.rect:
            LOGGER.warning("WARNING ⚠️ Stream shapes differ. For optimal performance supply similarly-shaped streams.")

    def _start_reader(self, i: int, source: str, cap: cv2.VideoCapture) -> None:
        """Read the first frame now (so a dead stream fails here), then keep reading in a daemon thread."""
        w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = cap.get(cv2.CAP_PROP_FPS)
        n_frames = cap.get(cv2.CAP_PROP_FRAME_COUNT)
        self.frames[i] = int(n_frames) if n_frames > 0 and math.isfinite(n_frames) else int(1e12)
        self.fps[i] = fps if fps and math.isfinite(fps) and fps > 0 else 30.0
        ok, im = cap.read()
        if not ok or im is None:
            cap.release()
            raise UserError(f"failed to read images from {source}")
        self.imgs[i] = im
        thread = Thread(target=self._update, args=(i, cap, source), daemon=True)
        LOGGER.info(f"{i + 1}/{len(self.sources)}: {source}... Success ({self.frames[i]} frames {w}x{h} at "
                    f"{self.fps[i]:.2f} FPS)")
        thread.start()
        self.threads.append(thread)

    def _update(self, i: int, cap: cv2.VideoCapture, source: str) -> None:
        """Keep self.imgs[i] at the newest frame; on a dropped connection show black and try to reconnect."""
        n = 1  # the first frame was read at open
        while cap.isOpened() and n < self.frames[i]:
            n += 1
            if not cap.grab():
                LOGGER.warning(f"WARNING ⚠️ stream {source} unresponsive, please check your camera connection")
                self.imgs[i] = np.zeros_like(self.imgs[i])
                cap.open(int(source) if source.isnumeric() else source)
            elif n % self.vid_stride == 0:
                ok, im = cap.retrieve()
                if ok:
                    self.imgs[i] = im
            time.sleep(0.0)  # let the main thread run
        cap.release()

    def __iter__(self):
        self.count = -1
        return self

    def __next__(self) -> tuple[list[str], np.ndarray, list[np.ndarray], None, str]:
        self.count += 1
        if not all(t.is_alive() for t in self.threads):
            raise StopIteration
        im0 = [x.copy() for x in self.imgs]
        im = np.stack([to_model_input(x, self.img_size, self.stride, self.auto and self.rect) for x in im0])
        return self.sources, np.ascontiguousarray(im), im0, None, ""

    def __len__(self) -> int:
        return len(self.sources)
