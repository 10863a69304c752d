"""A data YAML's Python `download:` script, interpreted step by step instead of passed to exec.

A YAML from a stranger must not run code. YOLOv5's download scripts only build URLs and folders and call
download(urls, dir); that subset runs here (assignments, literals, yaml['key'], Path(...), `/`, `+`, `x if c else y`,
.parent/.name/.stem/.suffix, f-strings, download(...)). Anything else is refused, naming the line.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Callable

from utils.errors import UserError

PATH_ATTRIBUTES = ("parent", "name", "stem", "suffix")
IGNORED_IMPORTS = {"download", "Path"}  # `from utils.general import download, Path` in YOLOv5's scripts
DOWNLOAD_KEYWORDS = {"dir", "unzip", "delete", "curl", "threads", "retry"}  # only `dir` changes what happens here


class _Refused(Exception):
    """A construct the interpreter does not run."""

    def __init__(self, node: ast.AST, what: str):
        super().__init__(f"line {getattr(node, 'lineno', '?')}: {what}")


class _Interpreter:
    """Evaluates the allowed statements; `download` is the only function with an effect."""

    def __init__(self, data: dict, download: Callable[[str | list[str], Path], None]):
        self.names = {"yaml": data}
        self.download = download

    def run(self, tree: ast.Module) -> None:
        for stmt in tree.body:
            self.statement(stmt)

    def statement(self, s: ast.stmt) -> None:
        if isinstance(s, ast.Assign) and len(s.targets) == 1 and isinstance(s.targets[0], ast.Name):
            self.names[s.targets[0].id] = self.value(s.value)
        elif isinstance(s, ast.Expr) and isinstance(s.value, ast.Call):
            self.call(s.value, statement=True)
        elif isinstance(s, ast.ImportFrom) and all(a.name in IGNORED_IMPORTS and not a.asname for a in s.names):
            return
        elif isinstance(s, ast.Pass):
            return
        else:
            raise _Refused(s, f"'{ast.unparse(s).splitlines()[0]}' is not a plain assignment or download(...) call")

    def value(self, e: ast.expr):
        if isinstance(e, ast.Constant) and isinstance(e.value, (str, int, float, bool, type(None))):
            return e.value
        if isinstance(e, (ast.List, ast.Tuple)):
            return [self.value(x) for x in e.elts]
        if isinstance(e, ast.Name) and e.id in self.names:
            return self.names[e.id]
        if isinstance(e, ast.Subscript):
            return self.subscript(e)
        if isinstance(e, ast.Call):
            return self.call(e, statement=False)
        if isinstance(e, ast.BinOp):
            return self.binop(e)
        if isinstance(e, ast.IfExp):
            return self.value(e.body) if self.value(e.test) else self.value(e.orelse)
        if isinstance(e, ast.Attribute) and e.attr in PATH_ATTRIBUTES:
            base = self.value(e.value)
            if isinstance(base, Path):
                return getattr(base, e.attr)
        if isinstance(e, ast.JoinedStr):
            return "".join(self.fstring_part(x) for x in e.values)
        raise _Refused(e, f"'{ast.unparse(e)}' is not allowed in a download script")

    def fstring_part(self, e: ast.expr) -> str:
        if isinstance(e, ast.FormattedValue) and e.conversion == -1 and e.format_spec is None:
            return str(self.value(e.value))
        return str(self.value(e))

    def subscript(self, e: ast.Subscript):
        base, key = self.value(e.value), self.value(e.slice)
        if isinstance(base, dict) and isinstance(key, (str, int)) and key in base:
            return base[key]
        if isinstance(base, list) and isinstance(key, int) and -len(base) <= key < len(base):
            return base[key]
        raise _Refused(e, f"'{ast.unparse(e)}' does not name an existing entry")

    def binop(self, e: ast.BinOp):
        left, right = self.value(e.left), self.value(e.right)
        if isinstance(e.op, ast.Div) and isinstance(left, Path) and isinstance(right, (str, Path)):
            return left / right
        if isinstance(e.op, ast.Add) and type(left) is type(right) and isinstance(left, (str, list)):
            return left + right
        raise _Refused(e, f"'{ast.unparse(e)}' is not a path join or a string/list concatenation")

    def call(self, e: ast.Call, statement: bool):
        name = e.func.id if isinstance(e.func, ast.Name) else ""
        if name == "Path" and not statement and len(e.args) == 1 and not e.keywords:
            arg = self.value(e.args[0])
            if isinstance(arg, (str, Path)):
                return Path(arg)
        if name == "download" and statement and len(e.args) in (1, 2):
            keywords = {k.arg: self.value(k.value) for k in e.keywords}
            if set(keywords) <= DOWNLOAD_KEYWORDS:
                urls = self.value(e.args[0])
                folder = self.value(e.args[1]) if len(e.args) == 2 else keywords.get("dir", ".")
                self._checked_download(e, urls, folder)
                return None
        raise _Refused(e, f"'{ast.unparse(e)}' is not Path(path) or download(urls, dir)")

    def _checked_download(self, e: ast.Call, urls, folder) -> None:
        url_list = urls if isinstance(urls, list) else [urls]
        if not url_list or not all(isinstance(u, str) and u.startswith(("http://", "https://")) for u in url_list):
            raise _Refused(e, f"download() needs http(s) URLs, got {urls!r}")
        if not isinstance(folder, (str, Path)):
            raise _Refused(e, f"download() needs a folder, got {folder!r}")
        self.download(urls, Path(folder))


def run_download_script(script: str, data: dict, download: Callable[[str | list[str], Path], None],
                        source: str) -> None:
    """Carry out a YOLOv5-style Python download script over data (seen as `yaml`); UserError for anything else."""
    try:
        tree = ast.parse(script, mode="exec")
    except SyntaxError as e:
        raise UserError(f"{source}: the 'download' script is not valid Python (line {e.lineno}: {e.msg})") from None
    calls = []  # the whole script is checked before the first download starts
    try:
        _Interpreter(data, lambda urls, folder: calls.append((urls, folder))).run(tree)
    except _Refused as e:
        raise UserError(f"{source}: the 'download' script was not run, {e}; a data YAML may only build URLs and "
                        f"folders and call download(urls, dir) (its code could do anything)") from None
    for urls, folder in calls:
        download(urls, folder)
