"""An endpoint's external IP is judged as the endpoint: ingress to it, egress from it.

The host under test is host 1 of the golden fixture (networks v4 and v6, tenants blue and
red with segments frontend and backend). Three of its endpoints hold external IPs: blue
backend (one per family), blue frontend and red frontend. Every walk to or from an external
address is held against the same walk with the endpoint's romana address: the verdict and
every rule that fired must be the same, but for the dispatch steps that led there.
"""

from __future__ import annotations

import functools
import ipaddress
import os
import re
from typing import Any

import pytest

from romana.core import addressing, ipam, ruleset, tenancy
from romana.core.errors import InvalidInput
from romana.core.identifiers import AllocationKey, HostName, SegmentName, TenantName
from romana.core.policy import compile, endpoints, evaluate, externals, reach, trees
from romana.core.render import iptables, nftables
from support import policy_inputs

FIXTURE = policy_inputs.load("golden-input.json")
P = evaluate.Path
TCP, UDP = ruleset.Proto.TCP, ruleset.Proto.UDP
OUTSIDE = ipaddress.ip_address("192.0.2.7")
DNS = ipaddress.ip_address("10.96.0.10")


ep = functools.partial(policy_inputs.endpoint_address, FIXTURE)
gw = functools.partial(policy_inputs.gateway, FIXTURE)


ip = ipaddress.ip_address
BLUE_BACKEND = {ip("203.0.113.10"): ep("blue", "backend")}
BLUE_BACKEND_V6 = {ip("2001:db8::10"): ep("blue", "backend", net="v6")}
BLUE_FRONTEND = {ip("203.0.113.11"): ep("blue", "frontend")}
RED_FRONTEND = {ip("203.0.113.20"): ep("red", "frontend")}
ALL = {**BLUE_BACKEND, **BLUE_BACKEND_V6, **BLUE_FRONTEND, **RED_FRONTEND}
PAIRS = externals.ordered(ALL.items())
SETS = {**FIXTURE["address_sets"], "web-pods": [f"{ep('blue', 'frontend')}/32"]}

SOURCES = (
    ep("blue", "backend", host=2),
    ep("blue", "frontend", host=2),
    ep("red", "frontend", host=2),
    ep("red", "backend", host=2),
    gw(1),
    gw(2),
    OUTSIDE,
)
SOURCES_V6 = (
    ep("blue", "backend", host=2, net="v6"),
    ep("blue", "frontend", host=2, net="v6"),
    ep("red", "frontend", host=2, net="v6"),
    ipaddress.ip_address("2001:db8:1::7"),
)
PROBES = ((TCP, 80), (TCP, 443), (TCP, 22), (TCP, 9100), (UDP, 53))
DISPATCH = re.compile(r": (tenant|segment) of ")


def fixture_with(
    policies: list[dict[str, Any]], isolation: dict[str, Any] | None = None
) -> dict[str, Any]:
    tenants = [
        dict(t, isolation=isolation) if isolation and t["name"] == "blue" else t
        for t in FIXTURE["tenants"]
    ]
    return dict(FIXTURE, tenants=tenants, policies=policies, address_sets=SETS)


def rules(fixture: dict[str, Any], pairs: Any = PAIRS, **overrides: Any) -> ruleset.Ruleset:
    inputs = policy_inputs.compile_input(fixture, externals=pairs, **overrides)
    return compile.compile_ruleset(inputs)


def walk(
    rs: ruleset.Ruleset,
    src: addressing.IPAddress,
    dst: addressing.IPAddress,
    path: evaluate.Path,
    probe: tuple[ruleset.Proto, int],
) -> tuple[bool, tuple[str, ...]]:
    packet = evaluate.Packet(src, dst, probe[0], path, dport=probe[1])
    found = evaluate.verdict(rs, packet)
    return found.allowed, tuple(r for r in found.reasons if not DISPATCH.search(r))


