"""The endpoint journal under the ledger: one durable entry per write, a torn tail never
read, and compaction into the record files losing nothing."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from romana.agent import journal, ledger


def record(name: str) -> ledger.EndpointRecord:
    return ledger.EndpointRecord(
        container_id=name,
        ifname="eth0",
        netns=f"/run/netns/{name}",
        tenant="t1",
        segment="blue",
        network="net1",
        created_at=1.0,
    )


def files(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "endpoints").glob("*.json"))


def test_a_record_written_is_in_the_journal_and_in_its_file_after_the_next_load(
    tmp_path: Path,
) -> None:
    reg = ledger.Ledger(tmp_path)
    reg.load()
    ready = record("c1").ready((ipaddress.ip_address("10.1.0.5"),))
    reg.put(record("c1"))
    reg.put(ready)
    reg.put(record("c2"))
    reg.remove("c2:eth0")
    assert files(tmp_path) == [], "a write costs one journal entry, no file"
    assert len(journal.read(tmp_path / "endpoints.journal")) == 4

    again = ledger.Ledger(tmp_path)
    assert again.load() == []
    assert again.records() == [ready]
    assert len(files(tmp_path)) == 1
    assert journal.read(tmp_path / "endpoints.journal") == [], "load compacts"
    assert ledger.Ledger(tmp_path).load() == [] and again.records() == [ready]


def test_a_torn_last_entry_is_not_read(tmp_path: Path) -> None:
    reg = ledger.Ledger(tmp_path)
    reg.load()
    reg.put(record("c1"))
    reg.put(record("c2"))
    path = tmp_path / "endpoints.journal"
    data = bytearray(path.read_bytes())
    end = data.rindex(b"}") + 1
    data[end - 5 : end] = bytes(5)  # the crash came before the last entry was whole
    path.write_bytes(bytes(data))

    again = ledger.Ledger(tmp_path)
    assert again.load() == []
    assert [r.key for r in again.records()] == ["c1:eth0"]


def test_a_full_journal_is_compacted_and_nothing_is_lost(tmp_path: Path) -> None:
    reg = ledger.Ledger(tmp_path, journal_size=2048)
    reg.load()
    for i in range(40):
        reg.put(record(f"c{i}"))
        if i % 3 == 0:
            reg.remove(f"c{i}:eth0")
    kept = sorted(f"c{i}:eth0" for i in range(40) if i % 3)
    assert files(tmp_path), "compacted into the files on the way"
    assert [r.key for r in reg.records()] == kept
    again = ledger.Ledger(tmp_path)
    again.load()
    assert [r.key for r in again.records()] == kept
    assert len(files(tmp_path)) == len(kept)


def test_the_journal_refuses_an_entry_that_does_not_fit(tmp_path: Path) -> None:
    log = journal.Journal(tmp_path / "j", size=64)
    log.start()
    assert log.append({"a": 1})
    assert not log.append({"b": "x" * 64})
    log.close()
    assert journal.read(tmp_path / "j") == [{"a": 1}]
