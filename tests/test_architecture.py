"""The layering rules that import-linter cannot see.

import-linter (``.importlinter``) keeps third-party libraries out of ``romana.core``; this
test keeps out the standard-library modules that would make the core impure: I/O, processes,
sockets, clocks, randomness, threads and logging.
"""

from __future__ import annotations

import ast
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
