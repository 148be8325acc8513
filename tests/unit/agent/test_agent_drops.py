"""The agent's attributed drops: the ring of events the local API serves, and the exact
per-reason counter it exports from the kernel's resettable counters."""

from __future__ import annotations

import asyncio
import json

import agent_fakes
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from romana.agent import drops, http, localapi
from romana.core import addressing, errors, kernelnames, ruleset
from romana.dataplane import dropcounters, droplog

DENY = ruleset.policy_drop("t1/no-ssh", "ingress[0].peers[0].rules[0]")
TENANTS = ruleset.default_drop("isolation: other tenants")
REASONS = {DENY.id: DENY, TENANTS.id: TENANTS}


def logged(reason: ruleset.DropReason, src: str, dst: str) -> droplog.Logged:
    prefix = f"{kernelnames.DROP_LOG_PREFIX}{reason.label}"
    return droplog.Logged(prefix, src, dst, "tcp", sport=40000, dport=22)


def address(tenant: int, segment: int, ordinal: int = 5) -> str:
    hv = agent_fakes.host_view()
    return str(addressing.encode(hv.layouts["pods"], 1, tenant, segment, ordinal))


def ring() -> drops.Drops:
    hv = agent_fakes.host_view()
    return drops.Drops(lambda: REASONS, lambda: hv, capacity=3)


def test_an_event_names_its_reason_and_the_tenants_of_its_addresses() -> None:
    event = ring().record(logged(DENY, address(2, 0), address(1, 1)), at=12.5)
    assert event.to_dict() == {
        "seq": 1,
        "time": 12.5,
        "src": address(2, 0),
        "dst": address(1, 1),
        "proto": "tcp",
        "sport": 40000,
        "dport": 22,
        "reason": {"id": DENY.label, "policy": "t1/no-ssh", "rule": "ingress[0].peers[0].rules[0]"},
        "src_owner": {"network": "pods", "host": 1, "tenant": "t2", "segment": "default"},
        "dst_owner": {"network": "pods", "host": 1, "tenant": "t1", "segment": "blue"},
    }


def test_an_isolation_default_and_a_foreign_address() -> None:
    event = ring().record(logged(TENANTS, "192.0.2.9", address(1, 0)))
    assert event.to_dict()["reason"] == {"id": TENANTS.label, "default": TENANTS.default}
    assert "src_owner" not in event.to_dict()


def test_the_ring_keeps_the_last_events_numbered_in_order() -> None:
    drops_ = ring()
    for _ in range(5):
        drops_.record(logged(DENY, address(2, 0), address(1, 0)))
    assert [e.seq for e in drops_.after(0)] == [3, 4, 5]
    assert [e.seq for e in drops_.after(4)] == [5]


def test_a_waiting_reader_gets_the_next_event_as_soon_as_it_comes() -> None:
    drops_ = ring()

    async def scenario() -> list[int]:
        waiting = asyncio.create_task(drops_.wait_after(0, 5.0))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, drops_.record, logged(DENY, "10.9.9.9", "10.9.9.8"))
        return [e.seq for e in await asyncio.wait_for(waiting, 1.0)]

    assert asyncio.run(scenario()) == [1]
    assert asyncio.run(drops_.wait_after(1, 0.05)) == []


class CountingFirewall:
    def __init__(self) -> None:
        self.counts: dropcounters.Counts = {}

    def drop_counts(self) -> dropcounters.Counts:
        return dict(self.counts)


def test_counts_stay_monotonic_across_a_chain_rewrite() -> None:
    fw = CountingFirewall()
    counts = drops.DropCounts(fw, lambda: REASONS)
    fw.counts = {("a", DENY.id, 0, 0): (5, 5), ("b", DENY.id, 0, 0): (2, 1)}
    counts.refresh()
    fw.counts = {("a", DENY.id, 0, 0): (7, 6), ("b", DENY.id, 0, 0): (1, 1)}  # b was rewritten
    counts.refresh()
    assert counts.dropped() == {DENY.id: 5 + 2 + 2 + 1}


def test_the_counter_is_exported_by_policy_rule_and_reason() -> None:
    fw = CountingFirewall()
    fw.counts = {("a", DENY.id, 0, 0): (9, 4), ("b", TENANTS.id, 0, 0): (3, 3)}
    registry = CollectorRegistry()
    registry.register(drops.DropCounts(fw, lambda: REASONS, lambda: 2))
    text = generate_latest(registry).decode()
    assert (
        'romana_agent_dropped_packets_total{policy="t1/no-ssh",reason="policy",'
        'rule="ingress[0].peers[0].rules[0]"} 9.0'
    ) in text
    assert (
        'romana_agent_dropped_packets_total{policy="",reason="isolation: other tenants",'
        'rule=""} 3.0'
    ) in text
    assert 'romana_agent_drop_log_unlogged_total{policy="t1/no-ssh"' in text
    assert "romana_agent_drop_log_lost_total 2.0" in text


class NoService:
    pass


def get(api: localapi.LocalApi, query: dict[str, str]) -> http.Response:
    request = http.Request("GET", "v1/drops", ("v1", "drops"), query, {}, b"")
    return asyncio.run(api(request))


def test_the_local_api_serves_the_events_after_a_sequence_number() -> None:
    drops_ = ring()
    drops_.record(logged(DENY, address(2, 0), address(1, 0)))
    drops_.record(logged(TENANTS, address(2, 0), address(1, 0)))
    api = localapi.LocalApi(NoService(), drops_)  # type: ignore[arg-type]
    answer = get(api, {"after": "1", "wait": "0"})
    assert answer.status == 200
    body = json.loads(json.dumps(answer.body))
    assert [(e["seq"], e["reason"]["id"]) for e in body["events"]] == [(2, TENANTS.label)]
    with pytest.raises(errors.InvalidInput, match="after"):
        get(api, {"after": "x"})
    unfollowed = get(localapi.LocalApi(NoService()), {})  # type: ignore[arg-type]
    assert unfollowed.status == 503
