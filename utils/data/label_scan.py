"""One checked pass over a dataset's images and label files, remembered in a pickle-free `<labels dir>.cache`.

Every image is decoded as the loader decodes it (utils/data/image_decode), every label row parsed and
range-checked; a bad file is reported by name and left out, the rest go on. The cache stores the outcome with a
version and a hash of the file list, sizes and times, so that any change to the dataset (or to nc) rebuilds it;
an unreadable cache is rebuilt too, never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from multiprocessing.pool import ThreadPool
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from utils.files import is_writeable, read_text
from utils.data.image_decode import read_image
from utils.logger import LOGGER
from utils.data.segments import boxes2segments, segments2boxes
from utils.distributed import local_rank

CACHE_VERSION = "yolo-labels-2"  # 2: images decoded by the loader's decoder
NUM_THREADS = min(8, max(1, os.cpu_count() or 1))
TQDM_BAR_FORMAT = "{l_bar}{bar:10}{r_bar}"
JPEG_START, JPEG_END = b"\xff\xd8", b"\xff\xd9"
MIN_IMAGE_SIDE = 10


@dataclass
class LabelCheck:
    """What the scan found for one image: status is 'found', 'missing', 'empty' (both backgrounds) or 'corrupt'."""

    im_file: str
    status: str
    labels: np.ndarray = field(default_factory=lambda: np.zeros((0, 5), dtype=np.float32))
    shape: tuple[int, int] = (0, 0)  # (width, height)
    segments: list = field(default_factory=list)
    msg: str = ""


@dataclass
class LabelIndex:
    """The usable images of a dataset with their labels, plus the counts and warnings of the scan."""

    im_files: list[str]
    labels: list[np.ndarray]
    shapes: np.ndarray  # (n, 2) width, height
    segments: list[list[np.ndarray]]
    counts: dict  # found, missing, empty, corrupt
    msgs: list[str]
    backgrounds: list[str]  # 'file (reason)' for each image used without labels

    def summary(self) -> str:
        c = self.counts
        return f"{c['found']} images, {c['missing'] + c['empty']} backgrounds, {c['corrupt']} corrupt"


def _restore_jpeg(im_file: str, prefix: str) -> str:
    """Rewrite a JPEG that lacks its end marker (a truncated download) so it decodes cleanly; say what happened."""
    if not is_writeable(Path(im_file).parent):
        return f"{prefix}WARNING ⚠️ {im_file}: corrupt JPEG (truncated), folder is read-only so it is used as decoded"
    im = cv2.imread(im_file)
    if im is None or not cv2.imwrite(im_file, im, [cv2.IMWRITE_JPEG_QUALITY, 100]):
        raise ValueError("truncated JPEG that cannot be decoded")
    return f"{prefix}WARNING ⚠️ {im_file}: corrupt JPEG restored and saved"


def _verify_image(im_file: str, prefix: str) -> tuple[tuple[int, int], str]:
    """(width, height) of an image decoded exactly as training decodes it, and a note about it; ValueError says why
    an image is unusable (UnreadableImage is one)."""
    h, w = read_image(im_file).shape[:2]
    if h < MIN_IMAGE_SIDE or w < MIN_IMAGE_SIDE:
        raise ValueError(f"image size {(w, h)} <{MIN_IMAGE_SIDE} pixels")
    with open(im_file, "rb") as f:
        jpeg = f.read(2) == JPEG_START
        f.seek(-2, 2)
        if jpeg and f.read() != JPEG_END:
            return (w, h), _restore_jpeg(im_file, prefix)
    return (w, h), ""


def _parse_row(values: list[str], line: int, nc: int | None) -> tuple[list[float], np.ndarray | None]:
    """One label row -> ([cls, x, y, w, h], polygon or None); ValueError names the line and what is wrong."""
    n = len(values)
    if n != 5 and (n < 7 or n % 2 == 0):
        raise ValueError(f"line {line} has {n} columns, expected 5 (class x y w h) or a polygon (class x1 y1 x2 y2...)")
    try:
        v = np.array(values, dtype=np.float64)
    except ValueError:
        raise ValueError(f"line {line} has a value that is not a number: {' '.join(values)}") from None
    if not np.isfinite(v).all():
        raise ValueError(f"line {line} has a non-finite value (NaN or inf): {' '.join(values)}")
    cls = v[0]
    if cls < 0 or cls != int(cls):
        raise ValueError(f"line {line} has class {values[0]}, expected a non-negative integer")
    if nc is not None and cls >= nc:
        raise ValueError(f"line {line} has class {int(cls)}, out of range for nc={nc} (classes 0-{nc - 1})")
    if (v[1:] < 0).any() or (v[1:] > 1).any():
        raise ValueError(f"line {line} has coordinates outside [0, 1] (labels must be normalized): {' '.join(values)}")
    if n == 5:
        return list(v), None
    polygon = v[1:].reshape(-1, 2).astype(np.float32)
    return [cls, *segments2boxes([polygon])[0]], polygon


def read_label_file(lb_file: str, nc: int | None = None) -> tuple[np.ndarray, list[np.ndarray], int]:
    """Rows of a YOLO label file as (labels (n, 5), polygons, number of duplicate rows removed)."""
    lines = read_text(lb_file).splitlines()  # a byte-order mark and CRLF ends from Windows editors are not data
    parsed = [_parse_row(line.split(), i + 1, nc) for i, line in enumerate(lines) if line.strip()]
    if not parsed:
        return np.zeros((0, 5), dtype=np.float32), [], 0
    labels = np.array([p[0] for p in parsed], dtype=np.float32)
    polygons = [p[1] for p in parsed]
    has_polygons = any(p is not None for p in polygons)
    _, first = np.unique(labels, axis=0, return_index=True)
    first = np.sort(first)  # keep the original order of the rows that stay
    # with any polygon row, every row gets one (a box row becomes its 4 corners) so augmentations can warp them all
    segments = [polygons[i] if polygons[i] is not None else boxes2segments(labels[i, 1:])[0] for i in first
                ] if has_polygons else []
    return labels[first], segments, len(labels) - len(first)


def verify_image_label(im_file: str, lb_file: str, prefix: str = "", nc: int | None = None) -> LabelCheck:
    """Check one image and its label file; never raises, a problem becomes status 'corrupt' with a message."""
    try:
        shape, note = _verify_image(im_file, prefix)
        if not os.path.isfile(lb_file):
            return LabelCheck(im_file, "missing", shape=shape, msg=note)
        labels, segments, dupes = read_label_file(lb_file, nc)
    except (ValueError, OSError) as e:  # UnicodeDecodeError is a ValueError
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        msg = f"{prefix}WARNING ⚠️ {im_file}: ignoring corrupt image/label: {reason}"
        return LabelCheck(im_file, "corrupt", msg=msg)
    if dupes:
        note = "\n".join(x for x in (note, f"{prefix}WARNING ⚠️ {im_file}: {dupes} duplicate labels removed") if x)
    status = "found" if len(labels) else "empty"
    return LabelCheck(im_file, status, labels=labels, shape=shape, segments=segments, msg=note)


def files_hash(files: list[str], nc: int | None) -> str:
    """Fingerprint of the dataset: every path with its size and modification time, the class count and version."""
    h = hashlib.sha256(f"{CACHE_VERSION}|nc={nc}".encode())
    for f in files:
        try:
            st = os.stat(f)
            h.update(f"|{f}:{st.st_size}:{st.st_mtime_ns}".encode())
        except OSError:
            h.update(f"|{f}:absent".encode())
    return h.hexdigest()


def label_cache_path(path: str | Path | list, label_files: list[str]) -> Path:
    """`<labels dir>.cache` beside the first labels folder, or `<list>.cache` beside a .txt image list."""
    if isinstance(path, (str, Path)) and Path(path).is_file():
        return Path(path).with_suffix(".cache")
    return Path(label_files[0]).parent.with_suffix(".cache")


def _pack(index: LabelIndex, file_hash: str) -> dict[str, np.ndarray]:
    """A LabelIndex as plain arrays (no Python objects), ready for np.savez."""
    segs = [s for per_image in index.segments for s in per_image]
    meta = {"version": CACHE_VERSION, "hash": file_hash, "counts": index.counts, "msgs": index.msgs,
            "backgrounds": index.backgrounds}
    return {
        "meta": np.array(json.dumps(meta)),
        "im_files": np.array(index.im_files, dtype=str),
        "shapes": np.asarray(index.shapes, dtype=np.int64).reshape(-1, 2),
        "labels": np.concatenate(index.labels, 0) if index.labels else np.zeros((0, 5), np.float32),
        "label_counts": np.array([len(x) for x in index.labels], dtype=np.int64),
        "seg_points": np.concatenate(segs, 0) if segs else np.zeros((0, 2), np.float32),
        "seg_lengths": np.array([len(s) for s in segs], dtype=np.int64),
        "seg_counts": np.array([len(x) for x in index.segments], dtype=np.int64),
    }


def _split(arr: np.ndarray, counts: np.ndarray) -> list[np.ndarray]:
    """arr cut into consecutive pieces of the given lengths."""
    return np.split(arr, np.cumsum(counts)[:-1]) if len(counts) else []


def _unpack(z: dict) -> LabelIndex:
    """The inverse of _pack."""
    meta = json.loads(str(z["meta"]))
    segs = _split(z["seg_points"], z["seg_lengths"])
    per_image = _split(np.arange(len(segs)), z["seg_counts"])
    return LabelIndex(im_files=[str(x) for x in z["im_files"]], labels=_split(z["labels"], z["label_counts"]),
                      shapes=z["shapes"], segments=[[segs[i] for i in ids] for ids in per_image],
                      counts=meta["counts"], msgs=meta["msgs"], backgrounds=meta["backgrounds"])


def load_cache(cache_path: Path, file_hash: str) -> LabelIndex | None:
    """The cached scan when it exists, loads without pickle and matches version and hash; None otherwise."""
    if not cache_path.is_file():
        return None
    try:
        with np.load(cache_path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays["meta"]))
        if meta.get("version") != CACHE_VERSION or meta.get("hash") != file_hash:
            return None
        return _unpack(arrays)
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError) as e:
        LOGGER.info(f"Label cache {cache_path} is unreadable ({type(e).__name__}: {e}), rescanning")
        return None


def save_cache(cache_path: Path, index: LabelIndex, file_hash: str, prefix: str = "") -> None:
    """Write the cache atomically; a read-only dataset only gets a warning."""
    if not is_writeable(cache_path.parent):
        LOGGER.warning(f"{prefix}WARNING ⚠️ Cache directory {cache_path.parent} is not writeable")
        return
    tmp = cache_path.with_name(cache_path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **_pack(index, file_hash))
        tmp.replace(cache_path)
        LOGGER.info(f"{prefix}New cache created: {cache_path}")
    except OSError as e:
        tmp.unlink(missing_ok=True)
        LOGGER.warning(f"{prefix}WARNING ⚠️ Cache directory {cache_path.parent} is not writeable: {e}")


def _scan(im_files: list[str], label_files: list[str], desc: str, prefix: str, nc: int | None) -> LabelIndex:
    """Check every image/label pair in parallel, with YOLOv5's running 'N images, M backgrounds, K corrupt' bar."""
    index = LabelIndex([], [], np.zeros((0, 2), np.int64), [], dict(found=0, missing=0, empty=0, corrupt=0), [], [])
    shapes = []
    reasons = {"missing": "no label file", "empty": "empty label file"}
    with ThreadPool(NUM_THREADS) as pool:
        results = pool.imap(lambda a: verify_image_label(*a, prefix, nc), zip(im_files, label_files))
        pbar = tqdm(results, desc=desc, total=len(im_files), bar_format=TQDM_BAR_FORMAT, disable=local_rank() > 0)
        for r in pbar:
            index.counts[r.status] += 1
            if r.msg:
                index.msgs.append(r.msg)
            if r.status != "corrupt":
                index.im_files.append(r.im_file)
                index.labels.append(r.labels)
                index.segments.append(r.segments)
                shapes.append(r.shape)
            if r.status in reasons:
                index.backgrounds.append(f"{r.im_file} ({reasons[r.status]})")
            pbar.desc = f"{desc} {index.summary()}"
        pbar.close()
    index.shapes = np.array(shapes, dtype=np.int64).reshape(-1, 2)
    return index


