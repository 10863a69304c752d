"""Classification `--data`: a dataset folder, a dataset name, or a data YAML, resolved to its split folders and class
names. A name is looked up among the repository's samples (data/coco8-cls), then where YOLOv5 keeps datasets, a
`datasets/` folder beside the repository, then the project's shared data folder (`../shared/datasets`); YOLOv5's
hosted classification sets are downloaded to `datasets/`.
"""

from __future__ import annotations

from pathlib import Path

from utils.data.classify_dataset import class_folders
from utils.data.config import download_and_unzip
from utils.errors import UserError
from utils.files import ROOT, check_file, yaml_load
from utils.logger import LOGGER

DOWNLOAD_DIR = ROOT.parent / "datasets"
DATASETS_DIRS = (ROOT / "data", DOWNLOAD_DIR, ROOT.parent / "shared" / "datasets")  # where a bare name is looked up
HOSTED = ("mnist", "mnist160", "fashion-mnist", "cifar10", "cifar100", "imagenette", "imagenette160",
          "imagenette320", "imagewoof", "imagewoof160", "imagewoof320")  # YOLOv5's release assets (v1.0)
HOSTED_URL = "https://github.com/ultralytics/yolov5/releases/download/v1.0/{}.zip"
DETECTION_FOLDERS = ("images", "labels")
SPLITS = ("train", "val", "test")


def _from_yaml(data: str | Path) -> tuple[Path, dict[str, Path]]:
    """(dataset folder, split folders) of a data YAML: `path` relative to the YAML's folder, splits relative to path
    (default: the train/, val/ and test/ folders under it)."""
    file = Path(check_file(data, search_dirs=("data",))).resolve()
    d = yaml_load(file)
    root = (file.parent / str(d.get("path") or "")).resolve()
    return root, {k: (root / str(d[k])).resolve() for k in SPLITS if d.get(k)} or _splits(root)


def _splits(root: Path) -> dict[str, Path]:
    """The train/, val/ and test/ folders that exist under root."""
    return {k: root / k for k in SPLITS if (root / k).is_dir()}


def _from_name(name: str) -> Path:
    """datasets/<name> beside the repository or in the shared data folder; a hosted set is downloaded."""
    for d in DATASETS_DIRS:
        if (d / name).is_dir():
            return d / name
    target = DOWNLOAD_DIR
    if name not in HOSTED:
        raise UserError(f"--data {name}: dataset not found in {' or '.join(str(d) for d in DATASETS_DIRS)}; put it "
                        f"at {target / name} (train/<class>/*.jpg and val/<class>/*.jpg) or give its folder path")
    url = HOSTED_URL.format(name)
    LOGGER.info(f"Dataset not found ⚠️, downloading {url} ...")
    try:
        download_and_unzip(url, target)
    except UserError:
        raise UserError(f"--data {name}: dataset not found and not downloadable here; fetch {url} and unzip it "
                        f"into {target} (giving {target / name}/train and val)") from None
    if not (target / name).is_dir():
        raise UserError(f"--data {name}: {url} did not unpack to {target / name}")
    return target / name


def _check_layout(root: Path, splits: dict[str, Path], data: str | Path) -> None:
    """Split folders of class folders, not a detection dataset's images/ and labels/."""
    layout = "<data>/train/<class>/*.jpg and <data>/val/<class>/*.jpg"
    if not root.is_dir():
        raise UserError(f"--data {data}: {root} does not exist")
    if any((f / d).is_dir() for f in (root, *splits.values()) for d in DETECTION_FOLDERS):
        raise UserError(f"--data {data}: {root} is a detection dataset (images/ and labels/ folders); "
                        f"classification needs {layout}")
    if not splits:
        raise UserError(f"--data {data}: {root} has no train/, val/ or test/ folder; classification needs {layout}")


def check_cls_dataset(data: str | Path) -> dict:
    """{'path', 'train', 'val', 'test' (absolute folders or None), 'names' {id: class folder name}, 'nc'}; val is
    the val/ folder, else test/. Names come from train/ (else val/, test/), so every split uses the same indices."""
    s = str(data)
    if Path(s).suffix.lower() in (".yaml", ".yml"):
        root, splits = _from_yaml(s)
    else:
        root = Path(s).resolve() if Path(s).exists() or "/" in s or "\\" in s else _from_name(s)
        splits = _splits(root)
    _check_layout(root, splits, data)
    d = {"path": str(root), **{k: str(splits[k]) if k in splits else None for k in SPLITS}}
    d["val"] = d["val"] or d["test"]
    names = class_folders(next(d[k] for k in SPLITS if d[k]))
    return {**d, "names": dict(enumerate(names)), "nc": len(names)}
