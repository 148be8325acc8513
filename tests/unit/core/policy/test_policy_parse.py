"""Parsing Romana policy JSON: both shapes, one model, every problem named at once."""

from __future__ import annotations

import copy
import ipaddress
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from romana.core.errors import InvalidInput
from romana.core.policy import model, parse

V1_SSH = {
    "name": "pol-ssh",
    "description": "ssh into the backend",
    "direction": "ingress",
    "id": 7,
    "external_id": "pol-ssh",
    "applied_to": [{"tenant": "demo", "segment": "backend"}],
    "ingress": [
        {
            "peers": [{"peer": "any"}],
            "rules": [
                {"protocol": "TCP", "ports": [443, 22, 80], "is_stateful": True},
                {"protocol": "udp", "port_ranges": [[1000, 2000]]},
                {"protocol": "icmp", "icmp_type": 8, "icmp_code": 0},
            ],
        }
    ],
}

EXPECTED_SSH = model.Policy(
    name="pol-ssh",
    description="ssh into the backend",
    external_id="pol-ssh",
    applied_to=(model.Endpoint.of_tenant("demo", "backend"),),
    ingress=(
        model.Clause(
            peers=(model.Endpoint(peer=model.Peer.ANY),),
            rules=(
                model.Rule(model.Protocol.TCP, ports=(22, 80, 443)),
                model.Rule(model.Protocol.UDP, port_ranges=(model.PortRange(1000, 2000),)),
                model.Rule(model.Protocol.ICMP, icmp_type=8, icmp_code=0),
            ),
        ),
    ),
)


def issues_of(raw: object) -> list[tuple[str, str]]:
    with pytest.raises(InvalidInput) as err:
        parse.policy(raw)
    return [(i.field, i.rule) for i in err.value.issues]


