"""tools/import_graph.py: the project's imports form no circle, and utils (below models) imports nothing from models."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tools.import_graph import ROOT, cycles, import_graph, imports_of, upward_imports


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph()


def test_no_import_cycles(graph):
    assert cycles(graph) == []


def test_utils_imports_nothing_from_models(graph):
    assert upward_imports(graph) == []


def test_finds_cycles_and_upward_imports(tmp_path):
    """The checks can fail: a planted circle and a utils -> models import are both reported, function-level imports
    included, a PEP 562 __getattr__'s re-export not."""
    for pkg in ("models", "utils", "tools"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "models/a.py").write_text("from models import b\n")
    (tmp_path / "models/b.py").write_text("def f():\n    from models.a import x\n")
    (tmp_path / "models/c.py").write_text("def __getattr__(name):\n    from models import d\n    return d\n")
    (tmp_path / "models/d.py").write_text("import models.c\n")
    (tmp_path / "utils/u.py").write_text("from ..models import a\n")
    g = import_graph(tmp_path)
    assert cycles(g) == [["models.a", "models.b"]]
    assert upward_imports(g) == [("utils.u", "models"), ("utils.u", "models.a")]
    assert imports_of("models.d", tmp_path / "models/d.py", {"models.c": tmp_path / "models/c.py"}) == {"models.c"}


def test_cli_exit_code_and_report():
    out = subprocess.run([sys.executable, "-m", "tools.import_graph"], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    assert out.stdout.splitlines()[-1] == "0 cycle(s), 0 upward import(s)" and out.returncode == 0, out.stdout
