"""Data YAML checks: path resolution, names, nc, missing keys, downloads and their offline failure."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.data_helpers import copy_coco8
from utils.data import config as data_config
from utils.data.config import check_dataset, coco80_to_coco91_class
from utils.errors import UserError
from utils.files import ROOT


def _write_yaml(folder: Path, d: dict, name: str = "data.yaml") -> Path:
    f = folder / name
    f.write_text(yaml.safe_dump(d))
    return f


def test_shipped_coco8_resolves_against_its_folder_by_bare_name():
    d = check_dataset("coco8.yaml")
    assert d["path"] == str(ROOT / "data" / "coco8")
    assert d["train"] == str(ROOT / "data/coco8/images/train") and d["val"] == str(ROOT / "data/coco8/images/val")
    assert d["nc"] == 80 and d["names"][0] == "person" and d["names"][79] == "toothbrush"
    assert len(list(Path(d["train"]).glob("*.jpg"))) == 4 and len(list(Path(d["val"]).glob("*.jpg"))) == 4
    assert sum(f.stat().st_size for f in (ROOT / "data/coco8").rglob("*.jpg")) < 2e6


def test_shipped_yamls_agree_on_names_and_layout():
    names = [yaml.safe_load((ROOT / "data" / f).read_text())["names"] for f in ("coco8.yaml", "coco128.yaml",
                                                                                "coco.yaml")]
    assert names[0] == names[1] == names[2] and sorted(names[0]) == list(range(80))
    coco128 = yaml.safe_load((ROOT / "data/coco128.yaml").read_text())
    assert coco128["download"] == "https://ultralytics.com/assets/coco128.zip"
    assert coco128["train"] == coco128["val"] == "images/train2017"


def test_coco128_yaml_with_path_pointed_at_a_local_copy(coco128, tmp_path):
    d = yaml.safe_load((ROOT / "data/coco128.yaml").read_text())
    d["path"] = str(coco128)
    out = check_dataset(_write_yaml(tmp_path, d))
    assert out["train"] == str((coco128 / "images" / "train2017").resolve()) and out["nc"] == 80  # ../shared may be a link


def test_names_list_dict_and_their_errors(tmp_path):
    root = copy_coco8(tmp_path)
    base = {"path": str(root), "train": "images/train", "val": "images/val"}
    assert check_dataset({**base, "names": ["a", "b"]})["names"] == {0: "a", 1: "b"}
    assert check_dataset({**base, "names": {1: "b", 0: "a"}, "nc": 2})["names"] == {0: "a", 1: "b"}
    with pytest.raises(UserError, match="without gaps, missing \\[1\\]"):
        check_dataset({**base, "names": {0: "a", 2: "c"}})
    with pytest.raises(UserError, match="keys must be integers"):
        check_dataset({**base, "names": {"zero": "a"}})
    with pytest.raises(UserError, match="nc=3 but 2 names"):
        check_dataset({**base, "names": ["a", "b"], "nc": 3})
    for key in ("train", "val", "names"):
        d = {**base, "names": ["a"]}
        d.pop(key)
        with pytest.raises(UserError, match=f"'{key}:' field missing"):
            check_dataset(_write_yaml(tmp_path, d))


def test_relative_paths_resolve_against_the_yaml_folder(tmp_path, monkeypatch):
    copy_coco8(tmp_path / "sets")
    cfg = tmp_path / "cfg"
    cfg.mkdir()
    f = _write_yaml(cfg, {"path": "../sets/coco8", "train": ["images/train", "images/val"], "val": "images/val",
                          "test": None, "names": ["x"]})
    monkeypatch.chdir(ROOT)  # the current folder plays no part
    d = check_dataset(str(f))
    assert d["path"] == str(tmp_path / "sets" / "coco8")
    assert d["train"] == [str(tmp_path / "sets/coco8/images/train"), str(tmp_path / "sets/coco8/images/val")]
    no_path = _write_yaml(tmp_path / "sets" / "coco8", {"train": "images/train", "val": "images/val", "names": ["x"]})
    assert check_dataset(str(no_path))["val"] == str(tmp_path / "sets/coco8/images/val")


def test_not_a_yaml_and_not_found(tmp_path):
    with pytest.raises(UserError, match="should be a data YAML"):
        check_dataset(str(tmp_path / "data.json"))
    with pytest.raises(UserError, match="file not found"):
        check_dataset("no-such-dataset.yaml")


def _zip_of_coco8(tmp_path: Path) -> Path:
    src = copy_coco8(tmp_path / "src")
    z = tmp_path / "coco8.zip"
    with zipfile.ZipFile(z, "w") as f:
        for p in src.rglob("*"):
            f.write(p, p.relative_to(src.parent))
    return z


def test_missing_dataset_is_downloaded_and_unzipped_beside_path(tmp_path, monkeypatch):
    z = _zip_of_coco8(tmp_path)
    fetched = []

    def fake_download(url, file, timeout=10.0):
        fetched.append(url)
        Path(file).write_bytes(z.read_bytes())
        return Path(file)

    monkeypatch.setattr(data_config, "safe_download", fake_download)
    (tmp_path / "cfg").mkdir()
    f = _write_yaml(tmp_path / "cfg", {"path": "../datasets/coco8", "train": "images/train", "val": "images/val",
                                       "names": ["x"], "download": "https://example.com/coco8.zip"})
    d = check_dataset(str(f))
    assert fetched == ["https://example.com/coco8.zip"]
    assert Path(d["train"]).is_dir() and not (tmp_path / "datasets" / "coco8.zip").exists()


def test_offline_download_failure_says_what_to_fetch_and_where(tmp_path, monkeypatch):
    def offline(url, file, timeout=10.0):
        raise UserError(f"could not download {url} (URLError: offline). Put it at {file}")

    monkeypatch.setattr(data_config, "safe_download", offline)
    f = _write_yaml(tmp_path, {"path": "ds", "train": "images/train", "val": "images/val", "names": ["x"],
                               "download": "https://example.com/ds.zip"})
    with pytest.raises(UserError, match=r"could not download https://example.com/ds.zip .*put the dataset at .*ds"):
        check_dataset(str(f))
    with pytest.raises(UserError, match="automatic download is off"):
        check_dataset(str(f), autodownload=False)
    f = _write_yaml(tmp_path, {"path": "ds", "train": "images/train", "val": "images/val", "names": ["x"]})
    with pytest.raises(UserError, match="has no 'download' key, put the dataset at"):
        check_dataset(str(f))


def test_zip_members_outside_the_target_are_refused(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("../escaped.txt", "x")
    with pytest.raises(UserError, match="outside"):
        data_config._safe_extract(z, tmp_path / "target")
    assert not (tmp_path / "escaped.txt").exists()


def test_user_sees_one_error_line_and_exit_code_2(tmp_path):
    f = _write_yaml(tmp_path, {"path": "nowhere", "train": "images/train", "val": "images/val", "names": ["x"],
                               "download": "https://example.invalid/nowhere.zip"})
    code = ("from utils.errors import exit_on_user_error\nfrom utils.data import config as data_config\n"
            "def offline(url, file, timeout=10.0):\n    from utils.errors import UserError\n"
            "    raise UserError(f'could not download {url}')\n"
            "data_config.safe_download = offline\n"
            f"exit_on_user_error(data_config.check_dataset)({str(f)!r})\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("ERROR: dataset not found")
    assert "Traceback" not in r.stderr + r.stdout


def test_coco80_to_coco91_class():
    ids = coco80_to_coco91_class()
    assert len(ids) == 80 and ids[0] == 1 and ids[-1] == 90 and ids == sorted(ids)
    assert ids[11] == 13 and 12 not in ids and 83 not in ids


HYP_KEYS = ("lr0 lrf momentum weight_decay warmup_epochs warmup_momentum warmup_bias_lr box cls cls_pw obj obj_pw iou_t "
            "anchor_t fl_gamma hsv_h hsv_s hsv_v degrees translate scale shear perspective flipud fliplr mosaic mixup "
            "copy_paste").split()


def test_hyp_files_have_yolov5_keys_and_values():
    hyps = {n: yaml.safe_load((ROOT / "data/hyps" / f"hyp.{n}.yaml").read_text())
            for n in ("scratch-low", "scratch-med", "scratch-high", "no-augmentation")}
    for name, h in hyps.items():
        assert list(h) == HYP_KEYS, name
    low, med, high, off = hyps.values()
    assert (low["lr0"], low["lrf"], low["cls"], low["obj"], low["scale"], low["mixup"]) == (0.01, 0.01, 0.5, 1.0, 0.5, 0)
    assert (med["lrf"], med["cls"], med["obj"], med["scale"], med["mixup"], med["copy_paste"]) == (0.1, 0.3, 0.7, 0.9,
                                                                                                 0.1, 0)
    assert {k: v for k, v in high.items() if v != med[k]} == {"copy_paste": 0.1}
    augment_keys = HYP_KEYS[HYP_KEYS.index("hsv_h"):]
    assert all(off[k] == 0 for k in augment_keys)


@pytest.mark.parametrize("fields, error, message", [
    ({"nc": 0}, UserError, "'nc: 0' is invalid; a dataset has at least one class"),
    ({"nc": -3}, UserError, "'nc: -3' is invalid"),
    ({"nc": "2"}, TypeError, "'nc' must be a whole number (the class count), got the string '2' (remove the quotes)"),
    ({"nc": 2.0}, TypeError, "got the number 2.0"),
    ({"nc": True}, TypeError, "got the boolean True"),
    ({"names": []}, UserError, "'names' is empty; a dataset has at least one class"),
    ({"names": "a b"}, TypeError, "'names' must be a list of class names or a {id: name} mapping, got the string"),
    ({"names": ["a", None]}, UserError, "class 1 in 'names' has an empty name"),
    ({"names": ["a", ["b"]]}, TypeError, "class 1 in 'names' must be a name, got a list"),
    ({"train": 5}, TypeError, "'train' must be a folder, a .txt list of images or a list of those, got the number 5"),
    ({"val": ["images/val", None]}, TypeError, "'val' must be a folder"),
    ({"path": ["x"]}, TypeError, "'path' must be text, got a list"),
])
def test_each_field_is_refused_naming_its_actual_cause(tmp_path, fields, error, message):
    root = copy_coco8(tmp_path)
    d = {"path": str(root), "train": "images/train", "val": "images/val", "names": ["a", "b"], **fields}
    with pytest.raises(error) as e:
        check_dataset(_write_yaml(tmp_path, d))
    assert isinstance(e.value, UserError) and message in str(e.value) and "\n" not in str(e.value)


def test_a_dataset_folder_with_brackets_and_a_yaml_with_a_byte_order_mark(tmp_path):
    root = copy_coco8(tmp_path / "sets[1]")
    f = tmp_path / "data.yaml"
    f.write_bytes(b"\xef\xbb\xbf" + f"path: {root}\r\ntrain: images/train\r\nval: images/val\r\nnames: [a]\r\n".encode())
    d = check_dataset(f)
    assert d["names"] == {0: "a"} and d["train"] == str(root.resolve() / "images" / "train")
