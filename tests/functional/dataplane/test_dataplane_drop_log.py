"""Attributed drops in a real kernel, on both backends: the rendered rules log a dropped
packet to the drop log group, the agent's netlink reader gets it with its reason's prefix,
addresses and ICMP type, and the firewall's listing counts it for the reason; a flood
across many drop rules logs no more than the host's rate; the agent's count of drops never
goes backwards across applies, and on nftables counts every drop without being read
before an apply; without the drop log, drops are counted and nothing is logged."""

from __future__ import annotations

import dataclasses
import ipaddress
import socket
import time
from collections.abc import Iterator

import pytest

from romana.agent import drops, firewall
from romana.core import addressing, dropreasons, errors, kernelnames, ruleset
from romana.dataplane import droplog, netns
from romana.lab import Lab
from support import env

pytestmark = pytest.mark.root

REASON = ruleset.default_drop("test: blocked source")


def blocked_from(address: str) -> ruleset.Ruleset:
    host = ipaddress.ip_network(f"{address}/32")
    source = ruleset.Address(
        ruleset.Side.SRC, addressing.Match(4, int(host.network_address), 2**32 - 1)
    )
    rule = ruleset.Rule(
        (source, ruleset.Protocol(ruleset.Proto.ICMP)), ruleset.DROP, "blocked", REASON
    )
    chain = ruleset.Chain("romana-input", (rule,), hook=ruleset.Hook.INPUT)
    return ruleset.Ruleset((), (chain,))


def with_rule_before(rs: ruleset.Ruleset) -> ruleset.Ruleset:
    """``rs`` with one more rule at the head of its chain: an apply rewrites the chain."""
    chain = rs.chains[0]
    extra = ruleset.Rule((ruleset.Protocol(ruleset.Proto.SCTP),), ruleset.ACCEPT, "extra")
    grown = ruleset.Chain(chain.name, (extra, *chain.rules), hook=chain.hook)
    return ruleset.Ruleset((), (grown,))


PORTS = range(7000, 7040)


def ports_denied() -> ruleset.Ruleset:
    """One drop rule, and reason, per UDP port of :data:`PORTS`."""
    rules = tuple(
        ruleset.Rule(
            (
                ruleset.Protocol(ruleset.Proto.UDP),
                ruleset.Ports(ruleset.Side.DST, ((port, port),)),
            ),
            ruleset.DROP,
            f"port {port}",
            ruleset.default_drop(f"test: port {port}"),
        )
        for port in PORTS
    )
    return ruleset.Ruleset((), (ruleset.Chain("romana-input", rules, hook=ruleset.Hook.INPUT),))


@pytest.fixture(params=["nftables", "iptables"])
def backend(request: pytest.FixtureRequest, lab: Lab) -> Iterator[tuple[Lab, str]]:
    name = str(request.param)
    env.need_binary("nft" if name == "nftables" else "iptables-restore")
    for host in ("h1", "h2", "h3"):
        lab.add_host(host)
    yield lab, name


def read(reader: droplog.Reader, within: float) -> list[droplog.Logged]:
    deadline = time.monotonic() + within
    got: list[droplog.Logged] = []
    while time.monotonic() < deadline:
        got += reader.receive(0.1)
    return got


def test_a_dropped_packet_is_logged_with_its_reason_and_counted(
    backend: tuple[Lab, str],
) -> None:
    lab, name = backend
    h1, h2, h3 = lab.hosts
    fw = firewall.backend(name, h1.path)
    fw.apply(blocked_from(str(h2.underlay_ip)))
    try:
        with droplog.Reader(h1.path) as reader:
            assert lab.silent(h2, h1.underlay_ip)
            assert lab.ping(h3, h1.underlay_ip)
            got = read(reader, 1.0)
        assert got, "nothing logged"
        assert {p.src for p in got} == {str(h2.underlay_ip)}, "an allowed packet was logged"
        first = got[0]
        assert first.prefix == f"{kernelnames.DROP_LOG_PREFIX}{REASON.label}"
        assert (first.dst, first.proto, first.icmp_type) == (str(h1.underlay_ip), "icmp", 8)
        counts = fw.drop_counts()
        dropped = sum(d for (_, rid, *_), (d, _) in counts.items() if rid == REASON.id)
        logged = sum(lg for (_, rid, *_), (_, lg) in counts.items() if rid == REASON.id)
        assert dropped >= len(got) and logged >= len(got)
        assert reader.lost == 0
    finally:
        fw.remove()


def test_a_second_reader_of_the_group_is_refused(lab: Lab) -> None:
    h1 = lab.add_host("h1")
    with droplog.Reader(h1.path), pytest.raises(errors.Unavailable, match="another process"):
        droplog.Reader(h1.path)


