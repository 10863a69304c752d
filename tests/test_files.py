"""Run folders: numbered folders claimed atomically, one run at a time per folder, a dead holder's lock released."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from utils.errors import UserError
from utils.files import (ROOT, OutputNames, RunLock, check_file, increment_path, is_pattern, read_text, root_rel,
                         safe_filename, yaml_load)


def test_folders_claimed_together_are_all_different(tmp_path):
    with ThreadPoolExecutor(8) as pool:
        claimed = list(pool.map(lambda _: increment_path(tmp_path / "exp", mkdir=True), range(16)))
    assert len(set(claimed)) == 16 and all(p.is_dir() for p in claimed)
    assert increment_path(tmp_path / "exp", exist_ok=True) == tmp_path / "exp"


def test_a_held_folder_is_refused_naming_the_holder_and_freed_when_it_dies(tmp_path):
    folder = tmp_path / "exp"
    holder = subprocess.Popen([sys.executable, "-c", f"from utils.files import RunLock\nimport sys, time\n"
                               f"with RunLock({str(folder)!r}):\n    print('held', flush=True)\n    time.sleep(600)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UserError, match=rf"^{folder} is in use by another run \(pid {holder.pid} on "):
            with RunLock(folder):
                pass
    finally:
        holder.kill()  # SIGKILL: no chance to clean up, the kernel drops the lock
        holder.wait()
    with RunLock(folder):
        pass


def test_taking_a_folder_removes_a_dead_runs_temporary_files(tmp_path):
    (tmp_path / "weights").mkdir()
    left = [tmp_path / "weights" / ".last.pt.123.abcd.tmp", tmp_path / ".results.csv.tmp"]
    kept = [tmp_path / "weights" / "last.pt", tmp_path / "notes.tmp"]
    for f in left + kept:
        f.write_bytes(b"")
    with RunLock(tmp_path):
        assert not any(f.exists() for f in left) and all(f.exists() for f in kept)


@pytest.mark.parametrize("name, safe", [
    ("../../../../escaped", "_.._.._.._escaped"), ("/etc/passwd", "_etc_passwd"), ("..", "item"), (".", "item"),
    ("  ", "item"), ("a\\b", "a_b"), ("C:x", "C_x"), ("nul", "_nul"), ("COM1.txt", "_COM1.txt"), (".hidden", "hidden"),
    ("tab\there", "tab_here"), ("traffic light", "traffic light"), (7, "7"), ("x" * 300, "x" * 200),
])
def test_untrusted_names_become_one_harmless_path_component(tmp_path, name, safe):
    assert safe_filename(name) == safe
    assert (tmp_path / safe_filename(name)).parent == tmp_path


def test_cli_defaults_are_repository_paths_relative_to_the_working_folder_like_yolov5(tmp_path):
    # YOLOv5's scripts set ROOT = relpath(repository, cwd): from the repository itself the defaults read yolov5s.pt,
    # data/coco128.yaml, runs/train; they print (print_args) and go into opt.yaml that way.
    code = ("import detect, export, train, val\n"
            "t, v, d, e = train.parse_opt(args=[]), val.parse_opt([]), detect.parse_opt([]), export.parse_opt([])\n"
            "print(t.weights, t.data, t.hyp, t.project, v.project, d.source, d.project, e.weights, e.data)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    rel = os.path.relpath(ROOT, tmp_path)
    expected = [f"{rel}/{p}" for p in ("yolov5s.pt", "data/coco128.yaml", "data/hyps/hyp.scratch-low.yaml",
                                       "runs/train", "runs/val", "data/images", "runs/detect", "yolov5s.pt",
                                       "data/coco128.yaml")]
    assert r.stdout.splitlines()[-1].split() == expected
    assert f"weights={rel}/yolov5s.pt," in r.stdout  # print_args's val: line
    assert f"data={rel}/data/coco128.yaml, weights={rel}/yolov5s.pt, imgsz=[640, 640]" in r.stdout  # export: line


def test_root_rel_follows_the_working_directory(tmp_path, monkeypatch):
    """The CLI defaults' root is relative to the working directory when they are made, not when utils.files loaded."""
    monkeypatch.chdir(ROOT)
    assert root_rel() == Path(".")
    monkeypatch.chdir(ROOT / "data")
    assert root_rel() == Path("..") and (root_rel() / "data/coco128.yaml").resolve() == ROOT / "data/coco128.yaml"


def test_text_from_other_editors_reads_the_same(tmp_path):
    """UTF-8 with a byte-order mark, UTF-16 (Notepad's 'Unicode') and CRLF ends give the same lines as plain UTF-8."""
    text = "0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1\n"
    variants = {"plain": text.encode(), "bom": b"\xef\xbb\xbf" + text.encode(),
                "crlf": b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode(), "utf16": text.encode("utf-16")}
    for name, data in variants.items():
        (tmp_path / name).write_bytes(data)
        assert read_text(tmp_path / name).splitlines() == text.splitlines(), name


def test_a_yaml_with_a_byte_order_mark_loads(tmp_path):
    f = tmp_path / "data.yaml"
    f.write_bytes(b"\xef\xbb\xbfnc: 2\r\nnames: [a, b]\r\n")
    assert yaml_load(f) == {"nc": 2, "names": ["a", "b"]}


def test_outputs_of_sources_that_share_a_stem_get_distinct_names():
    names = OutputNames()
    assert [names.stem(p) for p in ("d/a.jpg", "d/a.png", "e/a.jpg", "d/A.bmp", "d/a.jpg", "d/a_png.jpg")] == \
        ["a", "a_png", "a_jpg", "A_bmp", "a", "a_png_jpg"]  # the same source keeps its name (video frames)


@pytest.mark.parametrize("name", ["cam[1]", "it's", "a b", "x*y?z", "ünï"])
def test_check_file_takes_existing_names_literally_and_finds_bracketed_names(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    (tmp_path / f"{name}.yaml").write_text("a: 1\n")
    assert check_file(f"{name}.yaml") == f"{name}.yaml"
    monkeypatch.chdir(ROOT)  # a bare name is also searched for under data/ as itself, not as a pattern
    with pytest.raises(FileNotFoundError, match="file not found"):
        check_file("coco[8].yaml")
    assert check_file("coco8.yaml").endswith("coco8.yaml") and is_pattern("coco[8].yaml")


def test_a_run_folder_that_cannot_be_made_is_one_line(tmp_path, monkeypatch):
    def read_only(self, *args, **kwargs):
        raise OSError(30, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    for exist_ok in (False, True):
        with pytest.raises(UserError, match=f"cannot create the folder {tmp_path / 'exp'}: Read-only file system; "
                                            f"choose a writable --project"):
            increment_path(tmp_path / "exp", exist_ok=exist_ok, mkdir=True)
