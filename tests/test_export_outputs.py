"""utils/export/outputs.find_program: converter programs found where pip puts them, not only on PATH."""

from __future__ import annotations

import os
import sys

import pytest

from utils.errors import UserError
from utils.export.outputs import find_program


def _program(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def bare_path(monkeypatch, tmp_path):
    """PATH without this Python's folder, as when a venv's python is run without activating the venv."""
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))


@pytest.mark.skipif(os.name == "nt", reason="POSIX executables")
def test_a_program_inside_its_package_beside_init(bare_path, tmp_path, monkeypatch):
    """pnnx's wheel puts its program beside pnnx/__init__.py."""
    (tmp_path / "site" / "fakeconv").mkdir(parents=True)
    (tmp_path / "site" / "fakeconv" / "__init__.py").write_text("")
    exe = _program(tmp_path / "site" / "fakeconv" / "fakeconv")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    assert find_program("fakeconv", "Fake export", "pip install fakeconv", package="fakeconv") == exe


@pytest.mark.skipif(os.name == "nt", reason="POSIX executables")
def test_a_program_beside_an_unactivated_venvs_python(bare_path, tmp_path, monkeypatch):
    exe = _program(tmp_path / "venv" / "bin" / "fakeconv")
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    assert find_program("fakeconv", "Fake export", "pip install fakeconv") == exe


@pytest.mark.skipif(os.name == "nt", reason="POSIX executables")
def test_a_program_on_path_and_one_line_naming_where_it_looked(tmp_path, monkeypatch):
    exe = _program(tmp_path / "tools" / "fakeconv")
    monkeypatch.setenv("PATH", str(tmp_path / "tools"))
    assert find_program("fakeconv", "Fake export", "pip install fakeconv") == exe
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(UserError) as e:
        find_program("fakeconv", "Fake export", "pip install fakeconv")
    message = str(e.value)
    assert message.startswith("Fake export needs the fakeconv program (pip install fakeconv); looked in ")
    assert os.path.dirname(sys.executable) in message and message.endswith("and on PATH") and "\n" not in message
