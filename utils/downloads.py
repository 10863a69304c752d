"""Downloads that fail fast offline with one line saying what to fetch and where to put it."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

from utils.errors import MissingFile, UserError
from utils.logger import LOGGER

GITHUB_RELEASE = "https://github.com/ultralytics/yolov5/releases/download/v7.0"
STANDARD_WEIGHTS = tuple(f"yolov5{s}{p}.pt" for s in "nsmlx" for p in ("", "6"))


def safe_download(url: str, file: str | Path, timeout: float = 10.0) -> Path:
    """Download url to file through a temporary name, so an interrupted download leaves nothing behind."""
    file = Path(file)
    tmp = file.with_name(file.name + ".part")
    LOGGER.info(f"Downloading {url} to {file}...")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(tmp, "wb") as f:
            shutil.copyfileobj(response, f)
        tmp.replace(file)
    except Exception as e:  # offline, DNS failure, HTTP error, timeout: all mean the same to the user
        tmp.unlink(missing_ok=True)
        raise UserError(
            f"could not download {url} ({type(e).__name__}: {e}). "
            f"Download it by hand on a machine with internet access and put it at {file.resolve()}"
        ) from None
    return file


def attempt_download(file: str | Path) -> str:
    """Return a local weights file; fetch YOLOv5's standard release weights when missing."""
    if Path(file).exists():  # taken literally first: it's.pt is a file name, not a quoted string
        return str(file)
    path = Path(str(file).strip().replace("'", ""))  # YOLOv5's cleanup of a name pasted with its quotes
    if path.exists():
        return str(path)
    if path.name in STANDARD_WEIGHTS:
        safe_download(f"{GITHUB_RELEASE}/{path.name}", path)
        return str(path)
    raise MissingFile(f"weights file not found: {file}")
