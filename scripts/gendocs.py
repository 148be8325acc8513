"""Regenerate the generated sections of the operator docs from the code, or check them.

Usage: ``python scripts/gendocs.py [--check] [FILE ...]`` (default: every file in :data:`DOCS`).

A generated section is the text between two markers::

    <!-- BEGIN GENERATED name -->
    <!-- END GENERATED name -->

and is written by the generator registered under ``name``, from the code alone: the settings
dataclasses (their ``doc``/``env``/``flag`` metadata, through ``romana.config.reference``) and
the executables' argument parsers, the Typer app of ``romana``, the agent's metrics, the CNI
plugin's configuration keys, and the worked examples of ``docs/concepts.md``, computed by
``romana.core``. ``--check`` writes nothing and exits 1 naming every stale section, so a settings or CLI change
without regenerated docs fails ``tests/docs/test_docs_current.py``. Output is deterministic:
no clock, no randomness, no terminal width.

Discovery is by import. A settings module that is missing or defines no documented settings
class yields a section saying so instead of failing, so prose can precede the code.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import importlib
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "docs" / "operations.md", ROOT / "docs" / "concepts.md")
SECTION = re.compile(
    r"(?P<begin><!-- BEGIN GENERATED (?P<name>[a-z0-9-]+) -->\n)(?P<body>.*?)"
    r"(?P<end><!-- END GENERATED (?P=name) -->)",
    re.S,
)
GENERATORS: dict[str, Callable[[], str]] = {}


def generator(name: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    def register(fn: Callable[[], str]) -> Callable[[], str]:
        GENERATORS[name] = fn
        return fn

    return register


def cell(text: object) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")


def table(head: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def code(text: str, lang: str = "") -> str:
    return f"```{lang}\n{text.rstrip()}\n```\n"


# -- configuration reference ---------------------------------------------------------------

# section → (settings module, module with ``parser()``, executable, where its file keys go)
SETTINGS = {
    "config-romanad": (
        "romana.api.settings",
        "romana.api.main",
        "romanad",
        "section `[romanad]` of the TOML file given with `--config`",
    ),
    "config-agent": (
        "romana.agent.settings",
        "romana.agent.main",
        "romana-agent",
        "section `[agent]` of the TOML file given with `--config`",
    ),
    "config-cli": (
        "romana.cli.settings",
        "",
        "romana",
        "top level of `~/.config/romana/config.toml` (or `--config`, `ROMANA_CONFIG`)",
    ),
}
_TYPES = {"str": "string", "bool": "boolean", "int": "integer", "float": "number"}


def settings_classes(module: Any) -> list[type]:
    """Dataclasses defined in ``module`` whose fields carry settings metadata."""
    return [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and obj.__module__ == module.__name__
        and dataclasses.is_dataclass(obj)
        and any("doc" in f.metadata for f in dataclasses.fields(obj))
    ]


def parser_flags(module_name: str) -> dict[str, str]:
    """Field name → the options the executable's own argument parser accepts for it."""
    if not module_name:
        return {}
    try:
        parser = importlib.import_module(module_name).parser()
    except (ImportError, AttributeError):
        return {}
    return {
        a.dest: ", ".join(f"`{o}`" for o in a.option_strings)
        for a in parser._actions
        if a.option_strings and a.dest not in ("help", "config")
    }


def default_text(value: object) -> str:
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, float):
        value = f"{value:g}"
    if isinstance(value, tuple):
        value = ",".join(str(v) for v in value)
    return f"`{value}`" if value != "" else "(empty)"


def config_section(name: str) -> str:
    from romana import config

    module_name, main_module, exe, where = SETTINGS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return f"`{module_name}` is not part of this build yet.\n"
    classes = settings_classes(module)
    if not classes:
        return f"`{module_name}` defines no documented settings yet.\n"
    flags = parser_flags(main_module)
    out = []
    for cls in classes:
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        rows = []
        for row in config.reference(cls):
            kind = row["type"]
            kind = "list" if kind.startswith("tuple") else _TYPES.get(kind, kind)
            flag = flags.get(row["name"]) or (f"`{row['flag']}`" if row["flag"] else "")
            env = f"`{row['env']}`" if row["env"] else ""
            default = default_text(defaults[row["name"]])
            rows.append((f"`{row['name']}`", flag, env, kind, default, row["doc"]))
        out.append(
            f"`{cls.__name__}` (`{module_name}`) — file keys go in the {where}; a list is "
            "comma-separated in flags and the environment, a TOML array in the file.\n\n"
            + table(("setting", "flag", "environment", "type", "default", "meaning"), rows)
        )
    return "\n".join(out)


for _name in SETTINGS:
    GENERATORS[_name] = lambda _n=_name: config_section(_n)


# -- CLI reference -------------------------------------------------------------------------


def help_text(text: str | None) -> str:
    paragraphs = []
    for para in (text or "").strip().split("\n\n"):
        para = " ".join(para.split())
        if para.startswith("Example: "):
            para = f"Example: `{para.removeprefix('Example: ')}`"
        if para:
            paragraphs.append(para)
    return "\n\n".join(paragraphs) + "\n" if paragraphs else ""


