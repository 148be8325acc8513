"""Blackouts over a real store: never over an allocated address, even against a racing
allocation; ranges added and removed one by one, the others kept."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from romana.core.errors import Conflict, NotFound
from romana.core.identifiers import AllocationKey, HostName, NetworkName, TenantName
from romana.core.store import Range, Store
from romana.services import keys
from unit.services.conftest import Services

H1 = HostName("h1")
KEY_K = AllocationKey("k")
NET4 = NetworkName("net4")
WEB = TenantName("web")

HELD = re.escape("10.0.16.1 in 10.0.16.0/30 (key 'k', host 'h1', tenant 'web', segment 'default')")


@pytest.fixture
def web(svc: Services) -> Services:
    svc.tenants.create(WEB)
    return svc


def test_blacking_out_an_allocated_address_is_refused_naming_the_allocation(web: Services) -> None:
    web.ipam.allocate(KEY_K, H1, WEB)
    web.ipam.set_blackouts(NET4, ["10.0.17.0/30"])
    with pytest.raises(Conflict, match=f"cannot black out 10.0.16.0/30 .*{HELD}") as exc:
        web.ipam.set_blackouts(NET4, ["10.0.17.0/30", "10.0.16.0/30"])
    assert str(exc.value).endswith("; release it first")
    with pytest.raises(Conflict, match=HELD):
        web.ipam.add_blackouts(NET4, ["10.0.16.0/30"])
    # Refused means nothing changed: the old list stands, the address stays allocated.
    assert web.ipam.blackouts(NET4) == ["10.0.17.0/30"]
    assert web.ipam.key_of("10.0.16.1") == "k"


@pytest.mark.parametrize(
    "cidr",
    [
        "10.0.16.1/32",  # the address alone: one slot
        "10.0.0.0/16",  # the whole of h1: every tenant and segment
        "10.0.0.0/9",  # several hosts
    ],
)
def test_refusal_finds_the_address_whatever_the_range_spans(web: Services, cidr: str) -> None:
    web.ipam.allocate(KEY_K, H1, WEB)
    with pytest.raises(Conflict, match=r"10\.0\.16\.1 in .*key 'k'"):
        web.ipam.add_blackouts(NET4, [cidr])
    assert web.ipam.blackouts(NET4) == []


def test_a_released_address_can_be_blacked_out(web: Services) -> None:
    web.ipam.allocate(KEY_K, H1, WEB)
    web.ipam.release(KEY_K)
    assert web.ipam.add_blackouts(NET4, ["10.0.16.0/30"]) == ["10.0.16.0/30"]
    assert str(web.ipam.allocate(AllocationKey("k2"), H1, WEB).addresses[0]) == "10.0.16.4"


def test_add_and_remove_change_only_the_ranges_named(web: Services) -> None:
    assert web.ipam.add_blackouts(NET4, ["10.0.16.0/30"]) == ["10.0.16.0/30"]
    # A range given again, or spelled with host bits, is the same range: nothing is added.
    both = web.ipam.add_blackouts(NET4, ["10.0.16.2/30", "10.0.32.0/24"])
    assert both == ["10.0.16.0/30", "10.0.32.0/24"]
    assert web.ipam.remove_blackouts(NET4, ["10.0.16.0/30"]) == ["10.0.32.0/24"]
    assert web.ipam.blackouts(NET4) == ["10.0.32.0/24"]
    # Removing is all or nothing: one absent range keeps the present one too.
    with pytest.raises(NotFound, match=r"10\.0\.16\.0/30 is not among the blackouts.*10\.0\.32"):
        web.ipam.remove_blackouts(NET4, ["10.0.32.0/24", "10.0.16.0/30"])
    assert web.ipam.blackouts(NET4) == ["10.0.32.0/24"]
    with pytest.raises(NotFound, match="network 'nope'"):
        web.ipam.add_blackouts(NetworkName("nope"), ["10.0.0.0/30"])


class RacingStore:
    """The store, with one callback run right after the first range read under ``prefix``."""

    def __init__(self, inner: Store, prefix: str, race: Callable[[], Any]) -> None:
        self._inner = inner
        self._prefix = prefix
        self._race: Callable[[], Any] | None = race

    def range(self, prefix: str) -> Range:
        found = self._inner.range(prefix)
        if self._race is not None and prefix.startswith(self._prefix):
            race, self._race = self._race, None
            race()
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def allocate(svc: Services) -> None:
    svc.ipam.allocate(KEY_K, H1, WEB)


def black_out(svc: Services) -> None:
    svc.ipam.add_blackouts(NET4, ["10.0.16.0/30"])


def test_an_allocation_racing_the_blackout_makes_it_refuse(web: Services) -> None:
    """The allocation commits after the blackout checked the addresses, before it committed."""
    other = Services(web.store)  # another replica over the same store
    racing = Services(RacingStore(web.store, keys.IPAM_ADDR, lambda: allocate(other)))
    with pytest.raises(Conflict, match=HELD):
        racing.ipam.add_blackouts(NET4, ["10.0.16.0/30"])
    assert web.ipam.blackouts(NET4) == []
    assert web.ipam.key_of("10.0.16.1") == "k"


def test_a_blackout_racing_the_allocation_moves_it_out_of_the_range(web: Services) -> None:
    """The blackout commits after the allocation chose its address, before it committed."""
    other = Services(web.store)
    racing = Services(RacingStore(web.store, keys.IPAM_ADDR, lambda: black_out(other)))
    assert str(racing.ipam.allocate(KEY_K, H1, WEB).addresses[0]) == "10.0.16.4"