def ingress_verdicts(rs: ruleset.Ruleset) -> dict[tuple[str, str, str], bool]:
    """Every source and probe to every external address, held against its romana address."""
    out = {}
    for external, address in ALL.items():
        sources = SOURCES if address.version == 4 else SOURCES_V6
        local = [(s, P.TO_ENDPOINT) for s in sources]
        if address.version == 4:
            # A local source whose egress policies name peers that follow the external
            # address (any), so that the two walks may differ in ingress only.
            local += [(ep("blue", "backend", n=6), P.BETWEEN_ENDPOINTS), (gw(1), P.FROM_HOST)]
        for src, path in local:
            for probe in PROBES:
                judged = walk(rs, src, external, path, probe)
                assert judged == walk(rs, src, address, path, probe), (src, external, probe)
                out[str(src), str(address), f"{probe[0]}/{probe[1]}"] = judged[0]
    return out


def egress_verdicts(rs: ruleset.Ruleset) -> dict[tuple[str, str, str], bool]:
    """Every probe from every external address, held against its romana address."""
    out = {}
    for external, address in ALL.items():
        if address.version == 6:
            targets = [ipaddress.ip_address("fd00:96::10"), SOURCES_V6[-1]]
        else:
            targets = [DNS, OUTSIDE, ep("red", "backend", host=2), ep("blue", "backend", host=2)]
        for dst in targets:
            for probe in PROBES:
                judged = walk(rs, external, dst, P.FROM_ENDPOINT, probe)
                assert judged == walk(rs, address, dst, P.FROM_ENDPOINT, probe), (external, dst)
                out[str(address), str(dst), f"{probe[0]}/{probe[1]}"] = judged[0]
    return out


KUBE = {"mode": "kubernetes"}
SELECTING = [
    {
        "name": "backend-from-frontend",
        "applied_to": [{"tenant": "blue", "segment": "backend"}],
        "ingress": [
            {
                "peers": [{"tenant": "blue", "segment": "frontend"}],
                "rules": [{"protocol": "tcp", "ports": [80]}],
            }
        ],
    },
    {
        "name": "web-pods-from-red",
        "applied_to": [{"address_set": "web-pods", "tenant": "blue"}],
        "ingress": [{"peers": [{"tenant": "red"}], "rules": [{"protocol": "tcp", "ports": [443]}]}],
    },
]
EGRESS = [
    {
        "name": "backend-out-443",
        "applied_to": [{"tenant": "blue", "segment": "backend"}],
        "egress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [443]}]}],
    },
    {
        "name": "web-pods-out-dns",
        "applied_to": [{"address_set": "web-pods", "tenant": "blue"}],
        "egress": [{"peers": [{"cidr": "10.96.0.10/32"}], "rules": [{"protocol": "udp"}]}],
    },
    {
        "name": "blue-no-ssh-out",
        "action": "deny",
        "applied_to": [{"tenant": "blue"}],
        "egress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [22]}]}],
    },
]
GOLDEN = fixture_with(FIXTURE["policies"])
SCENARIOS = {
    "romana, segments isolated": fixture_with([]),
    "romana, segments open": fixture_with([], {"mode": "romana", "segments": "open"}),
    "kubernetes, no policy": fixture_with([], KUBE),
    "kubernetes, selecting policies": fixture_with(SELECTING, KUBE),
    "tenant and segment allow and deny policies": fixture_with(FIXTURE["policies"]),
    "egress policies": fixture_with([*FIXTURE["policies"], *EGRESS]),
}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_an_external_address_is_judged_as_its_endpoints_address(scenario: str) -> None:
    rs = rules(SCENARIOS[scenario])
    verdicts = {**ingress_verdicts(rs), **egress_verdicts(rs)}
    # Each scenario both opens and closes something, so the comparison is not vacuous.
    assert set(verdicts.values()) == {True, False}


def allowed(verdicts: dict[tuple[str, str, str], bool], src: Any, dst: Any, probe: str) -> bool:
    return verdicts[str(src), str(dst), probe]