def command_doc(cmd: Any, ctx: Any, out: list[str]) -> None:
    out.append(f"#### `{ctx.command_path}`\n")
    out.append(help_text(cmd.help))
    out.append(code(cmd.get_usage(ctx).removeprefix("Usage: ")))
    records = [p.get_help_record(ctx) for p in cmd.params if not getattr(p, "hidden", False)]
    rows = [(f"`{opts}`", text) for opts, text in (r for r in records if r)]
    if rows:
        out.append(table(("argument or option", "meaning"), rows))
    if hasattr(cmd, "list_commands"):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                command_doc(sub, sub.context_class(sub, info_name=name, parent=ctx), out)


@generator("cli")
def cli_reference() -> str:
    try:
        import typer

        from romana.cli import main
    except ImportError:
        return "The `romana` CLI is not part of this build yet.\n"
    root = typer.main.get_command(main.app)
    out: list[str] = []
    command_doc(root, root.context_class(root, info_name="romana"), out)
    return "\n".join(out)


# -- agent metrics, CNI keys -----------------------------------------------------------------


@generator("metrics")
def metrics_reference() -> str:
    from prometheus_client.metrics import MetricWrapperBase

    from romana.agent.metrics import Metrics

    rows = []
    for metric in vars(Metrics()).values():
        if not isinstance(metric, MetricWrapperBase):
            continue
        for family in metric.describe():
            suffix = "_total" if family.type == "counter" else ""
            labels = ", ".join(getattr(metric, "_labelnames", ()))
            rows.append((f"`{family.name}{suffix}`", family.type, labels, family.documentation))
    return table(("metric", "type", "labels", "meaning"), sorted(rows))


# Keys of the CNI specification the plugin reads, and what it does with them.
CNI_SPEC_KEYS = {
    "cniVersion": "spec version of the configuration; results are written in it",
    "cniVersions": "versions the conflist supports; the highest the plugin knows is used",
    "name": "network name; GC releases only endpoints of this network",
    "args": "`args.labels`, `args.cni.labels`: workload labels (see `segment_label`)",
    "runtimeConfig": "`runtimeConfig.labels`: workload labels from a runtime that passes them",
    "prevResult": "CHECK compares the endpoint with it",
    "ipam": "refused (error 2): romana-agent allocates the addresses; leave it out",
}


def _conf_keys(paths: Iterable[Path]) -> set[str]:
    """String keys the plugin's code reads from the network configuration ``conf``."""

    def is_conf(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id == "conf"

    def text(node: ast.AST) -> str | None:
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None

    keys: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            found: str | None = None
            if isinstance(node, ast.Call) and node.args:
                fn = node.func
                if isinstance(fn, ast.Attribute) and fn.attr == "get" and is_conf(fn.value):
                    found = text(node.args[0])
                elif len(node.args) > 1 and is_conf(node.args[0]):
                    found = text(node.args[1])
            elif isinstance(node, ast.Subscript) and is_conf(node.value):
                found = text(node.slice)
            elif isinstance(node, ast.Compare) and is_conf(node.comparators[0]):
                found = text(node.left)
            if found:
                keys.add(found)
    return keys


@generator("cni-keys")
def cni_keys() -> str:
    try:
        from romana.integrations.cni import request
    except ImportError:
        return "The CNI plugin is not part of this build yet.\n"
    block = (request.__doc__ or "").partition("Plugin configuration keys")[2]
    documented = {
        key: " ".join(re.sub(r"``([^`]+)``", r"`\1`", desc).split())
        for key, desc in re.findall(r"^``(\w+)``\s+(.+(?:\n {8,}\S.*)*)", block, re.M)
    }
    if not documented:
        raise SystemExit("gendocs: no configuration keys found in romana.integrations.cni.request")
    read = _conf_keys(Path(request.__file__).parent.glob("*.py"))
    rows = [(f"`{k}`", "romana", d) for k, d in documented.items()]
    rows += [(f"`{k}`", "CNI spec", CNI_SPEC_KEYS[k]) for k in CNI_SPEC_KEYS if k in read]
    rows += [
        (f"`{k}`", "romana", "read by the plugin; not described in its docstring")
        for k in sorted(read - set(documented) - set(CNI_SPEC_KEYS))
    ]
    return table(("key", "defined by", "meaning"), rows)


# -- main --------------------------------------------------------------------------------------


def regenerate(text: str, where: str = "") -> str:
    def replace(m: re.Match[str]) -> str:
        name = m["name"]
        if name not in GENERATORS:
            raise SystemExit(f"gendocs: {where}: no generator for section {name!r}")
        body = GENERATORS[name]().rstrip("\n") + "\n"
        return f"{m['begin']}{body}{m['end']}"

    return SECTION.sub(replace, text)


def stale(paths: Sequence[Path]) -> list[str]:
    """``path: section`` for every generated section that differs from what the code says."""
    found = []
    for path in paths:
        text = path.read_text()
        fresh = {m["name"]: m["body"] for m in SECTION.finditer(regenerate(text, str(path)))}
        for m in SECTION.finditer(text):
            if fresh[m["name"]] != m["body"]:
                found.append(f"{path}: {m['name']}")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="gendocs", description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 when stale")
    p.add_argument("files", nargs="*", type=Path, default=list(DOCS))
    args = p.parse_args(argv)
    if args.check:
        found = stale(args.files)
        for item in found:
            print(f"stale generated section: {item}", file=sys.stderr)
        if found:
            print("run: python scripts/gendocs.py", file=sys.stderr)
        return 1 if found else 0
    for path in args.files:
        text = path.read_text()
        new = regenerate(text, str(path))
        if new != text:
            path.write_text(new)
            print(f"updated {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
