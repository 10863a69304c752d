"""Untrusted files: malicious checkpoints are refused before anything in them runs, YAML is loaded safely, and no
string from a YAML, checkpoint or label cache ever reaches eval/exec/a shell. Each case checks a marker file
that the payload would create."""

from __future__ import annotations

import ast
import builtins
import copy
import io
import os
import pathlib
import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

import hubconf
import train as train_module
from models.yolo import DetectionModel
from tests.cli_helpers import one_line_error
from tests.data_helpers import copy_coco8
from tests.fault_helpers import coco8_yaml
from tests.test_checkpoints import _Payload
from utils.data import config as data_config
from models.checkpoints import load_checkpoint, strip_optimizer
from utils.data.config import check_dataset
from utils.data.datasets import LoadImagesAndLabels
from utils.errors import UserError
from utils.files import ROOT, yaml_load
from engine.resume import resume_options


def _payloads(marker: Path) -> dict[str, _Payload]:
    """One object per way a pickle can run code, each creating marker if it ever runs."""
    return {
        "os.system": _Payload(os.system, f"touch {marker}"),
        "subprocess.Popen": _Payload(subprocess.Popen, ["touch", str(marker)]),
        "builtins.eval": _Payload(eval, f"open({str(marker)!r}, 'w')"),
        "builtins.exec": _Payload(exec, f"open({str(marker)!r}, 'w').close()"),
        "PosixPath.touch": _Payload(pathlib.PosixPath.touch, pathlib.PosixPath(marker)),  # a method of an allowed class
    }


def _hide(payload: _Payload, where: str, model: DetectionModel) -> dict:
    """A YOLOv5-layout checkpoint with the payload in one place: the model, the optimizer state, opt or a model
    attribute."""
    model = copy.deepcopy(model)
    ckpt = {"epoch": 3, "best_fitness": 0.1, "model": model, "ema": None, "updates": 9, "optimizer": None,
            "opt": {"epochs": 10}, "git": None, "date": "2026-11-28"}
    if where == "model":
        ckpt["model"] = payload
    elif where == "optimizer":
        ckpt["optimizer"] = {"state": {0: {"momentum_buffer": payload}}, "param_groups": []}
    elif where == "opt":
        ckpt["opt"] = {"epochs": 10, "hyp": {"lr0": payload}}
    else:
        model.yaml = {**model.yaml, "backbone": payload}
    return ckpt


@pytest.fixture(scope="module")
def gallery(tmp_path_factory) -> tuple[Path, list[tuple[str, Path]]]:
    """Every payload hidden in every place, in the zip format, plus the legacy format and a bare pickle."""
    folder = tmp_path_factory.mktemp("gallery")
    marker = folder / "pwned"
    model = DetectionModel("yolov5n.yaml", nc=2)
    files = []
    for name, payload in _payloads(marker).items():
        for where in ("model", "optimizer", "opt", "attribute"):
            f = folder / f"{name}-in-{where}.pt"
            torch.save(_hide(payload, where, model), f)
            files.append((name, f))
        f = folder / f"{name}-legacy.pt"
        torch.save(_hide(payload, "opt", model), f, _use_new_zipfile_serialization=False)
        files.append((name, f))
        f = folder / f"{name}-bare-pickle.pt"
        f.write_bytes(pickle.dumps({"model": payload}))
        files.append((name, f))
    return marker, files


def test_malicious_checkpoint_gallery_is_refused_and_runs_nothing(gallery):
    marker, files = gallery
    assert len(files) == 30
    for name, f in files:
        with pytest.raises(UserError) as e:
            load_checkpoint(f)
        message = str(e.value)
        assert "\n" not in message and str(f) in message, message
        assert "refusing to load" in message or "not a valid PyTorch checkpoint" in message, message
        assert not marker.exists(), f"{f.name} ran its payload"


