"""README.md and docs/*.md held to the code: every documented command runs a script that exists with flags it has,
every model/data YAML a command names exists, every relative link points at a file, so stale docs fail a test."""

from __future__ import annotations

import argparse
import functools
import importlib.util
import re
import runpy
import shlex
import sys
from pathlib import Path
from unittest import mock

import pytest

from utils.errors import UserError
from utils.files import check_file

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
TEST_COMMAND = "python -m pytest -q"  # the one test command: README's and .ci/run's

FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`(python [^`\n]+)`")
SPAN = re.compile(r"`([^`\n]+)`")
FLAG = re.compile(r"(?<![\w-])--[a-zA-Z][\w-]*")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
SHELL_ENDS = {"|", "||", "&&", ";", ">", ">>", "2>&1"}


class _Parser(BaseException):
    """Raised by the patched parse_known_args to carry a script's parser out before the script does anything."""

    def __init__(self, parser: argparse.ArgumentParser):
        super().__init__()
        self.parser = parser


def _capture(self: argparse.ArgumentParser, *args, **kwargs):
    raise _Parser(self)


def script_exists(target: str) -> bool:
    """A script path from the repository root, or a module that imports (without running it)."""
    if target.endswith(".py"):
        return (ROOT / target).is_file()
    try:
        return importlib.util.find_spec(target) is not None
    except ModuleNotFoundError:
        return False


@functools.cache
def script_flags(target: str) -> frozenset[str]:
    """The option strings of a script ('segment/train.py') or module ('tools.benchmarks.ratios'), read from the
    ArgumentParser its __main__ block builds; stopped at its first parse, so nothing runs (a script that parses no
    command line runs to its end and has no flags)."""
    argv = sys.argv
    try:
        with mock.patch.object(argparse.ArgumentParser, "parse_known_args", _capture):
            sys.argv = [target]
            if target.endswith(".py"):
                runpy.run_path(str(ROOT / target), run_name="__main__")
            else:
                runpy.run_module(target, run_name="__main__", alter_sys=True)
    except _Parser as e:
        return frozenset(s for a in e.parser._actions for s in a.option_strings)
    except SystemExit:
        pass
    finally:
        sys.argv = argv
    return frozenset()


def entry_points() -> list[str]:
    """Every script and tool a user runs: the repository's scripts, the task folders' and tools' __main__ modules."""
    scripts = [*ROOT.glob("*.py"), *ROOT.glob("segment/*.py"), *ROOT.glob("classify/*.py")]
    tools = [*ROOT.glob("tools/*.py"), *ROOT.glob("tools/benchmarks/*.py")]
    main = [p for p in scripts + tools if '__name__ == "__main__"' in p.read_text(encoding="utf-8")]
    return sorted(p.relative_to(ROOT).as_posix() if p in scripts else
                  ".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__main__") for p in main)


@functools.cache
def all_flags() -> frozenset[str]:
    """The flags of every entry point: a flag named in prose must be one of them."""
    return frozenset().union(*map(script_flags, entry_points()))


def commands(text: str) -> list[tuple[int, str]]:
    """(line number, command) of each `python ...` line in the fenced code blocks and inline code spans of text."""
    found = []
    for block in FENCE.finditer(text):
        first = text.count("\n", 0, block.start(1)) + 1
        lines = block.group(1).split("\n")
        i = 0
        while i < len(lines):
            start, line = i, lines[i]
            while line.rstrip().endswith("\\") and i + 1 < len(lines):  # shell line continuation
                i += 1
                line = line.rstrip()[:-1] + " " + lines[i].strip()
            if re.match(r"\s*(\$\s+)?python\s", line):
                found.append((first + start, line.strip().removeprefix("$").strip()))
            i += 1
    outside = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    found += [(outside.count("\n", 0, m.start()) + 1, m.group(1)) for m in INLINE.finditer(outside)]
    return found


def prose_flags(text: str) -> list[tuple[int, str]]:
    """(line number, flag) of each --flag in the inline code spans outside code blocks and `python ...` spans."""
    outside = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    return [(outside.count("\n", 0, m.start()) + 1, f) for m in SPAN.finditer(outside)
            if not m.group(1).startswith("python ") for f in FLAG.findall(m.group(1))]


def target_and_args(command: str) -> tuple[str | None, list[str]]:
    """(script path or module a python command runs, its arguments); None for other programs (pip, pytest)."""
    tokens = shlex.split(command, comments=True)[1:]
    for i, t in enumerate(tokens):
        if t in SHELL_ENDS or t.startswith((">", "2>")):
            tokens = tokens[:i]
            break
    if tokens[:2] == ["-m", "torch.distributed.run"]:  # DDP launcher: the script follows its own flags
        tokens = tokens[next((i for i, t in enumerate(tokens) if t.endswith(".py")), len(tokens)):]
    if len(tokens) >= 2 and tokens[0] == "-m" and tokens[1].startswith("tools"):
        return tokens[1], tokens[2:]
    if tokens and tokens[0].endswith(".py"):
        return tokens[0], tokens[1:]
    return None, []


def yaml_exists(name: str) -> bool:
    """A YAML as the scripts resolve it: a path from the repository root, or a bare name under data/, models/."""
    if (ROOT / name).is_file():
        return True
    try:
        check_file(name)
        return True
    except UserError:
        return False


def command_problems(command: str) -> list[str]:
    """What in one documented command no longer exists: the script, a flag, a YAML it names."""
    target, args = target_and_args(command)
    if target is None:
        return []
    if not script_exists(target):
        return [f"no such {'script' if target.endswith('.py') else 'module'} {target}"]
    options = [a.split("=")[0] for a in args if a.startswith("--") and a != "--"]
    flags = script_flags(target) if options else frozenset()
    problems = [f"{target} has no flag {a}" for a in options if a not in flags]
    problems += [f"{target}: {a} not found" for a in args
                 if a.endswith((".yaml", ".yml")) and not a.startswith(("../", "path/")) and not yaml_exists(a)]
    return problems


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def link_problems(md: Path, text: str) -> list[str]:
    """Relative links of md whose file (or #heading in it) does not exist."""
    out = []
    for m in LINK.finditer(FENCE.sub("", text)):
        target = m.group(1)
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (md.parent / path).resolve() if path else md
        if not file.exists():
            out.append(f"link to {target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in {slug(h) for h in
                                                                re.findall(r"^#+ (.+)$", file.read_text(), re.M)}:
            out.append(f"link to {target}: no such heading in {file.name}")
    return out


def doc_problems(md: Path) -> list[str]:
    """Every stale command, flag, YAML and link of one Markdown file, as 'file:line: what'."""
    text = md.read_text(encoding="utf-8")
    out = [f"{md.name}:{line}: {p}  [{cmd}]" for line, cmd in commands(text) for p in command_problems(cmd)]
    out += [f"{md.name}:{line}: {f} is no flag of any script" for line, f in prose_flags(text) if f not in all_flags()]
    return out + [f"{md.name}: {p}" for p in link_problems(md, text)]


@pytest.mark.parametrize("md", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_are_current(md):
    problems = doc_problems(md)
    assert not problems, "stale docs:\n" + "\n".join(problems)


def test_docs_have_commands():
    """The parser sees the commands at all: the front page documents the three tasks' scripts."""
    targets = {target_and_args(c)[0] for _, c in commands((ROOT / "README.md").read_text())}
    assert {"train.py", "detect.py", "segment/train.py", "segment/predict.py", "classify/train.py",
            "classify/predict.py"} <= targets


def test_stale_flag_is_caught(tmp_path):
    """A flag renamed in the code (here: planted in a copy of README) fails with its file, line and script."""
    readme = (ROOT / "README.md").read_text()
    line, cmd = next((n, c) for n, c in commands(readme) if c.startswith("python detect.py") and "--source" in c)
    stale = tmp_path / "README.md"
    stale.write_text(readme.replace(cmd, cmd.replace("--source", "--sorce"), 1))
    problems = [p for p in doc_problems(stale) if "--sorce" in p]
    assert problems == [f"README.md:{line}: detect.py has no flag --sorce  [{cmd.replace('--source', '--sorce')}]"]


def test_stale_script_yaml_and_link_are_caught(tmp_path):
    md = tmp_path / "page.md"
    md.write_text("See [the guide](missing.md) and [here](page.md#nowhere), [ok](page.md#a-page).\n\n# A page\n\n"
                  "```bash\npython segment/trian.py --img 160\npython train.py --cfg yolov5q.yaml \\\n"
                  "    --data coco8.yaml --epochs 1\npython -m tools.benchmarks.nosuch --runs 1\n"
                  "pip install -r requirements.txt --no-such-pip-flag\n```\n\n"
                  "Inline: `python export.py --include onnx --frobnicate`, and `--img`, `--imgsz 640`, `--imgs`.\n")
    problems = doc_problems(md)
    assert [p.split("  [")[0] for p in problems] == [
        "page.md:6: no such script segment/trian.py",
        "page.md:7: train.py: yolov5q.yaml not found",
        "page.md:9: no such module tools.benchmarks.nosuch",
        "page.md:13: export.py has no flag --frobnicate",
        "page.md:13: --imgs is no flag of any script",
        "page.md: link to missing.md: no such file",
        "page.md: link to page.md#nowhere: no such heading in page.md"]


def test_one_test_command():
    """README's test command is the one .ci/run runs."""
    readme = (ROOT / "README.md").read_text()
    assert any(c == TEST_COMMAND for _, c in commands(readme))
    ci = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines() if "pytest" in line and
          not line.lstrip().startswith("#")]
    assert ci == [TEST_COMMAND]
