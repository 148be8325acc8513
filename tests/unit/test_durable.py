"""romana.durable: a replaced file holds the new bytes, is its owner's alone unless a mode is
named (then that mode exactly), leaves no temporary file behind; a link replaces a file the
same way; a removal reports whether there was a file."""

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


def test_a_named_mode_is_set_exactly_whatever_the_umask(tmp_path: Path) -> None:
    target = tmp_path / "romana-agent"
    old = os.umask(0o077)
    try:
        durable.replace_file(target, b"#!/bin/sh\n", 0o755)
    finally:
        os.umask(old)
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    assert target.read_bytes() == b"#!/bin/sh\n"


def test_a_link_replaces_a_file_and_nothing_else_is_left(tmp_path: Path) -> None:
    target = tmp_path / "romana-cni"
    target.write_bytes(b"a copy")
    durable.replace_link(target, "/opt/romana/bin/romana-cni")
    assert os.readlink(target) == "/opt/romana/bin/romana-cni"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["romana-cni"]
