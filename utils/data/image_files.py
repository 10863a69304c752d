"""Which files are images and where their YOLO label files live."""

from __future__ import annotations

import glob
import os
from pathlib import Path

from utils.errors import MissingFile, UserError
from utils.files import read_text

IMG_FORMATS = ("bmp", "dng", "jpeg", "jpg", "mpo", "png", "tif", "tiff", "webp")
VID_FORMATS = ("asf", "avi", "gif", "m4v", "mkv", "mov", "mp4", "mpeg", "mpg", "ts", "wmv")


def img2label_paths(img_paths: list[str]) -> list[str]:
    """Label file of each image: the last /images/ in its path becomes /labels/, its extension .txt."""
    sa, sb = f"{os.sep}images{os.sep}", f"{os.sep}labels{os.sep}"
    return [sb.join(p.rsplit(sa, 1)).rsplit(".", 1)[0] + ".txt" for p in img_paths]


def _files_in_list(txt: Path) -> list[str]:
    """Image paths listed one per line in a .txt file; relative lines are relative to that file's folder."""
    lines = [x.strip() for x in read_text(txt, errors="ignore").splitlines() if x.strip()]
    return [x if os.path.isabs(x) else os.path.normpath(txt.parent / x) for x in lines]


def list_image_files(path: str | Path | list, prefix: str = "") -> list[str]:
    """Sorted image files named by a folder (searched recursively), a .txt list of images, or a list of those."""
    files = []
    for p in path if isinstance(path, (list, tuple)) else [path]:
        p = Path(p)
        if p.is_dir():
            files += glob.glob(os.path.join(glob.escape(str(p)), "**", "*.*"), recursive=True)  # cam[1] literally
        elif p.is_file():
            files += _files_in_list(p)
        else:
            raise MissingFile(f"{prefix}{p} does not exist (an image folder or a .txt list of images was expected)")
    images = sorted(x.replace("/", os.sep) for x in files if x.rsplit(".", 1)[-1].lower() in IMG_FORMATS)
    if not images:
        raise UserError(f"{prefix}no images found in {path}. Supported image formats are {', '.join(IMG_FORMATS)}")
    return images