def test_the_defaults_and_policies_apply_to_the_external_address() -> None:
    isolated = ingress_verdicts(rules(SCENARIOS["romana, segments isolated"]))
    backend = ep("blue", "backend")
    assert allowed(isolated, ep("blue", "backend", host=2), backend, "tcp/80")
    assert not allowed(isolated, ep("blue", "frontend", host=2), backend, "tcp/80")
    assert not allowed(isolated, OUTSIDE, backend, "tcp/80")
    assert allowed(isolated, gw(2), backend, "tcp/80")
    opened = ingress_verdicts(rules(SCENARIOS["romana, segments open"]))
    assert allowed(opened, ep("blue", "frontend", host=2), backend, "tcp/80")
    selected = ingress_verdicts(rules(SCENARIOS["kubernetes, selecting policies"]))
    assert allowed(selected, ep("blue", "frontend", host=2), backend, "tcp/80")
    assert not allowed(selected, OUTSIDE, backend, "tcp/80")
    frontend = ep("blue", "frontend")
    # Selected through an address set of romana addresses: the external address is in it.
    assert allowed(selected, ep("red", "frontend", host=2), frontend, "tcp/443")
    assert not allowed(selected, ep("red", "frontend", host=2), frontend, "tcp/80")
    assert allowed(
        ingress_verdicts(rules(SCENARIOS["kubernetes, no policy"])), OUTSIDE, frontend, "tcp/80"
    )
    golden = ingress_verdicts(rules(GOLDEN))
    assert allowed(golden, ep("red", "frontend", host=2), backend, "tcp/443")
    assert not allowed(golden, ep("blue", "backend", host=2), backend, "tcp/22")
    egress = egress_verdicts(rules(SCENARIOS["egress policies"]))
    assert allowed(egress, backend, OUTSIDE, "tcp/443")
    assert not allowed(egress, backend, OUTSIDE, "tcp/80")
    assert allowed(egress, frontend, DNS, "udp/53")
    assert not allowed(egress, frontend, DNS, "tcp/80")
    assert allowed(egress, ep("red", "frontend"), DNS, "udp/53")
    assert not allowed(egress, ep("red", "frontend"), OUTSIDE, "tcp/80")


def full_mask(rule: ruleset.Rule) -> bool:
    v = rule.verdict
    return isinstance(v, ruleset.Dispatch) and v.mask == (1 << (32 if v.version == 4 else 128)) - 1


def test_externals_add_full_address_dispatches_and_set_members_only() -> None:
    base = compile.compile_ruleset(policy_inputs.compile_input(GOLDEN))
    assert not any(full_mask(r) for c in base.chains for r in c.rules)
    grown = rules(GOLDEN)
    stripped = tuple(
        ruleset.Chain(c.name, tuple(r for r in c.rules if not full_mask(r)), c.hook, c.priority)
        for c in grown.chains
    )
    assert stripped == base.chains
    added = [r.verdict for c in grown.chains for r in c.rules if full_mask(r)]
    # One entry per external address in each tree its tenant appears in, at the root and
    # in its tenant chain when its segment has a chain there.
    assert len(added) == grown.rule_count - base.rule_count
    assert sum(len(d.targets) for d in added if isinstance(d, ruleset.Dispatch)) > len(ALL)
    changed = {s.name for s in grown.sets} & {s.name for s in base.sets if s not in grown.sets}
    assert changed == {"romana-set-web-pods-4"}
    assert grown.set_named("romana-set-web-pods-4").elements == (
        ipaddress.ip_network(ep("blue", "frontend")),
        ipaddress.ip_network("203.0.113.11/32"),
    )


def test_one_endpoints_external_ip_recompiles_only_its_tenants_chains() -> None:
    before = rules(GOLDEN)
    moved = {e: a for e, a in ALL.items() if e not in BLUE_BACKEND}
    moved[ip("203.0.113.99")] = ep("blue", "backend")
    after = rules(GOLDEN, pairs=externals.ordered(moved.items()))
    old = {c.name: c for c in before.chains}
    # Chains are memoised by what they depend on: unchanged ones are the very same objects.
    changed = {c.name for c in after.chains if c is not old[c.name]}
    blue = {c.name for c in after.chains if c.name.startswith(("romana-ia-blue", "romana-id-blue"))}
    assert changed - set(trees.ROOTS.values()) == blue
    assert {"romana-ia-blue", "romana-id-blue"} <= blue
    assert after != before
    to_new = evaluate.Packet(OUTSIDE, ip("203.0.113.99"), TCP, P.TO_ENDPOINT, dport=22)
    to_old = evaluate.Packet(OUTSIDE, ip("203.0.113.10"), TCP, P.TO_ENDPOINT, dport=22)
    assert "romana-id-blue: policy no-ssh-into-blue" in evaluate.verdict(after, to_new).reasons
    assert "romana-id-blue: policy no-ssh-into-blue" not in evaluate.verdict(after, to_old).reasons