@pytest.mark.parametrize("script, args", [
    ("train", ["--cfg", "yolov5n.yaml", "--epochs", "1", "--img", "64", "--weights"]),
    ("val", ["--img", "64", "--weights"]),
    ("detect", ["--img", "64", "--source", str(ROOT / "data/images/bus.jpg"), "--weights"]),
    ("export", ["--img", "64", "--include", "onnx", "--weights"]),
])
def test_every_script_refuses_a_malicious_weights_file_in_one_line(gallery, script, args, tmp_path, capsys):
    marker, files = gallery
    evil = next(f for name, f in files if name == "os.system" and "in-model" in f.name)
    project = [] if script == "export" else ["--project", str(tmp_path)]  # export writes beside the weights
    err = one_line_error(script, [*args, str(evil), "--data", str(coco8_yaml(tmp_path)), *project], capsys)
    assert f"refusing to load {evil}" in err and not marker.exists()


def test_resume_strip_and_hub_refuse_malicious_checkpoints(gallery, tmp_path):
    marker, files = gallery
    evil = next(f for name, f in files if name == "builtins.exec" and "in-opt" in f.name)
    last = tmp_path / "run" / "weights" / "last.pt"
    last.parent.mkdir(parents=True)
    shutil.copy(evil, last)
    with pytest.raises(UserError, match="refusing to load"):
        resume_options(str(last), tmp_path)  # no opt.yaml beside it: the options would come from the checkpoint
    with pytest.raises(UserError, match="refusing to load"):
        strip_optimizer(evil)
    with pytest.raises(UserError, match="refusing to load"):
        hubconf.custom(evil, autoshape=False, _verbose=True)
    assert not marker.exists()


YAML_PAYLOADS = {
    "object/apply": "!!python/object/apply:os.system ['touch {m}']",
    "object/new": "!!python/object/new:subprocess.Popen [['touch', '{m}']]",
    "name": "!!python/name:os.system",
    "module": "!!python/module:os",
}


@pytest.mark.parametrize("tag", YAML_PAYLOADS)
def test_yaml_python_tags_are_refused_by_every_loader(tmp_path, tag):
    marker = tmp_path / "pwned"
    payload = YAML_PAYLOADS[tag].format(m=marker)
    base = yaml.safe_load((ROOT / "models/yolov5n.yaml").read_text())
    files = {
        "data": {"path": str(tmp_path), "train": "images", "val": "images", "names": ["a"], "download": "x"},
        "model": base,
        "hyp": yaml.safe_load((ROOT / "data/hyps/hyp.scratch-low.yaml").read_text()),
    }
    loaders = {
        "data": check_dataset,
        "model": DetectionModel,
        "hyp": train_module.load_hyp,
    }
    for kind, content in files.items():
        f = tmp_path / f"{kind}.yaml"
        text = yaml.safe_dump(content, sort_keys=False)
        key = next(iter(content))
        f.write_text(text.replace(f"{key}: ", f"{key}: {payload}\nignored_{key}: ", 1))
        with pytest.raises(UserError, match=f"{f} is not a valid \\(safe\\) YAML file"):
            loaders[kind](str(f))
    last = tmp_path / "exp" / "weights" / "last.pt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"")
    (tmp_path / "exp" / "opt.yaml").write_text(f"epochs: {payload}\n")
    with pytest.raises(UserError, match="opt.yaml is not a valid \\(safe\\) YAML file"):
        resume_options(str(last), tmp_path)
    assert not marker.exists()


def test_yaml_load_uses_the_safe_loader_only(tmp_path):
    f = tmp_path / "x.yaml"
    f.write_text("a: !!python/tuple [1, 2]\n")
    with pytest.raises(UserError, match="not a valid \\(safe\\) YAML"):
        yaml_load(f)
    f.write_text("a: [1, 2]\nb: {c: d}\n")
    assert yaml_load(f) == {"a": [1, 2], "b": {"c": "d"}}


def _code_strings(marker: Path) -> list[str]:
    return [f"__import__('os').system('touch {marker}')", f"open('{marker}', 'w')",
            f"exec(\"open('{marker}', 'w')\")"]


