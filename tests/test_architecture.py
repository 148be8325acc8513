"""The rules of the tree that import-linter cannot see: a pure core, and root tests marked.

import-linter (``.importlinter``) keeps third-party libraries out of ``romana.core``; this
test keeps out the standard-library modules that would make the core impure: I/O, processes,
sockets, clocks, randomness, threads and logging.
"""

from __future__ import annotations

import ast
import functools
import re
import sys
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "src" / "romana" / "core"

IMPURE = {
    "asyncio",
    "http",
    "logging",
    "multiprocessing",
    "os",
    "random",
    "secrets",
    "shutil",
    "socket",
    "sqlite3",
    "subprocess",
    "threading",
    "time",
    "urllib",
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_imports_only_pure_standard_library_modules() -> None:
    offenders = {}
    for path in sorted(CORE.rglob("*.py")):
        bad = {
            name
            for name in _imports(path)
            if name != "romana"
            and (name not in sys.stdlib_module_names or name in IMPURE)
            and name != "__future__"
        }
        if bad:
            offenders[str(path.relative_to(CORE))] = sorted(bad)
    assert offenders == {}


TESTS = Path(__file__).resolve().parent
LAB_BUILDERS = {"Admin", "Agent", "Cluster", "Host", "Lab", "Listener", "Node", "Workload"}
LAB_BUILDERS |= {"cluster", "nsenter_argv", "raw_call"}
LAB_MODULES = {"romana.lab.admin", "romana.lab.agents", "romana.lab.cluster"}
LAB_MODULES |= {"romana.lab.namespaces", "support.routed"}


class _Source:
    """A module's text split into lines once: :func:`ast.get_source_segment` splits the whole
    text again on every call, which made this test take seconds over the suite's modules."""

    def __init__(self, text: str) -> None:
        self.lines = text.encode().splitlines(keepends=True)

    def segment(self, node: ast.stmt | ast.expr) -> str:
        """What :func:`ast.get_source_segment` returns for ``node`` (its offsets count bytes)."""
        if node.end_lineno is None or node.end_col_offset is None:
            return ""
        first, last = node.lineno - 1, node.end_lineno - 1
        start, end = node.col_offset, node.end_col_offset
        if first == last:
            return self.lines[first][start:end].decode()
        middle = self.lines[first + 1 : last]
        return b"".join([self.lines[first][start:], *middle, self.lines[last][:end]]).decode()


def _root_mark(node: ast.stmt | ast.expr, source: _Source) -> bool:
    return "mark.root" in source.segment(node)


def _lab_names(tree: ast.Module) -> set[str]:
    """The names of root-only lab builders a module imports."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            imported = {a.asname or a.name for a in node.names}
            if node.module in LAB_MODULES:
                names |= imported
            elif node.module == "romana.lab":
                names |= {a.asname or a.name for a in node.names if a.name in LAB_BUILDERS}
    return names


@functools.cache
def _conftest_calls_need_root(folder: Path) -> bool:
    conftest = folder / "conftest.py"
    return conftest.exists() and "need_root(" in conftest.read_text()


def _conftest_needs_root(path: Path) -> bool:
    return any(
        _conftest_calls_need_root(folder) for folder in path.parents if folder.is_relative_to(TESTS)
    )


def _unmarked_root_tests(path: Path) -> list[str]:
    """What in ``path`` needs root (the lab, a root fixture, ``need_root``) without the marker."""
    text = path.read_text()
    tree = ast.parse(text, filename=str(path))
    source = _Source(text)
    module_mark = any(
        isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
        and _root_mark(node, source)
        for node in tree.body
    )
    if module_mark:
        return []
    if _conftest_needs_root(path):
        return ["the module (its directory's fixtures need root)"]
    lab = _lab_names(tree)
    unmarked = []
    for node in tree.body:
        if not (isinstance(node, ast.FunctionDef) and node.name.startswith("test")):
            continue
        body = source.segment(node)
        words = set(re.findall(r"\w+", body))
        needs = "need_root(" in body or bool(words & lab)
        if needs and not any(_root_mark(d, source) for d in node.decorator_list):
            unmarked.append(node.name)
    return unmarked


def test_every_test_that_needs_root_is_marked_root() -> None:
    # `make unit` deselects by the marker and runs without root: an unmarked root test would
    # fail there, or skip and hide. tests/conftest.py catches the rest at run time.
    offenders = {
        str(path.relative_to(TESTS)): unmarked
        for path in sorted(TESTS.rglob("test_*.py"))
        if (unmarked := _unmarked_root_tests(path))
    }
    assert offenders == {}


def test_test_modules_have_unique_names() -> None:
    # pytest imports test modules by their base name (rootdir-relative "prepend" mode): two
    # files of one name in different directories stop the whole collection.
    seen: dict[str, list[str]] = {}
    for path in sorted(TESTS.rglob("test_*.py")):
        seen.setdefault(path.name, []).append(str(path.relative_to(TESTS)))
    assert {name: paths for name, paths in seen.items() if len(paths) > 1} == {}