def report(index: LabelIndex, prefix: str = "", shown: int = 5) -> None:
    """Log every warning of a scan and name the images used as backgrounds (the first few of them)."""
    if index.msgs:
        LOGGER.info("\n".join(index.msgs))
    if index.backgrounds:
        more = len(index.backgrounds) - shown
        names = ", ".join(index.backgrounds[:shown]) + (f" and {more} more" if more > 0 else "")
        LOGGER.info(f"{prefix}{len(index.backgrounds)} images without labels are used as backgrounds: {names}")


def scan_labels(im_files: list[str], label_files: list[str], cache_path: Path, prefix: str = "",
                nc: int | None = None) -> LabelIndex:
    """The checked dataset: from the cache when it is current, else from a fresh scan that is then cached."""
    index = load_cache(cache_path, files_hash(label_files + im_files, nc))
    if index is not None:
        n = len(im_files)
        tqdm(None, desc=f"{prefix}Scanning {cache_path}... {index.summary()}", total=n, initial=n,
             bar_format=TQDM_BAR_FORMAT, disable=local_rank() > 0).close()
    else:
        index = _scan(im_files, label_files, f"{prefix}Scanning {cache_path.parent / cache_path.stem}...", prefix, nc)
        save_cache(cache_path, index, files_hash(label_files + im_files, nc), prefix)
    report(index, prefix)
    return index