def test_no_yaml_or_checkpoint_string_reaches_eval_or_exec(tmp_path, monkeypatch):
    """Code-looking strings in every field are only ever data; eval, exec and compile are never called."""
    marker = tmp_path / "pwned"
    called = []
    real_compile = builtins.compile

    def forbidden(name):
        def trap(*args, **kwargs):
            flags = kwargs.get("flags", args[3] if len(args) > 3 else 0)
            if name == "compile" and flags & ast.PyCF_ONLY_AST:  # ast.parse / literal_eval: a syntax tree, no code
                return real_compile(*args, **kwargs)
            called.append((name, args[:1]))
            raise AssertionError(f"{name} called with {args[:1]}")
        return trap

    code = _code_strings(marker)
    for name in ("eval", "exec", "compile"):
        monkeypatch.setattr(builtins, name, forbidden(name))

    cfg = yaml.safe_load((ROOT / "models/yolov5n.yaml").read_text())
    cfg["backbone"][0][3] = [64, 6, 2, 2, code[0]]  # an extra argument: refused as a build error, never evaluated
    with pytest.raises(UserError, match="layer 0"):
        DetectionModel(cfg)
    cfg = yaml.safe_load((ROOT / "models/yolov5n.yaml").read_text())
    for i, c in enumerate(code):
        cfg["activation"] = c
        with pytest.raises(UserError, match="not a torch.nn activation"):
            DetectionModel(cfg)
        cfg.pop("activation")
        cfg["head"][-1][2] = c
        with pytest.raises(UserError, match="unknown module"):
            DetectionModel(cfg)
        cfg["head"][-1][2] = "Detect"

    root = copy_coco8(tmp_path)
    d = check_dataset({"path": str(root), "train": "images/train", "val": "images/val", "names": code})
    assert list(d["names"].values()) == code
    for script in code:
        with pytest.raises(UserError, match="the 'download' script was not run"):
            check_dataset({"path": str(tmp_path / "absent"), "train": "images", "val": "images", "names": ["a"],
                           "download": script})

    f = tmp_path / "run" / "weights" / "last.pt"
    f.parent.mkdir(parents=True)
    torch.save({"model": DetectionModel("yolov5n.yaml", nc=1), "opt": {k: c for k, c in zip("abc", code)},
                "epoch": 1, "optimizer": None}, f)
    assert load_checkpoint(f)["opt"]["a"] == code[0]
    opt = resume_options(str(f), tmp_path, defaults={"epochs": 3})
    assert opt.a == code[0] and opt.weights == str(f)
    assert not marker.exists() and called == []


def test_data_yaml_download_runs_no_code(tmp_path, monkeypatch):
    """YOLOv5's download scripts are interpreted (only download(urls, dir) has an effect); everything else is
    refused before the first download starts, and shell commands other than shipped scripts never run."""
    marker = tmp_path / "pwned"
    fetched = []
    monkeypatch.setattr(data_config, "download_and_unzip", lambda urls, folder: fetched.append((urls, folder)))
    coco = yaml_load(ROOT / "data/coco.yaml")
    base = {"path": str(tmp_path / "coco"), "train": "images", "val": "images", "names": ["a"]}
    with pytest.raises(UserError, match="did not create"):  # the fake download fetched nothing
        check_dataset({**base, "download": coco["download"]})
    assert fetched == [("https://github.com/ultralytics/yolov5/releases/download/v1.0/coco2017labels.zip",
                        tmp_path), (["http://images.cocodataset.org/zips/train2017.zip",
                                     "http://images.cocodataset.org/zips/val2017.zip",
                                     "http://images.cocodataset.org/zips/test2017.zip"], tmp_path / "coco" / "images")]
    fetched.clear()
    refused = [
        f"download('https://example.com/a.zip', Path(yaml['path']))\nimport os\nos.system('touch {marker}')",
        f"download('https://example.com/a.zip', Path(yaml['path']).write_text('{marker}'))",
        f"for u in ['https://example.com/a.zip']:\n    download(u, '{tmp_path}')",
        f"download('file://{marker}', '{tmp_path}')",
        "x = yaml.__class__.__subclasses__()",
        f"bash -c 'touch {marker}'",
        f"bash {tmp_path / 'x.sh'}; touch {marker}",
        f"bash {ROOT / 'data' / 'scripts' / '..' / '..' / 'train.py'}",
    ]
    (tmp_path / "x.sh").write_text(f"touch {marker}\n")
    for script in refused:
        with pytest.raises(UserError, match="was not run"):
            check_dataset({**base, "download": script})
    assert fetched == [] and not marker.exists()


