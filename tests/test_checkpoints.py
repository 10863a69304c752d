"""models/checkpoints.py: safe loading of real YOLOv5 files, refusal of malicious pickles, atomic saving."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import torch

from models.yolo import DetectionModel
from models.checkpoints import load_checkpoint, save_checkpoint, strip_optimizer
from models.loading import attempt_load
from tests.conftest import shared_path
from utils.errors import UserError


class _Payload:
    """Pickles as a call to `func(*args)`: what a malicious checkpoint does."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def test_loads_official_yolov5_checkpoint(yolov5n_pt):
    ckpt = load_checkpoint(yolov5n_pt)
    assert isinstance(ckpt["model"], DetectionModel)
    assert ckpt["model"].yaml["nc"] == 80 and next(ckpt["model"].parameters()).dtype == torch.float16


def test_refuses_os_system_and_runs_nothing(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.pt"
    torch.save({"model": _Payload(os.system, f"touch {marker}")}, bad)
    with pytest.raises(UserError, match=r"refusing to load .*evil\.pt.*'(posix|os)\.system'"):
        load_checkpoint(bad)
    assert not marker.exists()


def test_refuses_payload_hidden_in_optimizer_state(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "evil_opt.pt"
    torch.save({"model": DetectionModel("yolov5n.yaml"), "optimizer": {"state": _Payload(exec, f"open('{marker}','w')")}},
               bad)
    with pytest.raises(UserError, match="refusing to load"):
        load_checkpoint(bad)
    assert not marker.exists()


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"PK\x03\x04truncated zip"])
def test_garbage_file_is_a_clear_error(tmp_path, content):
    bad = tmp_path / "broken.pt"
    bad.write_bytes(content)
    with pytest.raises(UserError, match="broken.pt"):
        load_checkpoint(bad)


def test_truncated_real_checkpoint_is_a_clear_error(tmp_path, yolov5n_pt):
    cut = tmp_path / "cut.pt"
    cut.write_bytes(yolov5n_pt.read_bytes()[: 2 ** 20])
    with pytest.raises(UserError, match="cut.pt"):
        load_checkpoint(cut)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="not found"):
        load_checkpoint(tmp_path / "nope.pt")


def test_save_is_atomic_and_roundtrips(tmp_path):
    model = DetectionModel("yolov5n-ghostdyn.yaml", nc=2)
    f = tmp_path / "last.pt"
    save_checkpoint({"epoch": 3, "best_fitness": 0.5, "model": model, "ema": None, "updates": 7, "optimizer": None,
                     "opt": {"imgsz": 64}, "date": "2026-11-28"}, f)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no temporary file left behind
    ckpt = load_checkpoint(f)
    assert ckpt["epoch"] == 3 and ckpt["model"].yaml["nc"] == 2
    sd, sd2 = model.state_dict(), ckpt["model"].state_dict()
    assert all(torch.equal(sd[k], sd2[k]) for k in sd)


def test_failed_save_keeps_the_previous_file(tmp_path):
    f = tmp_path / "last.pt"
    save_checkpoint({"model": DetectionModel("yolov5n.yaml", nc=1)}, f)
    before = f.read_bytes()
    with pytest.raises((pickle.PicklingError, AttributeError)):
        save_checkpoint({"model": lambda: None}, f)  # unpicklable: fails mid-write
    assert f.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]


def test_strip_optimizer(tmp_path):
    model = DetectionModel("yolov5n.yaml", nc=1)
    f = tmp_path / "best.pt"
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    save_checkpoint({"epoch": 1, "model": model, "ema": model, "optimizer": opt.state_dict(), "updates": 1}, f)
    strip_optimizer(f)
    ckpt = load_checkpoint(f)
    assert ckpt["optimizer"] is None and ckpt["ema"] is None and ckpt["epoch"] == -1
    assert next(ckpt["model"].parameters()).dtype == torch.float16


def _pickled_globals(path) -> set[str]:
    """The 'module.name' globals a torch zip checkpoint's pickle refers to."""
    import pickletools
    import re
    import zipfile

    with zipfile.ZipFile(path) as z:
        data = z.read(next(n for n in z.namelist() if n.endswith("data.pkl")))
    ops = list(pickletools.genops(data))
    names = set()
    for i, (op, arg, _) in enumerate(ops):
        if op.name == "GLOBAL":
            names.add(arg.replace(" ", "."))
        elif op.name == "STACK_GLOBAL":
            strings = [a for o, a, _ in ops[max(0, i - 6):i] if o.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE")]
            names.add(".".join(strings[-2:]))
    return {re.sub(r"^__builtin__\.", "builtins.", n) for n in names}


def test_our_checkpoints_only_name_classes_yolov5_has(tmp_path, yolov5n_pt):
    """A yolov5n saved here pickles the same classes as an official file (DetectionModel is also YOLOv5 v7's name),
    and each module carries every attribute the official one has, so YOLOv5 can load it."""
    official = load_checkpoint(yolov5n_pt)["model"]
    ours = DetectionModel("yolov5n.yaml").half()
    ours.names = official.names
    f = tmp_path / "ours.pt"
    save_checkpoint({"epoch": -1, "model": ours}, f)
    allowed = _pickled_globals(yolov5n_pt) | {"models.yolo.DetectionModel"}
    assert _pickled_globals(f) - allowed == set()
    pairs = zip(official.named_modules(remove_duplicate=False), ours.named_modules(remove_duplicate=False))
    for (name, a), (_, b) in pairs:
        assert type(a) is type(b), name
        set_by_train = {"hyp", "nc", "class_weights"} if name == "" else set()  # train.py attaches these
        assert set(vars(a)) - set(vars(b)) <= {"_is_full_backward_hook"} | set_by_train, name


def _raw_model(path) -> torch.nn.Module:
    """What a YOLOv5 user's own script does: unpickle the whole file, no attempt_load, no attribute upgrades."""
    return torch.load(path, map_location="cpu", weights_only=False)["model"].float().eval()


def test_raw_torch_load_of_seed_patch_checkpoint_reproduces_stored_output(seedpatch_pt):
    io = np.load(shared_path("weights/yolov5n-ghostdyn-seedpatch-io.npz"))
    y = torch.from_numpy(io["y"])
    with torch.no_grad():
        out = _raw_model(seedpatch_pt)(torch.from_numpy(io["x"]))[0]
    assert out.shape == y.shape and (out - y).abs().max() <= 1e-4 * y.abs().max()


def test_raw_torch_load_of_yolov5n_ignores_its_pickled_v6_grids(yolov5n_pt):
    # yolov5n.pt pickles Detect grids for a 672x448 input without v7.0's -0.5 offset: reused, boxes shift by
    # half a cell (16 px at stride 32). An unpickled head rebuilds its grids instead.
    x = torch.rand(1, 3, 672, 448, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        raw, ref = _raw_model(yolov5n_pt)(x)[0], attempt_load(yolov5n_pt, fuse=False)(x)[0]
    assert (raw - ref).abs().max() <= 1e-3
