"""Payloads are JSON only, and nothing under src/ turns data into code.

A scan of every module's syntax tree (not a text grep, so a word in a comment
or a method that happens to be called ``eval`` on a Redis pipeline is not a
finding): no pickle-like module is imported, the ``eval``/``exec``/
``compile``/``__import__`` builtins are never called, and every dynamic
import either names a module literally or is on the allow-list below with the
reason its module name cannot come from a job.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

DESERIALIZERS = {
    "pickle",
    "cPickle",
    "_pickle",
    "marshal",
    "shelve",
    "dill",
    "cloudpickle",
    "jsonpickle",
    "yaml",
}
"""Modules that can build arbitrary objects (or run code) from bytes."""

CODE_BUILTINS = {"eval", "exec", "compile", "execfile", "breakpoint"}
"""Builtins that run code given as data (``__import__`` counts as a dynamic import)."""

DYNAMIC_IMPORTS_ALLOWED = {
    ("engine/worker/registry.py", "load_modules"): (
        "imports Settings.job_modules: the operator's configuration (environment or "
        "--config), validated as module names; a job's type is only looked up in the registry"
    ),
}
"""(file, enclosing function) -> why its module name is not data from a job."""


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    function: str
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} in {self.function}(): {self.what}"


def _modules() -> list[tuple[str, ast.Module]]:
    return [
        (str(p.relative_to(SRC)), ast.parse(p.read_text(encoding="utf-8"), filename=str(p)))
        for p in sorted(SRC.rglob("*.py"))
    ]


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str) -> None:
        self.path = path
        self.function = "<module>"
        self.findings: list[Finding] = []

    def _add(self, node: ast.AST, what: str) -> None:
        self.findings.append(Finding(self.path, node.lineno, self.function, what))

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outer, self.function = self.function, node.name
        self.generic_visit(node)
        self.function = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name.split(".")[0] in DESERIALIZERS:
                self._add(node, f"import {alias.name}")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module and node.module.split(".")[0] in DESERIALIZERS:
            self._add(node, f"from {node.module} import ...")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in CODE_BUILTINS:
            self._add(node, f"{func.id}(...)")
        is_import_module = (isinstance(func, ast.Attribute) and func.attr == "import_module") or (
            isinstance(func, ast.Name) and func.id in ("import_module", "__import__")
        )
        if is_import_module and not (
            node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            self._add(node, "dynamic import of a computed module name")
        self.generic_visit(node)


def findings() -> list[Finding]:
    found = []
    for path, tree in _modules():
        scanner = _Scanner(path)
        scanner.visit(tree)
        found.extend(scanner.findings)
    return found


def test_no_deserializer_or_code_builtin_and_only_justified_dynamic_imports():
    unexplained = [
        f
        for f in findings()
        if not (
            f.what == "dynamic import of a computed module name"
            and (f.path, f.function) in DYNAMIC_IMPORTS_ALLOWED
        )
    ]
    assert unexplained == [], "\n".join(map(str, unexplained))


def test_the_allow_list_has_no_stale_entries():
    """An entry whose code went away must go too, or it would silently cover new code."""
    used = {(f.path, f.function) for f in findings()}
    assert set(DYNAMIC_IMPORTS_ALLOWED) <= used, set(DYNAMIC_IMPORTS_ALLOWED) - used


def test_the_scanner_would_notice(tmp_path):
    """The scan itself works: each forbidden form in a sample is found."""
    sample = (
        "import pickle\n"
        "from yaml import load\n"
        "def handler(payload):\n"
        "    eval(payload['code'])\n"
        "    __import__(payload['module'])\n"
        "    importlib.import_module(payload['type'])\n"
        "    redis_pipe.eval('return 1', 0)\n"  # a method named eval: not a finding
    )
    scanner = _Scanner("sample.py")
    scanner.visit(ast.parse(sample))
    assert [f.what for f in scanner.findings] == [
        "import pickle",
        "from yaml import ...",
        "eval(...)",
        "dynamic import of a computed module name",
        "dynamic import of a computed module name",
    ]


def test_payloads_are_decoded_as_json_only():
    """The column is JSONB and every reader goes through json: no other decoder is named
    where payloads are read (worker claim, read API, CLI)."""
    for path in ("engine/readapi/jobs.py", "engine/snapshots/jobs.py", "engine/worker/process.py"):
        tree = ast.parse((SRC / path).read_text(encoding="utf-8"))
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert not names & DESERIALIZERS, path
