"""Tenant numbering, network pinning and segments."""

from __future__ import annotations

import pytest

from romana.core import addressing, tenancy
from romana.core.errors import AlreadyExists, Conflict, Exhausted, InvalidInput
from romana.core.identifiers import NetworkName, SegmentName, TenantName

TENANT_T = TenantName("t")

V4 = addressing.layout("v4", "10.0.0.0/8", 2, 2, 8)
V4B = addressing.layout("v4b", "172.16.0.0/12", 4, 4, 8)
V6 = addressing.layout("v6", "fd00::/48")
ADMIT_ALL = (tenancy.NetworkAdmission(V4), tenancy.NetworkAdmission(V6))


def test_lowest_free_first() -> None:
    assert tenancy.lowest_free([1, 2, 4], 1, 5) == 3
    assert tenancy.lowest_free([1, 2, 3], 1, 3) is None


def test_automatic_pinning_takes_one_network_per_family() -> None:
    ids = tenancy.pin_networks(TenantName("web"), (), ADMIT_ALL, {})
    assert ids == {"v4": 1, "v6": 1}


def test_ids_are_per_network_and_lowest_free() -> None:
    ids = tenancy.pin_networks(TenantName("web"), (), ADMIT_ALL, {"v4": [1, 3], "v6": [1]})
    assert ids == {"v4": 2, "v6": 2}


def test_full_network_moves_tenant_to_the_next_admitting_network() -> None:
    nets = (tenancy.NetworkAdmission(V4), tenancy.NetworkAdmission(V4B))
    assert tenancy.pin_networks(TENANT_T, (), nets, {"v4": [1, 2, 3]}) == {"v4b": 1}


def test_exhaustion_names_networks_and_capacity() -> None:
    nets = (tenancy.NetworkAdmission(V4),)
    with pytest.raises(Exhausted, match=r"v4 \(3 tenants\)"):
        tenancy.pin_networks(TENANT_T, (), nets, {"v4": [1, 2, 3]})
    with pytest.raises(Exhausted, match="network 'v4' has no free tenant id: its 2 tenant bits"):
        tenancy.pin_networks(TENANT_T, (NetworkName("v4"),), nets, {"v4": [1, 2, 3]})


def test_requested_networks_are_checked() -> None:
    nets = (
        tenancy.NetworkAdmission(V4, frozenset({TenantName("a")})),
        tenancy.NetworkAdmission(V6),
    )
    with pytest.raises(InvalidInput) as exc:
        tenancy.pin_networks(TenantName("b"), (NetworkName("v4"), NetworkName("nope")), nets, {})
    assert [i.field for i in exc.value.issues] == ["networks[0]", "networks[1]"]
    assert tenancy.pin_networks(TenantName("b"), (), nets, {}) == {"v6": 1}


def test_segments_numbered_lowest_free_and_capped_by_narrowest_network() -> None:
    t = tenancy.Tenant(TENANT_T, "", {"v4": 1, "v6": 1})
    layouts = {"v4": V4, "v6": V6}
    for name in ("a", "b", "c"):
        t = tenancy.add_segment(t, SegmentName(name), layouts)
    assert t.segments == {"default": 0, "a": 1, "b": 2, "c": 3}
    with pytest.raises(Exhausted, match=r"holds? 4 segments"):
        tenancy.add_segment(t, SegmentName("d"), layouts)
    t = tenancy.remove_segment(t, SegmentName("b"))
    assert tenancy.add_segment(t, SegmentName("d"), layouts).segments["d"] == 2
    with pytest.raises(AlreadyExists):
        tenancy.add_segment(t, SegmentName("a"), layouts)
    with pytest.raises(Conflict):
        tenancy.remove_segment(t, SegmentName("default"))


def test_round_trip_dict() -> None:
    t = tenancy.Tenant(TENANT_T, "ext", {"v4": 2}, {"default": 0, "x": 1}, (NetworkName("v4"),))
    assert tenancy.Tenant.from_dict(t.to_dict()) == t


def test_a_tenant_read_from_the_rest_api_keeps_absent_fields_empty() -> None:
    """The REST answer spells an absent external id, uid or owner as null, never "None"."""
    raw = {"name": "t1", "ids": {"pods": 1}, "segments": {"default": 0}, "external_id": None,
           "uid": None, "owner": None}  # fmt: skip
    tenant = tenancy.Tenant.from_dict(raw)
    assert (tenant.external_id, tenant.uid, tenant.owner) == ("", "", "")