@pytest.mark.parametrize(
    ("pair", "field", "rule"),
    [
        (("203.0.113.1", "fd00::1:15:5"), "externals[0]", "one address family"),
        (("10.9.0.1", "10.1.18.5"), "externals[0].external", "outside every romana network"),
        (("203.0.113.1", "10.2.18.5"), "externals[0].address", "this host's prefixes"),
    ],
)
def test_bad_externals_are_refused_naming_the_field(
    pair: tuple[str, str], field: str, rule: str
) -> None:
    bad = ((ip(pair[0]), ip(pair[1])),)
    with pytest.raises(InvalidInput) as info:
        rules(GOLDEN, pairs=bad)
    assert field in str(info.value) and rule in str(info.value)


def test_an_external_ip_given_twice_is_refused() -> None:
    twice = ((ip("203.0.113.1"), ep("blue")), (ip("203.0.113.1"), ep("red")))
    with pytest.raises(InvalidInput, match=r"externals\[1\]\.external.*two endpoints"):
        rules(GOLDEN, pairs=twice)


GOLDEN_NFT = policy_inputs.DATA / "externals.nft"
V4 = addressing.layout("v4", "10.0.0.0/8", 4, 4, 8)
V6 = addressing.layout("v6", "fd00::/48", 16, 16, 16)


def small() -> ruleset.Ruleset:
    """One tenant with segment web, and one external IP of each family on a web endpoint."""
    return compile.compile_ruleset(
        compile.CompileInput(
            layouts={"v4": V4, "v6": V6},
            tenants=(compile.Tenant("blue", {"v4": 1, "v6": 1}, {"web": 1}),),
            host="h1",
            host_prefixes=(addressing.host_prefix(V4, 1), addressing.host_prefix(V6, 1)),
            gateways=(addressing.gateway(V4, 1), addressing.gateway(V6, 1)),
            externals=externals.ordered(
                [
                    (ip("2001:db8::10"), addressing.encode(V6, 1, 1, 1, 5)),
                    (ip("203.0.113.10"), addressing.encode(V4, 1, 1, 1, 5)),
                ]
            ),
        )
    )


def test_nft_renders_each_external_ip_as_a_verdict_map_element() -> None:
    script = nftables.render(small())
    if os.environ.get("ROMANA_UPDATE_GOLDEN") == "1":
        GOLDEN_NFT.write_text(script)
    assert script == GOLDEN_NFT.read_text()
    assert "ip daddr & 255.255.255.255 vmap { 203.0.113.10 : jump romana-ia-blue }" in script
    assert "vmap { 2001:db8::10 : jump romana-ia-blue.web }" in script


def test_iptables_renders_one_rule_per_external_ip() -> None:
    rendered = iptables.render(small())
    assert (
        "-A ROMANA-IA-BLUE --destination 203.0.113.10/32 --match comment --comment "
        '"segment of external dst IPv4" --jump ROMANA-IA-BLUE.WEB'
    ) in rendered.filter_v4.splitlines()
    assert (
        "-A ROMANA-INGRESS-ALLOW --destination 2001:db8::10/128 --match comment --comment "
        '"tenant of external dst IPv6" --jump ROMANA-IA-BLUE'
    ) in rendered.filter_v6.splitlines()
    root = [
        line
        for line in iptables.render(rules(GOLDEN)).filter_v4.splitlines()
        if line.startswith("-A ROMANA-INGRESS-ALLOW --destination 203.0.113.")
    ]
    assert len(root) == len(ALL) - 1  # the IPv4 external addresses, one rule each


