"""The keeper of external IPs inside Docker containers, over a fake kernel and a fake clock:
what it asks the kernel to put in each container, when it asks again, and when it stops."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
from collections.abc import Callable

from romana.agent import kernel, ledger, view
from romana.agent.dockerexternals import FIRST_DELAY, MAX_DELAY, Keeper
from romana.core import endpoint as ep
from romana.core import hostplan
from romana.dataplane import sourceroutes
from romana.dataplane.rtmsg import Link
from unit.docker.test_docker_plugin import host_view

POOL = ipaddress.ip_network("203.0.113.0/24")
E1 = ipaddress.ip_address("203.0.113.1")
E6 = ipaddress.ip_address("2001:db8:200::1")
KEY = "docker-0123456789abcdef01234567:rdk0123456789a"


def record(key: str = KEY, state: str = ledger.READY) -> ledger.EndpointRecord:
    container_id, ifname = key.split(":")
    return ledger.EndpointRecord(
        container_id,
        ifname,
        "/run/docker/netns/0123",
        "t1",
        "web",
        addresses=(ipaddress.ip_address("10.2.17.1"),),
        state=state,
        mac="02:00:00:00:00:02",
        attachment=ep.DOCKER,
    )


class FakeDataplane:
    """Answers ``container_externals`` with ``ready`` (False: docker has not moved the end
    in yet), recording each call."""

    def __init__(self) -> None:
        self.ready = True
        self.calls: list[tuple[str, tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]]] = []

    def container_externals(
        self,
        spec: hostplan.EndpointSpec,
        wanted: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...],
        pools: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...],
    ) -> bool:
        assert pools == (POOL,)
        assert spec.mac == "02:00:00:00:00:02" and spec.gateways == (
            ipaddress.ip_address("10.2.0.1"),
        )
        self.calls.append((spec.id, tuple(wanted)))
        return self.ready


class Rig:
    def __init__(self) -> None:
        self.dp = FakeDataplane()
        self.now = 100.0
        self.records = [record()]
        self.held: tuple[view.ExternalAddress, ...] = ()
        self.keeper = Keeper(self.call, self.view, lambda: self.records, clock=lambda: self.now)

    async def call(self, work: Callable[[kernel.HostDataplane], object]) -> object:
        return work(self.dp)  # type: ignore[arg-type]

    def view(self) -> view.HostView:
        external = view.ExternalView(pools=(POOL,), addresses=self.held)
        return dataclasses.replace(host_view(2), external=external)

    def assign(self, *addresses: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
        self.held = tuple(view.ExternalAddress(a, "internet", KEY, ()) for a in addresses)

    def once(self) -> list[tuple[str, tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]]]:
        before = len(self.dp.calls)
        asyncio.run(self.keeper.once())
        return self.dp.calls[before:]


def test_each_container_is_visited_once_then_only_when_its_external_ips_change() -> None:
    rig = Rig()
    # After a start, each docker endpoint is visited once: an earlier agent's addresses go.
    assert rig.once() == [(KEY, ())]
    assert rig.once() == []
    # An IPv6 external IP of an IPv4-only endpoint is not put there.
    rig.assign(E1, E6)
    assert rig.once() == [(KEY, (E1,))]
    assert rig.once() == []
    rig.assign()
    assert rig.once() == [(KEY, ())]
    # An endpoint not ready yet, or not docker's, is never visited.
    rig.records = [
        record(state=ledger.ALLOCATING),
        dataclasses.replace(record(), attachment="veth"),
    ]
    rig.assign(E1)
    assert rig.once() == []


def test_a_container_not_there_yet_is_asked_again_later_and_later() -> None:
    rig = Rig()
    rig.dp.ready = False
    rig.assign(E1)
    assert rig.once() == [(KEY, (E1,))]
    assert rig.once() == [], "not before its delay"
    waited = []
    delay = FIRST_DELAY
    for _ in range(8):
        rig.now += delay
        assert rig.once() == [(KEY, (E1,))]
        waited.append(delay)
        delay = min(delay * 2, MAX_DELAY)
    assert waited[-1] == MAX_DELAY
    # A change is tried at once, whatever the delay.
    rig.assign()
    assert rig.once() == [(KEY, ())]
    rig.dp.ready = True
    rig.now += MAX_DELAY
    assert rig.once() == [(KEY, ())]
    assert rig.once() == []


def test_an_endpoint_no_longer_recorded_is_forgotten_and_visited_again_if_it_returns() -> None:
    rig = Rig()
    rig.assign(E1)
    assert rig.once() == [(KEY, (E1,))]
    rig.records = []
    assert rig.once() == []
    rig.records = [record()]
    assert rig.once() == [(KEY, (E1,))]


def test_the_requests_put_the_wanted_addresses_on_and_take_the_others_off() -> None:
    link = Link(7, "eth1", "veth", 1500, "02:00:00:00:00:02", True, "", 0)
    gateway = ipaddress.ip_address("10.2.0.1")
    old = ipaddress.ip_address("203.0.113.9")
    table = sourceroutes.table_of(7)
    said = [r.what for r in sourceroutes.external_requests(link, (old, E1), (E1,), (gateway,))]
    assert said == [
        "addr del 203.0.113.9/32 dev eth1",
        f"rule del from 203.0.113.9 lookup {table} pref {sourceroutes.RULE_PRIORITY}",
        "addr add 203.0.113.1/32 dev eth1",
        *(r.what for r in sourceroutes.requests(link, (E1,), (gateway,))),
    ]
    gone = sourceroutes.external_requests(link, (E1,), (), (gateway,))
    assert [r.what for r in gone] == [
        "addr del 203.0.113.1/32 dev eth1",
        f"rule del from 203.0.113.1 lookup {table} pref {sourceroutes.RULE_PRIORITY}",
    ]
