"""Data YAMLs (`--data`): checked, with every split resolved to absolute paths, and downloaded when missing.

Path rule: a relative `path` is resolved against the folder of the YAML file that names it (against the current
folder for a dict), and relative `train` / `val` / `test` entries against `path`. So `data/coco8.yaml` with
`path: coco8` means `data/coco8/`, and `data/coco128.yaml` with `path: ../../datasets/coco128` means a `datasets/`
folder beside the repository, where YOLOv5 keeps its datasets.
"""

from __future__ import annotations

import shlex
import subprocess
import zipfile
from pathlib import Path

from utils.data.download_script import run_download_script
from utils.downloads import safe_download
from utils.errors import UserError, WrongType
from utils.files import ROOT, check_file, yaml_load
from utils.logger import LOGGER, colorstr

SPLITS = ("train", "val", "test")
COCO91_MISSING = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)  # COCO category ids that have no images


def coco80_to_coco91_class() -> list[int]:
    """COCO category id (1-90, with gaps) of each of the 80 contiguous class indices, for COCO JSON results."""
    return [i for i in range(1, 91) if i not in COCO91_MISSING]


def _shown(v: object) -> str:
    """A YAML value as the user wrote it, with its type: "the string '2'", "the number 5", "a list"."""
    kinds = {str: "the string", bool: "the boolean", int: "the number", float: "the number"}
    return f"{kinds[type(v)]} {v!r}" if type(v) in kinds else f"a {type(v).__name__}"


def _names_dict(names: object, source: str) -> dict[int, str]:
    """`names` as {id: name} with ids 0..n-1; a list is numbered in order."""
    if isinstance(names, (list, tuple, dict)) and not names:
        raise UserError(f"{source}: 'names' is empty; a dataset has at least one class")
    if isinstance(names, (list, tuple)):
        names = dict(enumerate(names))
    if not isinstance(names, dict):
        raise WrongType(f"{source}: 'names' must be a list of class names or a {{id: name}} mapping, got "
                        f"{_shown(names)}")
    for k, v in names.items():
        if v is None or str(v).strip() == "":
            raise UserError(f"{source}: class {k!r} in 'names' has an empty name")
        if isinstance(v, (list, dict)):
            raise WrongType(f"{source}: class {k!r} in 'names' must be a name, got {_shown(v)}")
    if not all(isinstance(k, int) for k in names):
        raise UserError(f"{source}: 'names' keys must be integers, e.g. '2: car', got {list(names)[:5]}")
    if sorted(names) != list(range(len(names))):
        missing = sorted(set(range(max(names) + 1)) - set(names))
        raise UserError(f"{source}: 'names' ids must be 0..{len(names) - 1} without gaps, missing {missing[:10]}")
    return {k: str(names[k]) for k in sorted(names)}


def _check_nc(nc: object, n_names: int, source: str) -> None:
    """`nc`, when given, is a whole number >= 1 that agrees with the names."""
    if isinstance(nc, bool) or not isinstance(nc, int):
        hint = " (remove the quotes)" if isinstance(nc, str) and nc.strip().isdigit() else ""
        raise WrongType(f"{source}: 'nc' must be a whole number (the class count), got {_shown(nc)}{hint}")
    if nc < 1:
        raise UserError(f"{source}: 'nc: {nc}' is invalid; a dataset has at least one class")
    if nc != n_names:
        raise UserError(f"{source}: nc={nc} but {n_names} names are given; they must agree")


def _check_types(d: dict, source: str) -> None:
    """`path` and `download` are text; each split is a folder, a .txt list of images or a list of those."""
    for k in ("path", "download"):
        if d.get(k) is not None and not isinstance(d[k], str):
            raise WrongType(f"{source}: '{k}' must be text, got {_shown(d[k])}")
    for k in SPLITS:
        v = d.get(k)
        entries = v if isinstance(v, (list, tuple)) else [v]
        if v not in (None, "") and not (entries and all(isinstance(x, str) and x.strip() for x in entries)):
            raise WrongType(f"{source}: '{k}' must be a folder, a .txt list of images or a list of those, got "
                            f"{_shown(v)}")


def _resolve(entry: str | list, root: Path) -> str | list[str]:
    """A split entry (folder, .txt list or a list of those) with relative parts made absolute under root."""
    if isinstance(entry, (list, tuple)):
        return [str((root / str(x)).resolve()) for x in entry]
    return str((root / str(entry)).resolve())


def _missing(d: dict) -> list[str]:
    """The train and val paths of a resolved data dict that do not exist (test is only checked when used)."""
    paths = []
    for k in ("train", "val"):
        if d.get(k):
            paths += d[k] if isinstance(d[k], list) else [d[k]]
    return [p for p in dict.fromkeys(paths) if not Path(p).exists()]