EXT = ip("198.51.100.10")
SHOP_EXT = ip("198.51.100.20")
PLACES = {  # key: (host, tenant, segment, ordinal)
    "blue-web-1": (1, "blue", 1, 1),
    "blue-web-2": (2, "blue", 1, 1),
    "blue-db-1": (2, "blue", 2, 1),
    "shop-db": (1, "shop", 0, 1),
}
IDS = {"blue": 1, "shop": 4}


def placed(key: str) -> addressing.IPAddress:
    host, tenant, segment, n = PLACES[key]
    return addressing.encode(V4, host, IDS[tenant], segment, n)


def explainer(pairs: tuple[externals.Pair, ...]) -> reach.Explainer:
    shop_db = {
        "id": "shop-db-from-shop",
        "applied_to": [{"address_set": "shop-db", "tenant": "shop"}],
        "ingress": [{"peers": [{"tenant": "shop"}], "rules": [{"protocol": "tcp"}]}],
    }
    return reach.Explainer(
        endpoints.Model(
            layouts={"v4": V4},
            hosts=tuple(
                endpoints.Host(
                    f"h{i}", ((addressing.host_prefix(V4, i), addressing.gateway(V4, i)),)
                )
                for i in (1, 2)
            ),
            tenants=(
                tenancy.Tenant(
                    TenantName("blue"), "", {"v4": 1}, {"default": 0, "web": 1, "db": 2}
                ),
                tenancy.Tenant(
                    TenantName("shop"), "", {"v4": 4}, {"default": 0}, isolation=tenancy.KUBERNETES
                ),
            ),
            policies=(shop_db,),
            address_sets={"shop-db": (ipaddress.ip_network(placed("shop-db")),)},
            allocations=tuple(
                ipam.Allocation(
                    AllocationKey(key),
                    HostName(f"h{host}"),
                    TenantName(tenant),
                    SegmentName({0: "default", 1: "web", 2: "db"}[segment]),
                    (placed(key),),
                )
                for key, (host, tenant, segment, _) in PLACES.items()
            ),
            externals=pairs,
        )
    )


EXPLAIN = explainer(((EXT, placed("blue-web-1")), (SHOP_EXT, placed("shop-db"))))


def test_explain_places_an_external_ip_as_its_endpoint_and_walks_its_host() -> None:
    to_external = EXPLAIN.explain("blue-web-2", str(EXT), "tcp/80")
    to_address = EXPLAIN.explain("blue-web-2", "blue-web-1", "tcp/80")
    target = to_external.target
    assert target.address == EXT and target.allocation == "blue-web-1"
    assert (target.host, target.segment, target.notes[0]) == (
        "h1",
        "web",
        f"external IP of {placed('blue-web-1')}",
    )
    assert to_external.allowed and to_external.ingress.host == "h1"
    assert to_external.ingress.decided_by == to_address.ingress.decided_by
    other_segment = EXPLAIN.explain("blue-db-1", str(EXT), "tcp/80")
    assert not other_segment.allowed
    assert "isolation: other segments v4" in other_segment.ingress.decided_by[0]
    outside = EXPLAIN.explain("192.0.2.7", str(EXT), "tcp/80")
    assert not outside.allowed and "isolation: other tenants" in outside.ingress.decided_by[0]
    egress = EXPLAIN.explain(str(EXT), "blue-web-2", "tcp/80")
    # Egress is judged on the endpoint's host as the endpoint's; the target's host sees an
    # address outside every network (it holds no external IP of its own endpoints).
    assert egress.egress.allowed and egress.egress.host == "h1"
    assert egress.source.tenant is not None and egress.source.segment == "web"


def test_explain_names_the_policy_that_selects_an_external_ip_through_an_address_set() -> None:
    found = EXPLAIN.explain("blue-web-2", str(SHOP_EXT), "tcp/80")
    assert not found.allowed
    assert found.ingress.decided_by == (
        "shop-db is isolated for ingress by policy shop/shop-db-from-shop",
        "no ingress rule of them allows this traffic",
    )


def test_without_externals_explain_sees_an_outside_address() -> None:
    with pytest.raises(InvalidInput, match="no romana host filters"):
        explainer(()).explain("192.0.2.7", str(EXT), "tcp/80")
