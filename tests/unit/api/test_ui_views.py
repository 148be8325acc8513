"""The web view's pure computations (:mod:`romana.api.ui.views`) on hand-made REST answers."""

from __future__ import annotations

from romana.api.ui import views

NETWORK = {
    "name": "pods",
    "cidr": "10.0.0.0/8",
    "topology_bits": 8,
    "tenant_bits": 4,
    "segment_bits": 4,
    "endpoint_bits": 8,
}
HOSTS = [
    {"name": "h1", "prefixes": {"pods": "10.0.0.0/16"}},
    {"name": "h2", "prefixes": {"pods": "10.1.0.0/16"}},
]
TENANTS = [
    {"name": "a", "ids": {"pods": 1}, "segments": {"default": 0, "web": 1}},
    {"name": "b", "ids": {"pods": 2}, "segments": {"default": 0}},
]


def alloc(key: str, host: str, tenant: str, segment: str, address: str) -> dict[str, object]:
    return {"key": key, "host": host, "tenant": tenant, "segment": segment, "addresses": [address]}


def test_the_fields_span_the_whole_address_in_order() -> None:
    fields = views.fields(NETWORK)
    assert [(f.name, f.bits, f.offset) for f in fields] == [
        ("network prefix", 8, 0),
        ("host", 8, 8),
        ("tenant", 4, 16),
        ("segment", 4, 20),
        ("endpoint", 8, 24),
    ]


def test_usage_counts_ranges_and_lists_the_fullest_first() -> None:
    allocations = [
        alloc("a1", "h1", "a", "web", "10.0.17.1"),
        alloc("a2", "h1", "a", "web", "10.0.17.2"),
        alloc("b1", "h2", "b", "default", "10.1.32.1"),
    ]
    hosts, tenants = views.usage([NETWORK], HOSTS, TENANTS, allocations)
    # Each host holds a's two ranges and b's one, 254 endpoints each.
    assert [(u.name, u.used, u.capacity) for u in hosts] == [("h1", 2, 762), ("h2", 1, 762)]
    # a: two segments on two hosts; b: one segment on two hosts. Equally full: more used first.
    assert [(u.name, u.used, u.capacity) for u in tenants] == [("a", 2, 1016), ("b", 1, 508)]


def test_policies_in_tier_order_with_romana_isolation_first_in_the_baseline() -> None:
    policies: list[dict[str, object]] = [
        {"id": "z", "tier": "baseline", "priority": 1},
        {"id": "b"},
        {"id": "a", "tier": "admin", "priority": 9},
        {"id": "c", "tier": "admin", "priority": 2},
    ]
    tenants = [
        {"name": "t", "isolation": {"mode": "romana", "segments": "isolated"}},
        {"name": "k", "isolation": {"mode": "kubernetes", "segments": "isolated"}},
    ]
    ordered = [p["id"] for p in views.evaluation_order(policies, tenants)]
    assert ordered == ["c", "a", "b", "isolation:t", "z"]


def test_tenant_and_segment_targets_count_what_they_select() -> None:
    allocations = [
        alloc("a1", "h1", "a", "web", "10.0.17.1"),
        alloc("a2", "h1", "a", "x", "10.0.18.1"),
    ]
    assert views.selects({"tenant": "a"}, allocations) == 2
    assert views.selects({"segment": "web", "tenant": "a"}, allocations) == 1
    assert views.selects({"local": True}, allocations) is None
    assert views.target_text({"segment": "web", "tenant": "a"}) == "tenant a, segment web"


def test_a_namespace_picks_the_allocations_of_its_pods() -> None:
    allocations = [
        alloc("a1", "h1", "a", "web", "10.0.17.1"),
        alloc("a2", "h2", "a", "web", "10.1.17.1"),
        alloc("b1", "h2", "b", "default", "10.1.32.1"),
    ]
    pods = [("shop", ["10.0.17.1", "10.1.32.1"]), ("other", ["10.1.17.1"])]
    picked, count = views.selected(views.Choice(namespace="shop"), allocations, pods, 10)
    assert [p.address for p in picked] == ["10.0.17.1", "10.1.32.1"] and count == 2
    picked, count = views.selected(views.Choice(host="h2"), allocations, pods, 1)
    assert [p.address for p in picked] == ["10.1.17.1"] and count == 2
