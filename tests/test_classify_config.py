"""Classification --data: a folder, a name (repository samples, ../datasets, the shared folder), a YAML; detection
datasets, folders without splits and unknown names are one line each."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import shared_path
from utils.data import classify_config
from utils.data.classify_config import check_cls_dataset
from utils.errors import UserError
from utils.files import ROOT


def test_folder_path():
    d = check_cls_dataset(ROOT / "data" / "coco8-cls")
    assert d["names"] == {0: "book", 1: "person", 2: "spoon"} and d["nc"] == 3
    assert d["train"].endswith("coco8-cls/train") and d["val"].endswith("coco8-cls/val") and d["test"] is None


def test_name_finds_the_sample_and_the_shared_dataset(monkeypatch, tmp_path):
    assert check_cls_dataset("coco8-cls")["nc"] == 3
    shared = shared_path("datasets/coco128-cls")
    monkeypatch.setattr(classify_config, "DATASETS_DIRS", (tmp_path, shared.parent))
    d = check_cls_dataset("coco128-cls")
    assert d["nc"] == 12 and d["names"][7] == "person" and Path(d["val"]) == shared / "val"


def test_missing_name_says_where_to_put_it(monkeypatch, tmp_path):
    monkeypatch.setattr(classify_config, "DATASETS_DIRS", (tmp_path,))
    monkeypatch.setattr(classify_config, "DOWNLOAD_DIR", tmp_path)
    with pytest.raises(UserError, match=f"put it at {tmp_path}/flowers"):
        check_cls_dataset("flowers")


def test_hosted_name_offline_says_what_to_fetch(monkeypatch, tmp_path):
    def offline(url, folder):
        raise UserError("could not download")

    monkeypatch.setattr(classify_config, "DATASETS_DIRS", (tmp_path,))
    monkeypatch.setattr(classify_config, "DOWNLOAD_DIR", tmp_path)
    monkeypatch.setattr(classify_config, "download_and_unzip", offline)
    with pytest.raises(UserError, match=r"fetch https://\S+/mnist160\.zip and unzip it into"):
        check_cls_dataset("mnist160")


def test_yaml_with_path_and_test_split(tmp_path):
    root = tmp_path / "ds"
    shutil.copytree(ROOT / "data" / "coco8-cls" / "val", root / "test")
    (tmp_path / "ds.yaml").write_text("path: ds\n")
    d = check_cls_dataset(tmp_path / "ds.yaml")
    assert d["train"] is None and d["val"] == d["test"] == str(root / "test") and d["nc"] == 3


def test_detection_dataset_is_one_line():
    with pytest.raises(UserError, match="is a detection dataset"):
        check_cls_dataset(ROOT / "data" / "coco8")
    with pytest.raises(UserError, match="is a detection dataset"):
        check_cls_dataset("coco8")


def test_folder_without_splits_is_one_line(tmp_path):
    (tmp_path / "cats").mkdir()
    with pytest.raises(UserError, match="no train/, val/ or test/ folder"):
        check_cls_dataset(tmp_path)
    with pytest.raises(UserError, match="does not exist"):
        check_cls_dataset(tmp_path / "nowhere")
