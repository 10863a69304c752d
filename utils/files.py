"""Paths, run folders and YAML files: how scripts find what the user named."""

from __future__ import annotations

import codecs
import glob
import itertools
import os
import re
import socket
import time
from pathlib import Path

import yaml

from utils.errors import MissingFile, UserError

ROOT = Path(__file__).resolve().parents[1]  # repository root


def root_rel() -> Path:
    """ROOT as YOLOv5's CLI defaults show it: relative to the working directory of the moment (not the one at import)."""
    return Path(os.path.relpath(ROOT, Path.cwd()))




def run_folder(project: str | Path, name: str, exist_ok: bool = False, labels: bool = False) -> Path:
    """The run folder of a val or predict command, claimed at once (project/name, name2, ...), with its labels/
    subfolder when --save-txt writes there."""
    save_dir = increment_path(Path(project) / name, exist_ok=exist_ok, mkdir=True)
    if labels:
        _make_folder(save_dir / "labels", exist_ok=True)
    return save_dir


def increment_path(path: str | Path, exist_ok: bool = False, sep: str = "", mkdir: bool = False) -> Path:
    """runs/exp -> runs/exp2, runs/exp3 ... so that a new run never overwrites an old one. With mkdir the folder is
    claimed by creating it, so two runs started at the same moment never get the same one."""
    path = Path(path)
    if exist_ok:
        if mkdir:
            _make_folder(path, exist_ok=True)
        return path
    stem, suffix = (path.with_suffix(""), path.suffix) if path.is_file() else (path, "")
    for n in range(1, 10_000):
        candidate = path if n == 1 else Path(f"{stem}{sep}{n}{suffix}")
        if candidate.exists():
            continue
        if not mkdir:
            return candidate
        try:
            _make_folder(candidate, exist_ok=False)
            return candidate
        except FileExistsError:  # another process took it between the check and the mkdir
            continue
    raise UserError(f"{path}: 10000 numbered folders exist already; choose another --name")


def _make_folder(path: Path, exist_ok: bool) -> None:
    """mkdir -p; a folder that cannot be made (read-only disk, no permission, full disk) is one line naming it."""
    try:
        path.mkdir(parents=True, exist_ok=exist_ok)
    except FileExistsError:
        if not exist_ok:  # taken by another run since increment_path looked: it tries the next number
            raise
        raise UserError(f"cannot create the folder {path}: a file of that name is in the way") from None
    except OSError as e:
        raise UserError(f"cannot create the folder {path}: {e.strerror}; choose a writable --project") from None


