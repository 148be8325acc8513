"""``romana explain`` for every endpoint: :mod:`romana.core.policy.reach` on a whole model.

The model: network ``v4`` (10.0.0.0/8; 4 tenant, 4 segment, 8 endpoint bits), hosts h1
(10.1.0.0/16) and h2 (10.2.0.0/16), tenants blue (segments web, db), green (web), red
(segments open: a, b) in ``romana`` mode and shop in ``kubernetes`` mode, endpoints
allocated by IPAM (no Kubernetes objects), and Romana-native policies. Expectations follow
the isolation semantics: in ``romana`` mode one's own tenant *and segment* are reachable
(every segment of the tenant when its segments are open), other tenants only through a
policy; in ``kubernetes`` mode a pod no ingress policy selects accepts everything.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

import pytest

from romana.core import addressing, ipam, tenancy
from romana.core.errors import InvalidInput, NotFound
from romana.core.identifiers import AllocationKey, HostName, SegmentName, TenantName
from romana.core.kubernetes import networkpolicy, translation
from romana.core.kubernetes import objects as ko
from romana.core.policy import endpoints, reach, traces

LAY = addressing.layout("v4", "10.0.0.0/8", 4, 4, 8)
HOSTS = {"h1": 1, "h2": 2}
OPEN = tenancy.Isolation(tenancy.Mode.ROMANA, tenancy.Segments.OPEN)
TENANTS = (
    tenancy.Tenant(TenantName("blue"), "", {"v4": 1}, {"default": 0, "web": 1, "db": 2}),
    tenancy.Tenant(TenantName("green"), "", {"v4": 2}, {"default": 0, "web": 1}),
    tenancy.Tenant(
        TenantName("red"), "", {"v4": 3}, {"default": 0, "a": 1, "b": 2}, isolation=OPEN
    ),
    tenancy.Tenant(TenantName("shop"), "", {"v4": 4}, {"default": 0}, isolation=tenancy.KUBERNETES),
)
BY_NAME = {t.name: t for t in TENANTS}
# key: (host, tenant, segment, ordinal)
PLACES = {
    "blue-web-1": ("h1", "blue", "web", 1),
    "blue-web-2": ("h2", "blue", "web", 1),
    "blue-web-3": ("h1", "blue", "web", 2),
    "blue-db-1": ("h2", "blue", "db", 1),
    "green-web-1": ("h1", "green", "web", 1),
    "red-a-1": ("h1", "red", "a", 1),
    "red-b-1": ("h2", "red", "b", 1),
    "shop-api": ("h2", "shop", "default", 1),
    "shop-db": ("h2", "shop", "default", 2),
    "shop-web": ("h1", "shop", "default", 1),
}


def address(key: str) -> addressing.IPAddress:
    host, tenant, segment, n = PLACES[key]
    t = BY_NAME[TenantName(tenant)]
    return addressing.encode(LAY, HOSTS[host], t.ids["v4"], t.segments[segment], n)


CROSS = {
    "id": "green-web-to-blue-db",
    "applied_to": [{"tenant": "blue", "segment": "db"}],
    "ingress": [
        {
            "peers": [{"tenant": "green", "segment": "web"}],
            "rules": [{"protocol": "udp", "ports": [53]}, {"protocol": "tcp", "ports": [80]}],
        }
    ],
}
FROM_OUTSIDE = {
    "id": "doc-net-to-blue-web",
    "applied_to": [{"tenant": "blue", "segment": "web"}],
    "ingress": [{"peers": [{"cidr": "192.0.2.0/24"}], "rules": [{"protocol": "tcp"}]}],
}
SHOP_DB = {
    "id": "shop-db-from-shop",
    "applied_to": [{"address_set": "shop-db", "tenant": "shop"}],
    "ingress": [{"peers": [{"tenant": "shop"}], "rules": [{"protocol": "tcp", "ports": [5432]}]}],
}


def model(*policies: dict[str, Any], **extra: Any) -> endpoints.Model:
    return endpoints.Model(
        layouts={"v4": LAY},
        hosts=tuple(
            endpoints.Host(
                name,
                ((addressing.host_prefix(LAY, i), addressing.gateway(LAY, i)),),
            )
            for name, i in HOSTS.items()
        ),
        tenants=TENANTS,
        policies=policies,
        address_sets={"shop-db": (ipaddress.ip_network(address("shop-db")),)},
        allocations=tuple(
            ipam.Allocation(
                AllocationKey(key),
                HostName(host),
                TenantName(tenant),
                SegmentName(segment),
                (address(key),),
            )
            for key, (host, tenant, segment, _) in PLACES.items()
        ),
        **extra,
    )


ALL = reach.Explainer(model(CROSS, FROM_OUTSIDE, SHOP_DB))


def explain(src: str, dst: str, port: str = "tcp/80") -> reach.Explanation:
    return ALL.explain(src, dst, port)


def test_same_tenant_and_segment_is_allowed_by_the_tenant_default() -> None:
    result = explain("blue-web-1", "blue-web-2")
    assert result.allowed
    assert (result.egress.host, result.ingress.host) == ("h1", "h2")
    assert result.ingress.decided_by == (
        "allowed by the default of tenant blue (romana, segments isolated): "
        "own tenant and segment v4",
    )
    assert result.egress.decided_by == (
        "blue-web-1 is not isolated for egress: no policy selects it",
    )
    assert result.source.tenant is not None and result.source.segment == "web"


def test_an_address_and_an_allocation_key_name_the_same_endpoint() -> None:
    by_key = explain("blue-web-1", "blue-web-2")
    by_address = explain(str(address("blue-web-1")), str(address("blue-web-2")))
    assert by_address.allowed == by_key.allowed
    assert by_address.ingress == by_key.ingress
    assert by_address.source.allocation == "blue-web-1"


def test_same_tenant_other_segment_is_denied_when_segments_are_isolated() -> None:
    result = explain("blue-web-1", "blue-db-1", "tcp/5432")
    assert not result.allowed and result.egress.allowed
    assert result.ingress.decided_by[0] == (
        "denied by the default of tenant blue (romana, segments isolated): "
        "isolation: other segments v4"
    )
    assert "green-web-to-blue-db" in result.ingress.decided_by[1]


def test_open_segments_reach_each_other() -> None:
    result = explain("red-a-1", "red-b-1")
    assert result.allowed
    assert "tenant red (romana, segments open)" in result.ingress.decided_by[0]


def test_other_tenant_is_denied_without_a_policy() -> None:
    result = explain("green-web-1", "blue-web-2")
    assert not result.allowed
    assert result.ingress.decided_by == (
        "denied by the default of tenant blue (romana, segments isolated): "
        "isolation: other tenants",
        "no ingress rule of policy blue/doc-net-to-blue-web allows it",
    )
    assert result.ingress.rule is None


def test_a_policy_opens_a_cross_tenant_port_and_is_named_with_its_rule() -> None:
    result = explain("green-web-1", "blue-db-1", "tcp/80")
    assert result.allowed
    assert result.ingress.decided_by == (
        "allowed by policy blue/green-web-to-blue-db ingress[0].rules[1]",
    )
    rule = result.ingress.rule
    assert rule is not None
    assert (rule.policy, rule.action, rule.path) == (
        "blue/green-web-to-blue-db",
        "allow",
        "ingress[0].rules[1]",
    )
    assert rule.peer == "ingress[0].peers[0] (tenant green segment web)"
    assert rule.networkpolicy is None
    other_port = explain("green-web-1", "blue-db-1", "tcp/81")
    assert not other_port.allowed
    assert "isolation: other tenants" in other_port.ingress.decided_by[0]


def test_an_outside_source_gets_the_ingress_walk_only_and_a_cidr_peer_admits_it() -> None:
    result = explain("192.0.2.7", "blue-web-2", "tcp/443")
    assert result.allowed
    assert result.source.network is None and result.egress.host is None
    assert "outside every romana network" in result.egress.decided_by[0]
    assert result.ingress.decided_by == (
        "allowed by policy blue/doc-net-to-blue-web ingress[0].rules[0]",
    )
    assert result.ingress.rule is not None and "cidr 192.0.2.0/24" in result.ingress.rule.peer
    denied = explain("198.51.100.1", "blue-web-2", "tcp/443")
    assert not denied.allowed and "isolation: other tenants" in denied.ingress.decided_by[0]


def test_an_outside_target_gets_the_egress_walk_only() -> None:
    result = explain("blue-web-1", "198.51.100.1", "udp/53")
    assert result.allowed and result.egress.host == "h1" and result.ingress.host is None
    assert "no romana host filters its ingress" in result.ingress.decided_by[0]


def test_kubernetes_mode_an_endpoint_no_policy_selects_accepts_everyone() -> None:
    result = explain("green-web-1", "shop-api", "tcp/8080")
    assert result.allowed
    assert result.target.isolation == tenancy.KUBERNETES
    assert result.ingress.decided_by == (
        "shop-api is not isolated for ingress: no NetworkPolicy selects it",
    )


def test_kubernetes_mode_a_selected_endpoint_accepts_only_what_its_policies_allow() -> None:
    denied = explain("green-web-1", "shop-db", "tcp/5432")
    assert not denied.allowed
    assert denied.ingress.decided_by == (
        "shop-db is isolated for ingress by policy shop/shop-db-from-shop",
        "no ingress rule of them allows this traffic",
    )
    allowed = explain("shop-web", "shop-db", "tcp/5432")
    assert allowed.allowed
    assert allowed.ingress.decided_by == (
        "allowed by policy shop/shop-db-from-shop ingress[0].rules[0]",
    )


def test_endpoints_of_one_host_are_walked_once_and_split() -> None:
    same = explain("blue-web-1", "blue-web-3")
    assert same.allowed and same.egress.host == same.ingress.host == "h1"
    assert same.egress.trace[-1].startswith(traces.EGRESS_PASSED)
    denied = explain("green-web-1", "blue-web-1")
    assert denied.egress.allowed and not denied.ingress.allowed
    assert "isolation: other tenants" in denied.ingress.decided_by[0]


def test_a_deny_policy_is_named_as_the_decider() -> None:
    deny = {
        "id": "no-dns",
        "action": "deny",
        "applied_to": [{"tenant": "blue"}],
        "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "udp", "ports": [53]}]}],
    }
    result = reach.explain(model(CROSS, deny), "green-web-1", "blue-db-1", "udp/53")
    assert not result.allowed
    assert result.ingress.decided_by == ("denied by policy blue/no-dns ingress[0].rules[0]",)
    assert result.ingress.rule is not None and result.ingress.rule.action == "deny"


SHOP_NS = (ko.admitted(ko.Namespace("shop")),)
SHOP_PODS = (
    ko.Pod("shop", "db", (("app", "db"),), "h2", (address("shop-db"),)),
    ko.Pod("shop", "web", (("app", "web"),), "h1", (address("shop-web"),)),
)
SHOP_NETPOL = networkpolicy.network_policy(
    {
        "kind": "NetworkPolicy",
        "apiVersion": "networking.k8s.io/v1",
        "metadata": {"namespace": "shop", "name": "db"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "db"}},
            "ingress": [{"from": [{"podSelector": {}}], "ports": [{"port": 5432}]}],
        },
    }
)


def kube_model(*policies: dict[str, Any]) -> endpoints.Model:
    """The shop pods and NetworkPolicy ``shop/db`` stored, with ``policies`` as the policies."""
    return model(
        *policies,
        namespaces=SHOP_NS,
        pods=SHOP_PODS,
        networkpolicies=(SHOP_NETPOL,),
    )


def test_a_kubernetes_pod_is_named_by_namespace_and_pod_and_its_networkpolicy() -> None:
    tr = translation.translate([SHOP_NETPOL], SHOP_NS, SHOP_PODS)
    m = dataclasses.replace(
        kube_model(*({"id": p.name, **p.to_dict()} for p in tr.policies)),
        address_sets=translation.address_sets(tr.sets, SHOP_PODS),
    )
    result = reach.explain(m, "shop/web", "shop/db", "tcp/5432")
    assert result.allowed and result.source.pod == "shop/web"
    assert result.ingress.decided_by == ("allowed by NetworkPolicy shop/db ingress rule 0",)
    assert result.ingress.rule is not None
    assert result.ingress.rule.networkpolicy == "shop/db"
    denied = reach.explain(m, "green-web-1", "shop/db", "tcp/5432")
    assert (
        denied.ingress.decided_by[0] == "shop/db is isolated for ingress by NetworkPolicy shop/db"
    )


def test_a_romana_policy_with_a_kube_id_is_not_taken_for_a_networkpolicy() -> None:
    # Stored under the id the translation of NetworkPolicy shop/db would have, but it is not
    # that translation: a policy's name never makes it a NetworkPolicy.
    native = {"id": "kube.shop.db", **{k: v for k, v in SHOP_DB.items() if k != "id"}}
    m = kube_model(native)
    result = reach.explain(m, "shop/web", "shop/db", "tcp/5432")
    assert result.allowed
    assert result.ingress.decided_by == ("allowed by policy shop/kube.shop.db ingress[0].rules[0]",)
    assert result.ingress.rule is not None and result.ingress.rule.networkpolicy is None
    denied = reach.explain(m, "green-web-1", "shop/db", "tcp/5432")
    assert denied.ingress.decided_by == (
        "shop/db is isolated for ingress by policy shop/kube.shop.db",
        "no ingress rule of them allows this traffic",
    )


def test_an_unallocated_address_is_explained_and_said_to_be_free() -> None:
    free = addressing.encode(LAY, 2, 1, 1, 77)
    result = explain("blue-web-1", str(free))
    assert result.allowed
    assert result.target.allocation is None
    assert any("not allocated" in n for n in result.target.notes)


def test_a_gateway_source_is_the_host_and_reaches_endpoints() -> None:
    result = explain(str(addressing.gateway(LAY, 1)), "blue-db-1")
    assert result.allowed and result.source.gateway
    assert "gateway" in result.egress.decided_by[0]
    assert "infrastructure" in result.ingress.decided_by[0]


def test_loopback_is_allowed() -> None:
    assert explain("blue-web-1", str(address("blue-web-1"))).allowed


@pytest.mark.parametrize(
    ("given", "error", "words"),
    [
        ("nope", NotFound, "neither an address nor an allocation key"),
        ("x/a", NotFound, "romana policy apply -f"),
        ("", NotFound, "give an IP address, an allocation key or NAMESPACE/POD"),
    ],
)
def test_an_unknown_name_says_what_was_given_and_which_forms_count(
    given: str, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match="give an IP address, an allocation key or NAMESPACE/POD") as e:
        explain(given, "blue-web-1")
    assert words in str(e.value)


def test_a_key_that_is_also_another_address_is_ambiguous() -> None:
    twin = str(address("blue-web-2"))
    base = model()
    alloc = ipam.Allocation(
        AllocationKey(twin),
        HostName("h1"),
        TenantName("blue"),
        SegmentName("web"),
        (address("blue-web-1"),),
    )
    m = dataclasses.replace(base, allocations=(*base.allocations, alloc))
    with pytest.raises(InvalidInput, match="ambiguous"):
        reach.explain(m, twin, "blue-db-1", "tcp/80")


def test_two_outside_addresses_are_refused() -> None:
    with pytest.raises(InvalidInput, match="no romana host filters"):
        explain("192.0.2.1", "198.51.100.1")


@pytest.mark.parametrize("text", ["tcp", "tcp/0", "tcp/65536", "http/80", "icmp/256", "udp/x"])
def test_a_bad_port_names_the_field_and_the_forms(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"port: .* must be tcp/PORT"):
        reach.Probe.parse(text)


def test_icmp_is_probed_as_echo_request() -> None:
    assert reach.Probe.parse("icmp") == reach.Probe("icmp")
    assert reach.Probe.parse("ICMP/0") == reach.Probe("icmp", 0)
    assert explain("blue-web-1", "blue-web-2", "icmp").allowed
    assert not explain("green-web-1", "blue-web-2", "icmp").allowed


def test_the_answer_serialises() -> None:
    body = explain("green-web-1", "blue-db-1").to_dict()
    assert body["allowed"] is True and body["protocol"] == "tcp" and body["port"] == 80
    assert body["source"]["tenant"] == "green"
    assert body["target"]["isolation"] == {"mode": "romana", "segments": "isolated"}
    assert body["ingress"]["rule"]["path"] == "ingress[0].rules[1]"


def test_traffic_to_its_own_host_is_judged_by_the_host_rule() -> None:
    result = explain("blue-web-1", str(addressing.gateway(LAY, 1)), "tcp/22")
    assert not result.allowed and result.target.gateway and result.ingress.host == "h1"
    assert result.ingress.decided_by == (
        "denied by host h1's rule for its own endpoints: default for endpoints to the host: drop",
    )
