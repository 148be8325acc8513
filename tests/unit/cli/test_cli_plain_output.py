"""Output into a pipe or a file is the same with or without Rich.

``romana ... | grep`` gets its table from :mod:`romana.cli.plain` when it can, from Rich
otherwise; a script reading either must not see a difference. Each case prints through
:func:`romana.cli.output.emit` twice — once as users get it, once with the plain writers
refusing so that Rich prints — and compares the characters.
"""

from __future__ import annotations

from typing import Any

import pytest

from romana.cli import output, plain
from romana.cli.output import Format

COLUMNS: list[output.Column] = [
    ("NAME", lambda r: r["name"]),
    ("ADDRESSES", lambda r: r.get("addresses")),
    ("LABELS", lambda r: r.get("labels")),
]
TABLES: dict[str, list[dict[str, Any]]] = {
    "rows": [
        {"name": "acme", "addresses": ["10.0.16.1", "fd00::1"], "labels": {"rack": "r1"}},
        {"name": "globex-with-a-longer-name", "addresses": [], "labels": None},
    ],
    "no rows": [],
    "ipv6 groups that are emoji names": [{"name": "v6", "addresses": ["2001:db8:a:b::5"]}],
    "brackets that are markup": [{"name": "x", "labels": {"note": "[bold]y[/bold] [z]"}}],
    "exactly 200 columns": [{"name": "n" * (200 - 3 * 3 - 1 - len("ADDRESSES") - 6)}],
    "wider than 200 columns": [{"name": "n" * 230, "addresses": ["10.0.0.1"]}],
    "not ASCII": [{"name": "café", "addresses": ["10.0.0.1"]}],
    "blanks around a value": [{"name": " padded ", "addresses": ["10.0.0.1"]}],
}
FIELDS: list[output.Column] = [
    ("Address", lambda d: d["address"]),
    ("Host prefix", lambda d: d.get("prefix")),
    ("Allocation", lambda d: d.get("allocation")),
]
RECORDS: dict[str, dict[str, Any]] = {
    "fields": {"address": "10.0.16.1", "prefix": "10.0.0.0/16", "allocation": "bench-1"},
    "a missing value": {"address": "10.0.16.1"},
    "emoji and markup": {"address": "2001:db8:a:b::5", "allocation": "[red]k8s:ok:[/red]"},
    "a long value": {"address": "10.0.16.1", "allocation": "k" * 260},
}


@pytest.fixture(autouse=True)
def piped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Output to a pipe as Rich detects it, whatever the environment of the test run."""
    for name in ("TTY_COMPATIBLE", "FORCE_COLOR", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)


def printed(capsys: pytest.CaptureFixture[str], **how: Any) -> str:
    capsys.readouterr()
    output.emit(how.pop("value"), Format.table, **how)
    return capsys.readouterr().out


def by_rich(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], **how: Any) -> str:
    with monkeypatch.context() as m:
        m.setattr(plain, "terminal", lambda: True)  # the plain writers step aside
        return printed(capsys, **how)


@pytest.mark.parametrize("name", TABLES)
def test_a_table_is_what_rich_writes(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ours = printed(capsys, value=TABLES[name], columns=COLUMNS)
    assert ours == by_rich(monkeypatch, capsys, value=TABLES[name], columns=COLUMNS)


@pytest.mark.parametrize("name", RECORDS)
def test_a_record_is_what_rich_writes(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ours = printed(capsys, value=RECORDS[name], fields=FIELDS)
    assert ours == by_rich(monkeypatch, capsys, value=RECORDS[name], fields=FIELDS)


def test_a_message_is_what_rich_writes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for line in ("tenant acme deleted", "policy :b: [x] removed", "é" * 3, "w " * 150):
        capsys.readouterr()
        output.message(line)
        ours = capsys.readouterr().out
        with monkeypatch.context() as m:
            m.setattr(plain, "terminal", lambda: True)
            output.message(line)
        assert ours == capsys.readouterr().out, line


def test_values_are_printed_as_written_not_as_markup_or_emoji(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = printed(capsys, value=RECORDS["emoji and markup"], fields=FIELDS)
    assert "2001:db8:a:b::5" in text
    assert "[red]k8s:ok:[/red]" in text
    output.emit({"address": "2001:db8:a:b::5"}, Format.json)
    assert '"2001:db8:a:b::5"' in capsys.readouterr().out


def test_the_plain_writer_is_used_for_a_pipe_and_rich_is_not_imported() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from romana.cli import output; "
        "output.emit([{'n': 'a'}], output.Format.table, columns=[('N', lambda r: r['n'])]); "
        "print('rich' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.splitlines()[-1] == "False"


@pytest.mark.parametrize(
    ("name", "used"), [("rows", True), ("no rows", True), ("not ASCII", False)]
)
def test_the_plain_writer_writes_the_simple_tables(
    name: str, used: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    cells = [[output.text(get(row)) for _, get in COLUMNS] for row in TABLES[name]]
    assert plain.write_table([h for h, _ in COLUMNS], cells) is used