def test_a_flood_across_many_rules_logs_at_most_the_host_rate(
    backend: tuple[Lab, str],
) -> None:
    """Each rule alone may log its burst; all of them together only the host's."""
    lab, name = backend
    h1, h2, _ = lab.hosts
    fw = firewall.backend(name, h1.path)
    rules = ports_denied()
    fw.apply(rules)
    rounds = 30
    try:
        with droplog.Reader(h1.path) as reader:
            with netns.entered(h2.path):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            with sock:
                started = time.monotonic()
                for _ in range(rounds):
                    for port in PORTS:
                        sock.sendto(b"flood", (str(h1.underlay_ip), port))
                took = time.monotonic() - started
            got = read(reader, 1.0)
            assert reader.lost == 0
        counts = fw.drop_counts()
        dropped = sum(d for d, _ in counts.values())
        logged = sum(lg for _, lg in counts.values())
        bound = dropreasons.DROP_LOG_HOST_BURST + dropreasons.DROP_LOG_HOST_RATE * took
        per_rule = len(PORTS) * ruleset.DROP_LOG_BURST
        assert bound < per_rule, "the flood must be one the per-rule limits alone would log"
        assert dropped == rounds * len(PORTS), "every packet of the flood is dropped and counted"
        assert len(got) == logged
        assert len(got) <= bound, f"{len(got)} logged in {took:.3f} s"
        assert len({p.dport for p in got}) > 1, "the host's bucket serves every rule"
    finally:
        fw.remove()


def dropped_total(counts: drops.DropCounts) -> int:
    counts.refresh()
    return counts.dropped().get(REASON.id, 0)


def test_drop_counts_never_go_backwards_across_applies(backend: tuple[Lab, str]) -> None:
    """Read as Prometheus scrapes, between applies that rewrite the dropping chain (a
    delta, then a full resync), then take the reason away and bring it back: the count
    grows by exactly the packets dropped, even when the kernel's counter is made anew and
    climbs past its last value."""
    lab, name = backend
    h1, h2, _ = lab.hosts
    fw = firewall.backend(name, h1.path)
    first = blocked_from(str(h2.underlay_ip))
    second = with_rule_before(first)
    counts = drops.DropCounts(fw, lambda: first.drop_reasons)
    fw.apply(first)
    try:
        seen = [dropped_total(counts)]
        assert lab.silent(h2, h1.underlay_ip)  # two echo requests
        seen.append(dropped_total(counts))
        fw.apply(second, first)
        for _ in range(2):
            assert lab.silent(h2, h1.underlay_ip)
        seen.append(dropped_total(counts))
        fw.apply(second)
        assert lab.silent(h2, h1.underlay_ip)
        seen.append(dropped_total(counts))
        gone = ruleset.Ruleset((), (dataclasses.replace(first.chains[0], rules=()),))
        fw.apply(gone, second)
        assert REASON.id not in {rid for _, rid, *_ in fw.drop_counts()}
        fw.apply(first, gone)
        for _ in range(3):
            assert lab.silent(h2, h1.underlay_ip)
        seen.append(dropped_total(counts))
        assert seen == [0, 2, 6, 8, 14]
    finally:
        fw.remove()


def test_nft_counts_every_drop_without_a_read_before_an_apply(lab: Lab) -> None:
    """The named counters outlive a delta and a full resync: no drop between two reads is
    lost, however many applies came between."""
    env.need_binary("nft")
    h1, h2 = lab.add_host("h1"), lab.add_host("h2")
    fw = firewall.Nftables(h1.path)
    first = blocked_from(str(h2.underlay_ip))
    second = with_rule_before(first)
    counts = drops.DropCounts(fw, lambda: first.drop_reasons)
    fw.apply(first)
    try:
        assert dropped_total(counts) == 0
        assert lab.silent(h2, h1.underlay_ip)
        fw.apply(second, first)
        assert lab.silent(h2, h1.underlay_ip)
        fw.apply(first)
        assert lab.silent(h2, h1.underlay_ip)
        assert dropped_total(counts) == 6
    finally:
        fw.remove()


def test_without_the_drop_log_drops_are_counted_and_not_logged(
    backend: tuple[Lab, str],
) -> None:
    lab, name = backend
    h1, h2, _ = lab.hosts
    fw = firewall.backend(name, h1.path, drop_log=False)
    fw.apply(blocked_from(str(h2.underlay_ip)))
    try:
        with droplog.Reader(h1.path) as reader:
            assert lab.silent(h2, h1.underlay_ip)
            assert read(reader, 0.5) == []
        counts = fw.drop_counts()
        assert sum(d for d, _ in counts.values()) == 2
        assert sum(lg for _, lg in counts.values()) == 0
    finally:
        fw.remove()
