"""Matching stored per-network state to a new topology: renames, drops, named conflicts."""

from __future__ import annotations

from typing import Any

import pytest

from romana.core import topology
from romana.core.errors import Conflict
from romana.core.identifiers import NetworkName
from romana.core.topology.change import Change, Held, plan


def topo(*networks: tuple[str, str], **widths: int) -> topology.Topology:
    nets: list[dict[str, Any]] = [{"name": n, "cidr": c, **widths} for n, c in networks]
    host = {"name": "h1", "ip": "192.0.2.1"}
    return topology.parse(
        {"networks": nets, "topologies": [{"networks": [nets[0]["name"]], "map": [host]}]}
    )


A, B = "10.0.0.0/8", "172.16.0.0/12"


def as_change(renames: dict[str, str], dropped: frozenset[str] = frozenset()) -> Change:
    """The :class:`Change` written with plain strings, each network name being its string."""
    return Change(
        {NetworkName(old): NetworkName(new) for old, new in renames.items()},
        frozenset(NetworkName(name) for name in dropped),
    )


def test_a_network_is_matched_by_its_cidr() -> None:
    assert plan(topo(("a", A)), topo(("pods", A)), {"a": Held({0: 3})}) == as_change({"a": "pods"})


def test_a_swap_renames_both_and_drops_nothing() -> None:
    change = plan(topo(("a", A), ("b", B)), topo(("b", A), ("a", B)), {})
    assert change == as_change({"a": "b", "b": "a"})


def test_a_removed_network_whose_name_a_rename_takes_is_dropped() -> None:
    change = plan(topo(("a", A), ("b", B)), topo(("b", A)), {"b": Held(max_tenant_id=2)})
    assert change == as_change({"a": "b"}, frozenset({"b"}))


def test_a_network_holding_addresses_cannot_lose_its_name_to_a_rename() -> None:
    with pytest.raises(Conflict) as info:
        plan(topo(("a", A), ("b", B)), topo(("b", A)), {"b": Held({0: 1})})
    assert str(info.value) == (
        "the new topology removes network 'b' (172.16.0.0/12), which holds 1 allocated "
        "addresses; release them first"
    )


def test_narrowing_tenant_bits_below_a_held_id_is_refused() -> None:
    with pytest.raises(Conflict, match=r"gives network 'a' \(10\.0\.0\.0/8\) tenant_bits 2 "):
        plan(topo(("a", A)), topo(("a", A), tenant_bits=2), {"a": Held(max_tenant_id=4)})
    assert (
        plan(topo(("a", A)), topo(("a", A), tenant_bits=2), {"a": Held(max_tenant_id=3)})
        == Change()
    )


def test_every_conflict_is_named_at_once() -> None:
    held = {"a": Held({0: 1}), "b": Held({5: 2})}
    with pytest.raises(Conflict) as info:
        plan(topo(("a", A), ("b", B)), topo(("a", "11.0.0.0/8")), held)
    assert "changes the CIDR of network 'a' (10.0.0.0/8) to 11.0.0.0/8" in str(info.value)
    assert "removes network 'b' (172.16.0.0/12), which holds 2 allocated" in str(info.value)


def test_narrowing_segment_bits_below_a_pinned_tenants_segment_is_refused() -> None:
    held = {"a": Held(max_tenant_id=1, top_segments={"web": ("db", 4), "ops": ("x", 1)})}
    with pytest.raises(Conflict) as info:
        plan(topo(("a", A)), topo(("a", A), segment_bits=2), held)
    assert str(info.value) == (
        "the new topology gives network 'a' (10.0.0.0/8) segment_bits 2 (segment ids up to 3), "
        "but tenant 'web', pinned to it, has segment 'db' with id 4; remove that segment first"
    )
    held = {"a": Held(max_tenant_id=1, top_segments={"web": ("db", 3)})}
    assert plan(topo(("a", A)), topo(("a", A), segment_bits=2), held) == Change()


def test_a_renamed_network_must_keep_room_for_its_tenants_segments() -> None:
    held = {"a": Held(top_segments={"web": ("db", 2)})}
    with pytest.raises(Conflict, match=r"tenant 'web', pinned to it, has segment 'db' with id 2"):
        plan(topo(("a", A)), topo(("pods", A), segment_bits=1), held)