def _safe_extract(zip_file: Path, target: Path) -> None:
    """Unzip into target, refusing members that would land outside it."""
    target = target.resolve()
    with zipfile.ZipFile(zip_file) as z:
        for m in z.namelist():
            if not (target / m).resolve().is_relative_to(target):
                raise UserError(f"{zip_file} holds '{m}', which would be written outside {target}; not extracting")
        z.extractall(target)


def download_and_unzip(urls: str | list[str], folder: str | Path) -> None:
    """Fetch each URL into folder; zip files are extracted there and then deleted."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for url in [urls] if isinstance(urls, str) else urls:
        f = folder / Path(url.split("?")[0]).name
        if not f.exists():
            safe_download(url, f, timeout=30)
        if zipfile.is_zipfile(f):
            LOGGER.info(f"Unzipping {f}...")
            _safe_extract(f, folder)
            f.unlink()


def _shipped_script(command: str, source: str) -> Path:
    """The script of a `bash data/scripts/x.sh` download line; scripts from anywhere else are refused."""
    try:
        parts = shlex.split(command)
    except ValueError:  # unbalanced quotes
        parts = []
    scripts = (ROOT / "data" / "scripts").resolve()
    script = (ROOT / parts[1]).resolve() if len(parts) == 2 else None
    if script is None or not script.is_relative_to(scripts) or not script.is_file():
        raise UserError(f"{source}: 'download: {command}' was not run; only `bash <script>` with a script shipped in "
                        f"{scripts} is (a command in a data YAML could do anything)")
    return script


def _run_download(d: dict, root: Path, source: str) -> None:
    """Do the YAML's `download`: a URL (zip unpacked beside `path`), a shipped bash script, or a download script."""
    s = str(d["download"]).strip()
    if s.startswith(("http://", "https://")):
        download_and_unzip(s, root.parent)
    elif s.startswith("bash "):
        script = _shipped_script(s, source)
        LOGGER.info(f"Running bash {script} ...")
        if subprocess.run(["bash", str(script)], cwd=ROOT).returncode:
            raise UserError(f"{source}: download script '{s}' failed")
    else:  # YOLOv5's Python form, interpreted (never exec'd): it sees the data dict as `yaml`
        run_download_script(s, d, download_and_unzip, source)


def _download_dataset(d: dict, root: Path, missing: list[str], source: str) -> None:
    """Fetch a missing dataset, or fail with one message that says what to get and where it goes."""
    where = f"put the dataset at {root} (so that {', '.join(missing)} exist)"
    if not d.get("download"):
        raise UserError(f"dataset not found: {', '.join(missing)} missing; {source} has no 'download' key, {where}")
    LOGGER.info(f"{colorstr('bold', 'Dataset not found ⚠️')}, missing paths {missing}; downloading...")
    try:
        _run_download(d, root, source)
    except UserError as e:
        raise UserError(f"dataset not found and its download failed: {e}. Alternatively, {where}") from None
    still = _missing(d)
    if still:
        raise UserError(f"the download of {source} did not create {', '.join(still)}; {where}")
    LOGGER.info(f"Dataset download success ✅, saved to {colorstr('bold', root)}")


def _load(data: str | Path | dict) -> tuple[dict, Path, str]:
    """(data dict, folder that relative paths start from, name for messages)."""
    if isinstance(data, dict):
        return dict(data), Path.cwd(), "data dict"
    if Path(str(data)).suffix.lower() not in (".yaml", ".yml"):
        raise UserError(f"--data {data} should be a data YAML file (.yaml or .yml)")
    file = Path(check_file(data, search_dirs=("data",))).resolve()
    return yaml_load(file), file.parent, str(file)


def check_dataset(data: str | Path | dict, autodownload: bool = True) -> dict:
    """The data YAML checked and resolved: path, train, val, test absolute; names {id: name}; nc = len(names)."""
    d, base, source = _load(data)
    for k in ("train", "val", "names"):
        if k not in d or d[k] in (None, ""):
            raise UserError(f"{source}: '{k}:' field missing (a data YAML needs train, val and names)")
    _check_types(d, source)
    d["names"] = _names_dict(d["names"], source)
    if d.get("nc") is not None:
        _check_nc(d["nc"], len(d["names"]), source)
    d["nc"] = len(d["names"])
    root = (base / str(d.get("path") or "")).resolve()
    d["path"] = str(root)
    for k in SPLITS:
        if d.get(k):
            d[k] = _resolve(d[k], root)
    missing = _missing(d)
    if missing:
        if not autodownload:
            raise UserError(f"dataset not found: {', '.join(missing)} missing (automatic download is off)")
        _download_dataset(d, root, missing, source)
    return d
