"""What every converter shares: the optional package it needs, all-or-nothing output paths, metadata files."""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import shutil
import sys
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


def find_program(name: str, what: str, install: str, package: str | None = None) -> str:
    """A converter program inside its Python package, beside this Python (a venv's bin/ is there even when the venv
    is not activated), then on PATH; else one line naming what was looked for where."""
    exe = name + (".exe" if os.name == "nt" else "")
    folders = []
    spec = importlib.util.find_spec(package) if package else None
    if spec and spec.origin:
        folders += [Path(spec.origin).parent, Path(spec.origin).parent / "bin"]
    folders.append(Path(sys.executable).parent)  # not resolved: venv/bin/python is a link out of the venv
    found = next((str(d / exe) for d in folders if (d / exe).is_file() and os.access(d / exe, os.X_OK)), None)
    found = found or shutil.which(name)
    if found is None:
        raise UserError(f"{what} needs the {name} program ({install}); looked in {', '.join(map(str, folders))} "
                        f"and on PATH")
    return found


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
