"""The agent's VIP holder: it holds a VIP in the kernel only while romanad grants the lease.

A fake romanad answers lease requests, a fake kernel records what the holder asked of it,
and the clock is the test's: no thread, no sleep.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Mapping
from typing import Any

from agent_fakes import raw_view

from romana.agent import ledger, view
from romana.agent import vips as holder_mod
from romana.core.errors import Unavailable

VIP = ipaddress.ip_address("203.0.113.5")
KEY = "c1:eth0"


class Romanad:
    """Grants the lease when ``grant`` is true; raises ``fail`` when set."""

    def __init__(self) -> None:
        self.grant = True
        self.fail: Exception | None = None
        self.expires_in = 1.6
        self.calls: list[tuple[str, bool]] = []

    async def lease_vip(self, name: str, host: str, release: bool = False) -> Mapping[str, Any]:
        self.calls.append((name, release))
        if self.fail is not None:
            raise self.fail
        held = self.grant and not release
        return {"vip": name, "held": held, "ttl": 1.6, "expires_in": self.expires_in}


class Kernel:
    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def hold_vip(self, address: object, ifname: str, lifetime: int) -> bool:
        self.calls.append(("hold", (address, ifname, lifetime)))
        return True

    def drop_vip(self, address: object, ifname: str) -> None:
        self.calls.append(("drop", (address, ifname)))

    def announce(self, address: object, ifname: str) -> None:
        self.calls.append(("announce", (address, ifname)))


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _view(local: bool = True) -> view.HostView:
    raw = raw_view()
    raw["vips"] = [
        {
            "name": "front",
            "address": str(VIP),
            "endpoints": ["10.1.16.1"],
            "local": [KEY] if local else [],
        }
    ]
    return view.parse(raw)


def _ready() -> list[ledger.EndpointRecord]:
    record = ledger.EndpointRecord("c1", "eth0", "/run/netns/c1", "t1", "default")
    return [record.ready((ipaddress.ip_address("10.1.16.1"),))]


def _holder(
    romanad: Romanad,
    kernel: Kernel,
    clock: Clock,
    hv: Callable[[], view.HostView | None],
) -> holder_mod.Holder:
    async def on_writer(work: Callable[[Any], object]) -> object:
        return work(kernel)

    return holder_mod.Holder(
        host="h1",
        leases=romanad,
        kernel=on_writer,
        underlay=lambda: "eth0",
        host_view=hv,
        records=_ready,
        clock=clock,
    )


def test_a_granted_lease_holds_the_address_for_whole_seconds_and_announces_it_once() -> None:
    romanad, kernel, clock = Romanad(), Kernel(), Clock()
    holder = _holder(romanad, kernel, clock, _view)
    asyncio.run(holder.step())
    # 1.6 s granted, less the margins: the kernel keeps it one whole second.
    assert kernel.calls == [("hold", (VIP, "eth0", 1)), ("announce", (VIP, "eth0"))]
    assert "front" in holder.held
    # A renewal a quarter of the lease later refreshes the lifetime, announcing nothing.
    clock.now += 0.4
    asyncio.run(holder.step())
    assert kernel.calls[-1] == ("hold", (VIP, "eth0", 1))
    assert [c for c, _ in kernel.calls].count("announce") == 1


def test_renewals_wait_their_turn() -> None:
    romanad, kernel, clock = Romanad(), Kernel(), Clock()
    holder = _holder(romanad, kernel, clock, _view)
    asyncio.run(holder.step())
    clock.now += 0.1
    asyncio.run(holder.step())
    assert len(romanad.calls) == 1  # not due before ttl / 4


def test_a_lease_granted_to_another_host_drops_the_address_at_once() -> None:
    romanad, kernel, clock = Romanad(), Kernel(), Clock()
    holder = _holder(romanad, kernel, clock, _view)
    asyncio.run(holder.step())
    romanad.grant = False
    clock.now += 0.4
    asyncio.run(holder.step())
    assert kernel.calls[-1] == ("drop", (VIP, "eth0"))
    assert not holder.held


def test_a_contender_asks_again_just_after_the_holders_lease_runs_out() -> None:
    romanad, kernel, clock = Romanad(), Kernel(), Clock()
    romanad.grant = False
    romanad.expires_in = 1.0
    holder = _holder(romanad, kernel, clock, _view)
    asyncio.run(holder.step())
    clock.now += 0.9
    asyncio.run(holder.step())
    assert len(romanad.calls) == 1  # the holder's lease still runs
    clock.now += 0.2
    romanad.grant = True
    asyncio.run(holder.step())
    assert len(romanad.calls) == 2
    assert ("announce", (VIP, "eth0")) in kernel.calls


def test_romanad_away_keeps_what_the_kernel_holds_until_its_lifetime_ends() -> None:
    romanad, kernel, clock = Romanad(), Kernel(), Clock()
    holder = _holder(romanad, kernel, clock, _view)
    asyncio.run(holder.step())
    romanad.fail = Unavailable("romanad is away")
    clock.now += 0.5
    asyncio.run(holder.step())
    assert "front" in holder.held  # the kernel drops it by itself, on time
    assert [c for c, _ in kernel.calls] == ["hold", "announce"]
    clock.now += 1.0
    asyncio.run(holder.step())
    assert not holder.held


def test_a_vip_without_a_ready_endpoint_here_is_released() -> None:
    romanad, kernel, clock = Romanad(), Kernel(), Clock()
    current = {"hv": _view()}
    holder = _holder(romanad, kernel, clock, lambda: current["hv"])
    asyncio.run(holder.step())
    current["hv"] = _view(local=False)
    clock.now += 0.1
    asyncio.run(holder.step())
    assert romanad.calls[-1] == ("front", True)
    assert kernel.calls[-1] == ("drop", (VIP, "eth0"))
    assert not holder.held


def test_a_host_without_an_endpoint_of_the_vip_never_asks() -> None:
    romanad, kernel, clock = Romanad(), Kernel(), Clock()
    holder = _holder(romanad, kernel, clock, lambda: _view(local=False))
    asyncio.run(holder.step())
    assert romanad.calls == [] and kernel.calls == []
