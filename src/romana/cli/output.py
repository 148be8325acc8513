"""How the CLI prints: tables and trees for people, JSON and YAML for programs.

JSON and YAML print the API's value unchanged, so ``romana ... -o json`` can be piped into
``jq`` or back into ``romana ... -f -``. Tables pick columns for reading; a table never hides an
error, which goes to stderr as one line (``cli.main``).

Rich and PyYAML are imported by the functions that print with them, not by this module: every
command imports it to declare its columns, and most never print YAML, while ``--help`` prints
nothing through it (``tests/unit/cli/test_cli_imports.py``). Output that is not a terminal (a
pipe, a file) is written without Rich when it can be (:mod:`romana.cli.plain`): the same
characters Rich would write there, without the cost of importing it.

Values are printed as they are: a cell, a field or a JSON document is never read as Rich markup
or emoji codes (``[x]``, ``:b:`` in an IPv6 address stay as written).
"""

from __future__ import annotations

import enum
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from romana.cli import plain

if TYPE_CHECKING:
    import rich.console


class Format(enum.StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


Column = tuple[str, Callable[[Any], Any]]
"""A table column: its header, and how to get its cell from a row."""


def console() -> rich.console.Console:
    import rich.console

    out = rich.console.Console(highlight=False, soft_wrap=False, emoji=False)
    if not out.is_terminal:
        # Piped output must not be cut at 80 columns: values would wrap mid-address.
        out = rich.console.Console(
            highlight=False, emoji=False, width=max(out.width, plain.MIN_WIDTH)
        )
    return out


def text(value: Any) -> str:
    """One cell: mappings as k=v, sequences comma-joined, None as a dash."""
    if value is None or value == "" or value == [] or value == {}:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={text(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(text(v) for v in value)
    return str(value)


def dump(value: Any, fmt: Format) -> str:
    if fmt is Format.yaml:
        import yaml

        return yaml.safe_dump(value, sort_keys=False, default_flow_style=False).rstrip()
    return json.dumps(value, indent=2)


def emit(
    value: Any,
    fmt: Format,
    *,
    columns: Sequence[Column] | None = None,
    rows: Iterable[Any] | None = None,
    fields: Sequence[Column] | None = None,
    title: str | None = None,
) -> None:
    """Print ``value``: as JSON/YAML, or as a table of ``rows`` or a vertical ``fields`` view."""
    if fmt is not Format.table:
        # A document is its own text, on a terminal too: nothing to lay out or to style.
        sys.stdout.write(dump(value, fmt) + "\n")
        return
    if columns is not None:
        items = list(value if rows is None else rows)
        cells = [[text(get(row)) for _, get in columns] for row in items]
        if title is None and plain.write_table([header for header, _ in columns], cells):
            return
        console().print(table(columns, items, title=title))
        return
    if fields is not None:
        pairs = [(label, text(get(value))) for label, get in fields]
        if title is None and plain.write_record(pairs):
            return
    out = console()
    if fields is not None:
        out.print(record(fields, value, title=title))
    else:
        out.print(dump(value, Format.yaml), markup=False, soft_wrap=True)


def table(columns: Sequence[Column], rows: Iterable[Any], title: str | None = None) -> Any:
    import rich.box
    import rich.table
    import rich.text

    grid = rich.table.Table(box=rich.box.SIMPLE_HEAD, title=title, title_justify="left")
    for header, _ in columns:
        grid.add_column(header, overflow="fold")
    for row in rows:
        grid.add_row(*(rich.text.Text(text(get(row))) for _, get in columns))
    return grid


def record(fields: Sequence[Column], value: Any, title: str | None = None) -> Any:
    import rich.console
    import rich.table
    import rich.text

    grid = rich.table.Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for label, get in fields:
        grid.add_row(label, rich.text.Text(text(get(value))))
    if title is None:
        return grid
    return rich.console.Group(f"[bold]{title}[/bold]", grid)


def message(line: str) -> None:
    """A confirmation for people (table mode only)."""
    if not plain.write_line(line):
        console().print(line, markup=False, highlight=False)


def tree(view: Mapping[str, Any]) -> Any:
    """The topology tree view (``GET /v1/topology/tree``) as a Rich tree."""
    import rich.tree

    top = rich.tree.Tree("[bold]topology[/bold]")
    for i, t in enumerate(view.get("topologies", [])):
        branch = top.add(
            f"[bold]topologies[{i}][/bold] networks {', '.join(t.get('networks', []))} "
            f"({t.get('topology_bits', '?')} topology bits)"
        )
        _node(branch, t["root"])
    unplaced = view.get("unplaced_networks") or []
    if unplaced:
        top.add(f"networks in no topology: {', '.join(unplaced)}")
    return top


def _node(parent: Any, node: Mapping[str, Any]) -> None:
    import rich.markup

    name = node.get("name") or str(node.get("path", "")).rsplit("/", 1)[-1] or "(root)"
    prefixes = "  ".join(f"{net} {cidr}" for net, cidr in node.get("prefixes", {}).items())
    notes = []
    if node.get("assignment"):
        notes.append(text(node["assignment"]))
    if not node.get("groups") and node.get("capacity") is not None:
        notes.append(f"{len(node.get('hosts', []))}/{node['capacity']} hosts")
    if node.get("free_slots"):
        notes.append(f"{node['free_slots']} free slots")
    suffix = f"  [dim]({'; '.join(notes)})[/dim]" if notes else ""
    branch = parent.add(f"[bold cyan]{rich.markup.escape(name)}[/bold cyan]  {prefixes}{suffix}")
    for host in node.get("hosts", []):
        host_prefixes = "  ".join(f"{n} {p}" for n, p in host.get("prefixes", {}).items())
        name = rich.markup.escape(host["name"])
        branch.add(f"[green]{name}[/green] {host.get('ip', '')}  {host_prefixes}")
    for child in node.get("groups", []):
        _node(branch, child)
