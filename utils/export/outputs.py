"""What every converter shares: the optional package it needs, all-or-nothing output paths, metadata files."""

from __future__ import annotations

import contextlib
import importlib
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from utils.errors import UserError
from utils.files import yaml_save


def require(module: str, package: str, what: str) -> ModuleType:
    """Import an optional runtime or converter, or fail this format with one line naming the package."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"{what} needs the {package} package: pip install {package} "
                        f"(or pip install -r requirements-export.txt)") from None


def remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def atomic_output(final: Path) -> Iterator[Path]:
    """A hidden sibling to write into, moved to `final` only when the block succeeds: a failed export leaves nothing."""
    tmp = final.with_name(f".{final.name}.partial")
    remove(tmp)
    try:
        yield tmp
        remove(final)
        tmp.rename(final)
    finally:
        remove(tmp)


def metadata_text(meta: dict) -> str:
    """YOLOv5's metadata string: str(dict), a Python literal with integer class keys (read with ast.literal_eval)."""
    return str(meta)


def write_yaml_metadata(folder: Path, meta: dict, name: str = "metadata.yaml") -> None:
    """stride and names beside a model folder's files, as YOLOv5 (OpenVINO, Paddle) and Ultralytics (NCNN, TF) do."""
    yaml_save(folder / name, meta)


def append_zip_metadata(tflite: Path, meta: dict) -> None:
    """YOLOv5's TFLite metadata: a zip holding meta.txt appended to the flatbuffer, which the interpreter ignores."""
    with zipfile.ZipFile(tflite, "a", zipfile.ZIP_DEFLATED) as z:
        z.writestr("meta.txt", metadata_text(meta))
