"""The durable endpoint registry, and reading the CNI plugin's pending releases."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from romana.agent import ledger
from romana.integrations.cni import pending as cni_pending


def record(name: str) -> ledger.EndpointRecord:
    return ledger.EndpointRecord(
        container_id=name,
        ifname="eth0",
        netns=f"/run/netns/{name}",
        tenant="t1",
        segment="blue",
        network="net1",
        labels={"app": "web"},
        k8s={"namespace": "default", "pod": name},
        mtu=1400,
        created_at=12.5,
    )


def test_records_and_owed_releases_survive_a_restart(tmp_path: Path) -> None:
    first = ledger.Ledger(tmp_path)
    assert first.load() == []
    ready = record("c1").ready((ipaddress.ip_address("10.1.17.1"),))
    first.put(ready)
    first.put(record("c2"))
    first.owe_release("c3:eth0")
    first.remove("c2:eth0")

    second = ledger.Ledger(tmp_path)
    assert second.load() == []
    assert second.records() == [ready]
    assert second.get("c1:eth0") == ready
    assert second.releases() == ["c3:eth0"]
    second.released("c3:eth0")
    assert ledger.Ledger(tmp_path).releases() == []
    leftovers = [p.name for p in tmp_path.rglob(".*")]
    assert leftovers == [], "no temporary file is left behind"


def test_an_unreadable_record_is_reported_and_left_for_an_operator(tmp_path: Path) -> None:
    reg = ledger.Ledger(tmp_path)
    reg.load()
    reg.put(record("c1"))
    broken = tmp_path / "endpoints" / "broken.json"
    broken.write_text("{not json")
    again = ledger.Ledger(tmp_path)
    problems = again.load()
    assert len(problems) == 1 and "broken.json" in problems[0]
    assert [r.key for r in again.records()] == ["c1:eth0"]
    assert broken.exists()


def test_removing_an_absent_record_is_fine(tmp_path: Path) -> None:
    reg = ledger.Ledger(tmp_path)
    reg.load()
    assert reg.remove("nothing:eth0") is None
    reg.released("nothing:eth0")


def test_pending_entries_written_by_the_plugin_are_read_oldest_first(tmp_path: Path) -> None:
    directory = str(tmp_path / "pending")
    cni_pending.record(directory, cni_pending.PendingRelease("b", "eth0", "n", "/x", 20.0))
    cni_pending.record(directory, cni_pending.PendingRelease("a", "eth1", "n", "", 10.0))
    (tmp_path / "pending" / "junk.json").write_text(json.dumps({"version": 1}))
    (tmp_path / "pending" / ".tmp.json").write_text("partial")
    skipped: list[str] = []
    entries = cni_pending.list_pending(directory, skipped.append)
    assert [(e.container_id, e.ifname, e.recorded_at) for e in entries] == [
        ("a", "eth1", 10.0),
        ("b", "eth0", 20.0),
    ]
    assert cni_pending.is_pending(directory, entries[0])
    cni_pending.complete(directory, entries[0])
    cni_pending.complete(directory, entries[0])
    assert not cni_pending.is_pending(directory, entries[0])
    assert [e.container_id for e in cni_pending.list_pending(directory)] == ["b"]
    assert cni_pending.list_pending(str(tmp_path / "missing")) == []
    assert skipped == [str(tmp_path / "pending" / "junk.json")]