class RunLock:
    """One process at a time in a run folder: a second one is refused in one line while the first runs.

    An OS lock on <folder>/.lock, so the kernel releases it when its holder dies; a killed run never leaves a folder
    locked. While held, no other run can be writing, so temporary files found in the folder are a dead run's."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.fd: int | None = None

    def __enter__(self) -> RunLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            _lock(fd)
        except OSError:
            holder = os.read(fd, 200).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise UserError(f"{self.folder} is in use by another run ({holder}); wait for it to end or choose "
                            f"another --name") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%Y-%m-%d %H:%M:%S')}".encode())
        self.fd = fd
        for tmp in [*self.folder.glob(".*.tmp"), *self.folder.glob("*/.*.tmp")]:
            tmp.unlink(missing_ok=True)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.close(self.fd)  # releases the lock; the file stays, deleting it would race with the next holder
            self.fd = None


def _lock(fd: int) -> None:
    """Take an exclusive, non-blocking OS lock on an open file; OSError when another process holds it."""
    if os.name == "nt":
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    else:
        import fcntl

        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)


UNSAFE_IN_NAMES = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')  # separators, control and Windows-reserved characters
WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


def safe_filename(name: object, fallback: str = "item", max_bytes: int = 200) -> str:
    """One harmless path component from an untrusted string (a class name from a checkpoint, an image name): no
    separators, no '..', no leading dot, no control characters, not too long. Use it wherever a name becomes a file."""
    s = UNSAFE_IN_NAMES.sub("_", str(name)).strip().lstrip(".").rstrip(". ")
    s = s.encode()[:max_bytes].decode(errors="ignore").rstrip(". ")
    if s.split(".")[0].upper() in WINDOWS_DEVICES:
        s = f"_{s}"
    return s or fallback


def is_pattern(path: str | Path) -> bool:
    """True for a glob pattern (*, ?, [...]); callers ask only about paths that do not exist, which are literal."""
    return any(c in str(path) for c in "*?[")


def read_text(file: str | Path, errors: str = "strict") -> str:
    """A text file as other tools save it: UTF-8 with or without a byte-order mark (Windows editors), or UTF-16 with
    one ('Unicode' in Notepad); CRLF line ends are left to str.splitlines()."""
    data = Path(file).read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors=errors)
    return data.decode("utf-8-sig", errors=errors)


class OutputNames:
    """A distinct output stem per source, so that no two sources write one file: the first keeps its stem, a later
    one with the same stem (a.png after a.jpg, or a.jpg of another folder) gets <stem>_<ext>, then <stem>_2, _3 ..."""

    def __init__(self):
        self.stems: dict[str, str] = {}
        self.taken: set[str] = set()  # lower-case: a.jpg and A.png would share a file on Windows and macOS

    def stem(self, source: str | Path) -> str:
        key = str(source)
        if key not in self.stems:
            p = Path(key)
            own = [p.stem, f"{p.stem}_{p.suffix[1:]}"] if p.suffix else [p.stem]
            candidates = itertools.chain(own, (f"{p.stem}_{n}" for n in itertools.count(2)))
            self.stems[key] = next(c for c in candidates if c.lower() not in self.taken)
            self.taken.add(self.stems[key].lower())
        return self.stems[key]


def check_file(file: str | Path, search_dirs: tuple[str, ...] = ("data", "models", "utils")) -> str:
    """Return an existing file: the path as given (always literally), or a bare name found under the repository's
    folders."""
    file = str(file)
    if not file or Path(file).is_file():
        return file
    if file.startswith(("http:/", "https:/")):
        from utils.downloads import safe_download

        name = Path(file.split("?")[0]).name
        safe_download(file, name)
        return name
    found = [f for d in search_dirs for f in glob.glob(str(ROOT / d / "**" / glob.escape(file)), recursive=True)]
    if not found:
        raise MissingFile(f"file not found: '{file}' (looked in the current folder and in {', '.join(search_dirs)}/)")
    if len(found) > 1:
        raise UserError(f"'{file}' is ambiguous, it matches {found}; give the full path")
    return found[0]


def check_yaml(file: str | Path, suffix: tuple[str, ...] = (".yaml", ".yml")) -> str:
    """Like check_file, but the name must end in .yaml or .yml."""
    if Path(str(file)).suffix.lower() not in suffix:
        raise UserError(f"'{file}' should be a YAML file ({', '.join(suffix)})")
    return check_file(file)


def yaml_load(file: str | Path) -> dict:
    """Read a YAML file with the safe loader only: tags such as !!python/object are refused."""
    try:
        text = read_text(file, errors="ignore")
        if not text.isprintable():  # strip control characters that the YAML parser rejects
            text = re.sub(r"[^\x09\x0A\x0D\x20-\x7E\x85\xA0-\uD7FF\uE000-\uFFFD\U00010000-\U0010ffff]+", "", text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise UserError(f"{file} is not a valid (safe) YAML file: {e}") from None
    except OSError as e:
        raise UserError(f"cannot read {file}: {e.strerror}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UserError(f"{file} should hold a YAML mapping (key: value), found {type(data).__name__}")
    return data


def yaml_save(file: str | Path, data: dict) -> None:
    """Write a dict as YAML, paths as plain strings."""
    with open(file, "w", encoding="utf-8") as f:
        yaml.safe_dump({k: str(v) if isinstance(v, Path) else v for k, v in data.items()}, f, sort_keys=False)


def file_size(path: str | Path) -> float:
    """Size of a file or folder in MB."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size / 1e6
    if path.is_dir():
        return sum(f.stat().st_size for f in path.glob("**/*") if f.is_file()) / 1e6
    return 0.0


def is_writeable(folder: str | Path) -> bool:
    """True when folder is meant to be written: writable for us and with a write bit set (root ignores the bits)."""
    try:
        return os.access(folder, os.W_OK) and bool(Path(folder).stat().st_mode & 0o222)
    except OSError:
        return False
