"""Tables and records written without Rich, to output that is not a terminal.

A command's table printed into a pipe or a file is what Rich writes there (``cli.output``):
no colours and no styles, at least :data:`MIN_WIDTH` columns, so a row of plain text is laid
out the same way at every width. Writing those characters directly spares a command that
prints a table the cost of importing Rich (a third of ``romana tenant list``'s start-up).

Invariant: a writer here writes only what Rich would write, character for character
(``tests/unit/cli/test_cli_plain_output.py`` compares both). It writes only when it is sure
of that — stdout is not a terminal by Rich's own test, every string is printable ASCII
(one column per character, no Rich markup, no emoji codes to read), nothing has to wrap —
and otherwise writes nothing and returns False, and the caller prints with Rich.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

MIN_WIDTH = 200
"""The narrowest output that is not a terminal gets (``cli.output.console``)."""


def terminal() -> bool:
    """Whether Rich takes stdout for a terminal: the variables it reads, then ``isatty``."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return sys.stdout.isatty()
    except (AttributeError, ValueError):  # no stream, or a closed one
        return False


def _simple(strings: Sequence[str]) -> bool:
    """Every string printable ASCII without leading or trailing blanks."""
    return all(s.isascii() and s.isprintable() and s == s.strip() for s in strings)


def _writable(strings: Sequence[str], width: int) -> bool:
    encoding = getattr(sys.stdout, "encoding", None) or ""
    # Rich draws rules with ASCII characters on a stream that is not UTF-8.
    utf = encoding.lower().replace("-", "").startswith("utf")
    return utf and width <= MIN_WIDTH and _simple(strings) and not terminal()


def _write(lines: list[str]) -> None:
    sys.stdout.write("".join(f"{line}\n" for line in lines))


def write_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> bool:
    """A table of ``headers`` and ``rows`` (cells as text) as Rich lays out
    ``Table(box=SIMPLE_HEAD)``: a blank edge above and below, the headers, a rule, one line
    per row, every column as wide as its widest cell; False when not written."""
    widths = [max(len(cell) for cell in column) for column in zip(headers, *rows, strict=False)]
    total = sum(widths) + 3 * len(widths) + 1
    if not widths or not _writable([*headers, *(c for row in rows for c in row)], total):
        return False

    def line(cells: Sequence[str]) -> str:
        return "  " + "   ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + "  "

    rule = " " + "─".join("─" * (w + 2) for w in widths) + " "
    _write([" " * total, line(headers), rule, *(line(row) for row in rows), " " * total])
    return True


def write_record(pairs: Sequence[tuple[str, str]]) -> bool:
    """Labels and values, one pair a line, as Rich lays out ``Table.grid(padding=(0, 2))``:
    both columns as wide as their widest text, two blanks between; False when not written."""
    if not pairs:
        return False
    labels = max(len(label) for label, _ in pairs)
    values = max(len(value) for _, value in pairs)
    strings = [s for pair in pairs for s in pair]
    if not _writable(strings, labels + 2 + values):
        return False
    _write([f"{label.ljust(labels)}  {value.ljust(values)}" for label, value in pairs])
    return True


def write_line(line: str) -> bool:
    """One line of text, as Rich prints a string; False when not written."""
    if not _writable([line], len(line)):
        return False
    _write([line])
    return True
