"""Attributed drops in a real kernel, on both backends: the rendered rules log a dropped
packet to the drop log group, the agent's netlink reader gets it with its reason's prefix,
addresses and ICMP type, and the firewall's listing counts it for the reason."""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterator

import pytest

from romana.agent import firewall
from romana.core import addressing, errors, kernelnames, ruleset
from romana.dataplane import droplog
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
        dropped = sum(d for (_, rid, _), (d, _) in counts.items() if rid == REASON.id)
        logged = sum(lg for (_, rid, _), (_, lg) in counts.items() if rid == REASON.id)
        assert dropped >= len(got) and logged >= len(got)
        assert reader.lost == 0
    finally:
        fw.remove()


def test_a_second_reader_of_the_group_is_refused(lab: Lab) -> None:
    h1 = lab.add_host("h1")
    with droplog.Reader(h1.path), pytest.raises(errors.Unavailable, match="another process"):
        droplog.Reader(h1.path)