def test_yolov5_pickled_label_cache_is_never_unpickled(tmp_path):
    """An old YOLOv5 `.cache` is a pickle (np.save of a dict); ours are read with allow_pickle=False, so a poisoned
    one is rescanned instead of run."""
    root = copy_coco8(tmp_path)
    marker = tmp_path / "pwned"
    cache = root / "labels" / "train.cache"
    buf = io.BytesIO()
    np.save(buf, np.array({"version": 0.6, "hash": _Payload(os.system, f"touch {marker}")}, dtype=object),
            allow_pickle=True)
    cache.write_bytes(buf.getvalue())
    ds = LoadImagesAndLabels(str(root / "images" / "train"), img_size=64)
    assert len(ds) == 4 and not marker.exists()


FORBIDDEN_CALLS = {"eval", "exec", "compile"}
FORBIDDEN_ATTRIBUTES = {("os", "system"), ("os", "popen"), ("pickle", "load"), ("pickle", "loads"),
                        ("yaml", "load"), ("yaml", "unsafe_load"), ("yaml", "full_load"), ("marshal", "loads"),
                        ("torch", "load")}
TORCH_LOAD_HOME = ROOT / "models" / "checkpoints.py"  # the one place that unpickles, with an allow-list


def _project_sources() -> list[Path]:
    return [p for p in ROOT.rglob("*.py") if "tests" not in p.relative_to(ROOT).parts
            and not any(part.startswith(".") for part in p.relative_to(ROOT).parts)]


def _dotted(node: ast.expr) -> tuple[str, ...]:
    """('os', 'system') for os.system; () for a call on anything but a plain name (x().eval is a method)."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    return (node.id, *reversed(parts)) if isinstance(node, ast.Name) else ()


def _unsafe_calls(path: Path) -> list[str]:
    """Calls in a source file that could run a string as code or unpickle arbitrary objects."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        where = f"{path.relative_to(ROOT)}:{node.lineno} {'.'.join(name)}"
        keywords = {k.arg: k.value for k in node.keywords}
        if name in {(f,) for f in FORBIDDEN_CALLS} | {("builtins", f) for f in FORBIDDEN_CALLS}:
            found.append(where)
        elif name[-2:] in FORBIDDEN_ATTRIBUTES and not (name[-2:] == ("torch", "load") and path == TORCH_LOAD_HOME):
            found.append(where)
        elif name == ("__import__",) and not (node.args and isinstance(node.args[0], ast.Constant)):
            found.append(where)
        elif isinstance(keywords.get("shell"), ast.Constant) and keywords["shell"].value is True:
            found.append(where + " shell=True")
        elif isinstance(keywords.get("allow_pickle"), ast.Constant) and keywords["allow_pickle"].value is True:
            found.append(where + " allow_pickle=True")
        elif name[-2:] == ("torch", "load") and not (isinstance(keywords.get("weights_only"), ast.Constant)
                                                    and keywords["weights_only"].value is True):
            found.append(where + " without weights_only=True")
    return found


def test_no_source_file_can_run_strings_as_code():
    sources = _project_sources()
    assert len(sources) > 30 and ROOT / "train.py" in sources
    assert [x for p in sources for x in _unsafe_calls(p)] == []


def test_the_source_scan_catches_what_it_looks_for(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.test_security.ROOT", tmp_path)
    f = tmp_path / "bad.py"
    f.write_text("import os, yaml, torch, subprocess, numpy as np\neval('1')\nos.system('x')\nyaml.load(s)\n"
                 "subprocess.run('x', shell=True)\nnp.load(f, allow_pickle=True)\ntorch.load(f)\n__import__(name)\n"
                 "builtins.exec(s)\nmodel.eval()\nnet().eval()\nnp.load(f)\n__import__('sys')\n")
    assert [x.split(" ", 1)[1] for x in _unsafe_calls(f)] == [
        "eval", "os.system", "yaml.load", "subprocess.run shell=True", "np.load allow_pickle=True", "torch.load",
        "__import__", "builtins.exec"]