def with_changes(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(base)
    for key, value in changes.items():
        if value is None:
            raw.pop(key, None)
        else:
            raw[key] = value
    return raw


def test_v1_policy_parses_to_the_model() -> None:
    assert parse.policy(V1_SSH) == EXPECTED_SSH


def test_v2_policy_with_id_and_namespace_tenant_parses_to_the_same_model() -> None:
    v2 = {
        "id": "pol-ssh",
        "description": "ssh into the backend",
        "direction": "ingress",
        "applied_to": [{"tenant_id": "demo", "segment_id": "backend"}],
        "ingress": V1_SSH["ingress"],
    }
    assert parse.policy(v2) == model.Policy(
        **{**_fields(EXPECTED_SSH), "external_id": ""},
    )


def _fields(p: model.Policy) -> dict[str, Any]:
    return {f: getattr(p, f) for f in p.__dataclass_fields__}


def test_v1_egress_direction_turns_ingress_clauses_into_egress() -> None:
    raw = with_changes(V1_SSH, direction="egress")
    parsed = parse.policy(raw)
    assert parsed.ingress == ()
    assert parsed.egress == EXPECTED_SSH.ingress
    assert parsed.directions == (model.Direction.EGRESS,)


def test_both_directions_and_deny_action() -> None:
    raw = with_changes(V1_SSH, direction=None, action="DENY", egress=V1_SSH["ingress"])
    parsed = parse.policy(raw)
    assert parsed.action is model.Action.DENY
    assert parsed.directions == (model.Direction.INGRESS, model.Direction.EGRESS)


def test_v1_numeric_and_external_tenant_references() -> None:
    raw = with_changes(
        V1_SSH,
        applied_to=[{"tenant_id": 3, "tenant_external_id": "uid-1", "segment_network_id": 2}],
    )
    target = parse.policy(raw).applied_to[0]
    assert target.tenant == model.TenantRef(external_id="uid-1", number=3)
    assert target.segment == model.SegmentRef(number=2)
    assert target.kind is model.Kind.SEGMENT


def test_romana_examples_with_host_and_local() -> None:
    dhcp_host = {
        "name": "pol-dhcp-host",
        "applied_to": [{"dest": "host"}],
        "ingress": [{"peers": [{"peer": "local"}], "rules": [{"protocol": "udp", "ports": [67]}]}],
    }
    parsed = parse.policy(dhcp_host)
    assert parsed.applied_to[0].kind is model.Kind.HOST
    assert parsed.ingress[0].peers[0].kind is model.Kind.LOCAL


# The messages of Romana v1's validation (asserted by its own test), now with field paths.
@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {"direction": "bla"},
            ("direction", "Unknown direction 'bla', allowed 'egress' or 'ingress'."),
        ),
        ({"applied_to": None}, ("applied_to", "Required 'applied_to' entry missing.")),
        ({"applied_to": []}, ("applied_to", "Required 'applied_to' entry missing.")),
        (
            {"ingress": None},
            ("ingress", "Required 'ingress' or 'egress' entry missing."),
        ),
        (
            {"ingress": [{"peers": [{"peer": "any"}], "rules": [{"ports": [80]}]}]},
            ("ingress[0].rules[0].protocol", "No protocol specified."),
        ),
        (
            {"ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "xxxx"}]}]},
            ("ingress[0].rules[0].protocol", "Invalid protocol: xxxx."),
        ),
        (
            {
                "ingress": [
                    {
                        "peers": [{"peer": "any"}],
                        "rules": [{"protocol": "tcp", "ports": [80, 65536, 100000]}],
                    }
                ]
            },
            ("ingress[0].rules[0].ports", "The following ports are invalid: 65536, 100000."),
        ),
        (
            {
                "ingress": [
                    {
                        "peers": [{"peer": "any"}],
                        "rules": [{"protocol": "tcp", "port_ranges": [[3, 65536], [10, 4]]}],
                    }
                ]
            },
            (
                "ingress[0].rules[0].port_ranges",
                "The following port ranges are invalid: 3-65536, 10-4.",
            ),
        ),
        (
            {
                "ingress": [
                    {"peers": [{"peer": "any"}], "rules": [{"protocol": "icmp", "ports": [1]}]}
                ]
            },
            ("ingress[0].rules[0]", "a icmp rule takes no ports (ports need tcp, udp or sctp)"),
        ),
        (
            {
                "ingress": [
                    {"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "icmp_type": 8}]}
                ]
            },
            ("ingress[0].rules[0].icmp_type", "only icmp and icmpv6 rules take icmp_type"),
        ),
        (
            {
                "ingress": [
                    {
                        "peers": [{"peer": "any"}],
                        "rules": [{"protocol": "icmp", "icmp_type": 3, "icmp_code": 16}],
                    }
                ]
            },
            ("ingress[0].rules[0].icmp_code", "must be at most 15 for ICMP type 3"),
        ),
        (
            {
                "ingress": [
                    {
                        "peers": [{"peer": "any"}],
                        "rules": [{"protocol": "icmp", "icmp_type": 8, "icmp_code": 1}],
                    }
                ]
            },
            ("ingress[0].rules[0].icmp_code", "must be at most 0 for ICMP type 8"),
        ),
        (
            {"ingress": [{"peers": [{"peer": "everyone"}], "rules": [{"protocol": "any"}]}]},
            ("ingress[0].peers[0].peer", "must be one of any, host, local"),
        ),
        (
            {"ingress": [{"peers": [{"segment": "web"}], "rules": [{"protocol": "any"}]}]},
            ("ingress[0].peers[0]", "a segment needs a tenant"),
        ),
        (
            {"applied_to": [{"segment": "web"}]},
            ("applied_to[0]", "a segment needs a tenant"),
        ),
        (
            {"name": None, "external_id": None, "id": None},
            ("name", "a policy needs a name, a string id or an external_id"),
        ),
        (
            {"name": None, "external_id": None, "id": 7},
            ("name", "a policy needs a name, a string id or an external_id"),
        ),
        ({"id": 1.5}, ("id", "must be a non-empty string (v2) or an integer (v1)")),
        ({"id": "other"}, ("id", "names the policy 'other' but name says 'pol-ssh'")),
        ({"bogus": 1}, ("bogus", "unknown key")),
        (
            {
                "ingress": [
                    {"peers": [{"peer": "any", "colour": "red"}], "rules": [{"protocol": "any"}]}
                ]
            },
            ("ingress[0].peers[0].colour", "unknown key"),
        ),
        (
            {"ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "any", "port": 1}]}]},
            ("ingress[0].rules[0].port", "unknown key"),
        ),
        (
            {"ingress": [{"peers": [{"peer": "any"}], "rules": []}]},
            ("ingress[0].rules", "must list at least one of rules"),
        ),
        (
            {"ingress": [{"peers": [{"cidr": "10.0.0.1/8"}], "rules": [{"protocol": "any"}]}]},
            (
                "ingress[0].peers[0].cidr",
                "must be an IPv4 or IPv6 network with no host bits (10.0.0.1/8 has host bits set)",
            ),
        ),
        (
            {"applied_to": [{"peer": "any"}]},
            ("applied_to[0]", "applied_to takes dest, tenant (with segment) or address_set"),
        ),
        (
            {"ingress": [{"peers": [{"dest": "host"}], "rules": [{"protocol": "any"}]}]},
            ("ingress[0].peers[0].dest", "dest is only meaningful in applied_to"),
        ),
        (
            {
                "ingress": [
                    {
                        "peers": [{"peer": "any", "cidr": "10.0.0.0/8"}],
                        "rules": [{"protocol": "any"}],
                    }
                ]
            },
            (
                "ingress[0].peers[0]",
                "give only one of peer, dest, cidr, tenant, address_set (got peer, cidr)",
            ),
        ),
        (
            {"action": "maybe"},
            ("action", "must be one of allow, deny"),
        ),
        (
            {"direction": "ingress", "egress": V1_SSH["ingress"]},
            ("egress", "contradicts direction 'ingress'; leave 'direction' out to give both"),
        ),
    ],
)
def test_each_rule_is_reported_with_its_field(
    changes: dict[str, Any], expected: tuple[str, str]
) -> None:
    assert expected in issues_of(with_changes(V1_SSH, **changes))


def test_every_problem_is_reported_at_once() -> None:
    raw = {
        "name": "bad",
        "direction": "sideways",
        "applied_to": [{"segment": "x"}],
        "ingress": [
            {
                "peers": [{"peer": "nobody"}],
                "rules": [{"protocol": "tcp", "ports": [70000]}, {}],
            }
        ],
        "extra": True,
    }
    fields = [field for field, _ in issues_of(raw)]
    assert sorted(fields) == sorted(
        [
            "extra",
            "direction",
            "applied_to[0]",
            "ingress[0].peers[0].peer",
            "ingress[0].rules[0].ports",
            "ingress[0].rules[1].protocol",
        ]
    )


def test_parsing_never_modifies_its_input() -> None:
    raw = copy.deepcopy(V1_SSH)
    parse.policy(raw)
    assert raw == V1_SSH
    bad = with_changes(V1_SSH, direction="bla")
    before = copy.deepcopy(bad)
    with pytest.raises(InvalidInput):
        parse.policy(bad)
    assert bad == before


def test_policies_accepts_a_list_or_one_object_and_rejects_duplicates() -> None:
    assert parse.policies(V1_SSH) == (EXPECTED_SSH,)
    other = with_changes(V1_SSH, name="other", external_id=None)
    assert [p.name for p in parse.policies([V1_SSH, other])] == ["pol-ssh", "other"]
    with pytest.raises(InvalidInput) as err:
        parse.policies([V1_SSH, V1_SSH, {"name": "x"}])
    fields = {i.field for i in err.value.issues}
    assert {"[1].name", "[2].applied_to", "[2].ingress"} <= fields


# -- canonical JSON round trip -------------------------------------------------------------

names = st.from_regex(r"[a-z]([a-z0-9-]{0,19}[a-z0-9])?", fullmatch=True)
tenant_refs = st.builds(
    model.TenantRef,
    name=st.none() | names,
    external_id=st.none() | names,
    number=st.none() | st.integers(0, 4095),
).filter(lambda r: r != model.TenantRef())
cidrs = st.one_of(
    st.builds(
        lambda a, n: ipaddress.IPv4Network((a, n), strict=False),
        st.integers(0, 2**32 - 1),
        st.integers(0, 32),
    ),
    st.builds(
        lambda a, n: ipaddress.IPv6Network((a, n), strict=False),
        st.integers(0, 2**128 - 1),
        st.integers(0, 128),
    ),
)
peers = st.one_of(
    st.builds(model.Endpoint, peer=st.sampled_from(model.Peer)),
    st.builds(model.Endpoint, cidr=cidrs),
    st.builds(model.Endpoint, address_set=names),
    st.builds(model.Endpoint, tenant=tenant_refs),
    st.builds(
        model.Endpoint,
        tenant=tenant_refs,
        segment=st.builds(model.SegmentRef, name=names)
        | st.builds(model.SegmentRef, number=st.integers(0, 255)),
    ),
)
targets = st.one_of(
    st.builds(model.Endpoint, dest=st.sampled_from(model.Dest)),
    st.builds(model.Endpoint, tenant=tenant_refs),
    st.builds(model.Endpoint, address_set=names),
)
ports = st.lists(st.integers(0, 65535), max_size=4, unique=True).map(lambda p: tuple(sorted(p)))
ranges = st.lists(
    st.tuples(st.integers(0, 65535), st.integers(0, 65535)).map(
        lambda t: model.PortRange(min(t), max(t))
    ),
    max_size=3,
    unique=True,
).map(lambda r: tuple(sorted(r, key=lambda x: (x.lo, x.hi))))
rules = st.one_of(
    st.builds(
        model.Rule,
        protocol=st.sampled_from(sorted(model.PORT_PROTOCOLS)),
        ports=ports,
        port_ranges=ranges,
    ),
    st.builds(model.Rule, protocol=st.just(model.Protocol.ANY)),
    st.builds(
        model.Rule,
        protocol=st.just(model.Protocol.ICMP),
        icmp_type=st.just(3),
        icmp_code=st.none() | st.integers(0, 15),
    ),
    st.builds(
        model.Rule,
        protocol=st.just(model.Protocol.ICMPV6),
        icmp_type=st.none() | st.integers(0, 255),
    ),
)
clauses = st.builds(
    model.Clause,
    peers=st.lists(peers, min_size=1, max_size=3).map(tuple),
    rules=st.lists(rules, min_size=1, max_size=3).map(tuple),
)
policies = st.builds(
    model.Policy,
    name=names,
    applied_to=st.lists(targets, min_size=1, max_size=3).map(tuple),
    ingress=st.lists(clauses, max_size=2).map(tuple),
    egress=st.lists(clauses, max_size=2).map(tuple),
    action=st.sampled_from([model.Action.ALLOW, model.Action.DENY]),
    description=st.just("") | names,
    external_id=st.just("") | names,
).filter(lambda p: bool(p.ingress or p.egress))


@settings(max_examples=50)
@given(policies)
def test_canonical_json_parses_back_to_the_same_policy(policy: model.Policy) -> None:
    assert parse.policy(policy.to_dict()) == policy
