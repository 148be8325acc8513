"""romana.durable: a replaced file holds the new bytes, is its owner's alone, leaves no
temporary file behind; a removal reports whether there was a file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from romana import durable


def test_a_replaced_file_holds_the_new_bytes_and_nothing_else_is_left(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")
    durable.replace_file(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_a_crash_leftover_does_not_lend_its_mode(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    leftover = tmp_path / ".state.json.tmp"
    leftover.write_bytes(b"torn")
    os.chmod(leftover, 0o644)
    durable.replace_file(target, b"{}")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert not leftover.exists()


def test_removing_says_whether_there_was_a_file(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    durable.replace_file(target, b"{}")
    assert durable.remove_file(target) is True
    assert not target.exists()
    assert durable.remove_file(target) is False
