"""The pending-release directory: what DEL leaves for the agent, and how the agent finishes it."""

from __future__ import annotations

import json
import os
from pathlib import Path

from romana.integrations.cni import pending


def entry(
    container_id: str = "ctr1", ifname: str = "eth0", at: float = 100.0
) -> pending.PendingRelease:
    return pending.PendingRelease(container_id, ifname, "romana", "/run/netns/x", at)


def test_record_list_complete(tmp_path: Path) -> None:
    directory = str(tmp_path / "p")
    path = pending.record(directory, entry())
    assert path == f"{directory}/ctr1:eth0.json"
    assert pending.list_pending(directory) == [entry()]
    assert pending.is_pending(directory, entry())
    assert pending.complete(directory, entry()) is True
    assert pending.complete(directory, entry()) is False
    assert not pending.is_pending(directory, entry())
    assert pending.list_pending(directory) == []


def test_file_holds_the_documented_json(tmp_path: Path) -> None:
    path = pending.record(str(tmp_path), entry())
    assert json.loads(Path(path).read_text()) == {
        "version": 1,
        "container_id": "ctr1",
        "ifname": "eth0",
        "network": "romana",
        "netns": "/run/netns/x",
        "recorded_at": 100.0,
    }


def test_no_temporary_file_is_left_behind(tmp_path: Path) -> None:
    for n in range(5):
        pending.record(str(tmp_path), entry(f"c{n}"))
    assert sorted(os.listdir(tmp_path)) == [f"c{n}:eth0.json" for n in range(5)]


def test_recording_a_key_again_replaces_its_entry(tmp_path: Path) -> None:
    pending.record(str(tmp_path), entry(at=1.0))
    pending.record(str(tmp_path), entry(at=2.0))
    assert pending.list_pending(str(tmp_path)) == [entry(at=2.0)]


def test_list_is_oldest_first_and_keys_with_dots_stay_apart(tmp_path: Path) -> None:
    pending.record(str(tmp_path), entry("a.b", "c", at=3.0))
    pending.record(str(tmp_path), entry("a", "b.c", at=1.0))
    assert [(e.container_id, e.ifname) for e in pending.list_pending(str(tmp_path))] == [
        ("a", "b.c"),
        ("a.b", "c"),
    ]
    assert pending.find(str(tmp_path), "a.b", "c") == entry("a.b", "c", at=3.0)


def test_missing_directory_lists_nothing(tmp_path: Path) -> None:
    assert pending.list_pending(str(tmp_path / "absent")) == []


def test_foreign_and_temporary_files_are_skipped_not_deleted(tmp_path: Path) -> None:
    pending.record(str(tmp_path), entry())
    (tmp_path / "junk.json").write_text("{not json")
    (tmp_path / "x:eth0.json").write_text('{"version": 2}')
    (tmp_path / ".123.ctr9:.json").write_text("{}")
    (tmp_path / "README").write_text("")
    assert pending.list_pending(str(tmp_path)) == [entry()]
    assert len(os.listdir(tmp_path)) == 5
