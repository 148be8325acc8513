"""What a compiled ruleset lets through, packet by packet: the oracle the dataplane must match.

The host under test is host 1 of the golden fixture (two networks, tenants blue and red with
segments frontend and backend). ``ep("red", "frontend", host=2)`` is an endpoint address.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

import pytest

from romana.core import addressing, ruleset
from romana.core.policy import compile, evaluate, model
from support import policy_inputs

FIXTURE = policy_inputs.load("golden-input.json")
P = evaluate.Path
TCP, UDP, ICMP = ruleset.Proto.TCP, ruleset.Proto.UDP, ruleset.Proto.ICMP
OUTSIDE = ipaddress.ip_address("192.0.2.7")
DNS = ipaddress.ip_address("10.96.0.10")


ep = functools.partial(policy_inputs.endpoint_address, FIXTURE)
gw = functools.partial(policy_inputs.gateway, FIXTURE)


def rules_for(policies: list[dict[str, Any]], **overrides: Any) -> ruleset.Ruleset:
    fixture = dict(FIXTURE, policies=policies)
    return compile.compile_ruleset(policy_inputs.compile_input(fixture, **overrides))


def allowed(
    rs: ruleset.Ruleset,
    src: addressing.IPAddress,
    dst: addressing.IPAddress,
    path: evaluate.Path = P.TO_ENDPOINT,
    proto: ruleset.Proto = TCP,
    dport: int | None = 80,
    **extra: Any,
) -> bool:
    packet = evaluate.Packet(src, dst, proto, path, dport=dport, **extra)
    return evaluate.verdict(rs, packet).allowed


NO_POLICY = rules_for([])


def why(
    rs: ruleset.Ruleset, src: addressing.IPAddress, dst: addressing.IPAddress, dport: int = 80
) -> tuple[str, ...]:
    """The rules that decided a new TCP connection to a local endpoint, and the verdict."""
    return evaluate.verdict(rs, evaluate.Packet(src, dst, TCP, P.TO_ENDPOINT, dport=dport)).reasons


@pytest.mark.parametrize(
    ("src", "dst", "path", "expected"),
    [
        # own tenant and segment, any host, either network
        (ep("blue", "backend", host=3), ep("blue", "backend"), P.TO_ENDPOINT, True),
        (ep("blue", net="v6", host=2), ep("blue", net="v6"), P.TO_ENDPOINT, True),
        (ep("red", "frontend"), ep("red", "frontend", n=6), P.BETWEEN_ENDPOINTS, True),
        # other segments of the own tenant (segments isolated is the default)
        (ep("blue", "frontend", host=2), ep("blue", "backend"), P.TO_ENDPOINT, False),
        (ep("blue", net="v6", host=2), ep("blue", "frontend", net="v6"), P.TO_ENDPOINT, False),
        (ep("red", "backend"), ep("red", "frontend"), P.BETWEEN_ENDPOINTS, False),
        # other tenants, wherever they are
        (ep("red", "frontend", host=2), ep("blue", "backend"), P.TO_ENDPOINT, False),
        (ep("blue"), ep("red"), P.BETWEEN_ENDPOINTS, False),
        (ep("red", net="v6", host=2), ep("blue", net="v6"), P.TO_ENDPOINT, False),
        # infrastructure: this host's and other hosts' gateways
        (gw(1), ep("red", "backend"), P.TO_ENDPOINT, True),
        (gw(2, "v6"), ep("blue", net="v6"), P.TO_ENDPOINT, True),
        # addresses outside every tenant
        (OUTSIDE, ep("blue"), P.TO_ENDPOINT, False),
        # the host itself always reaches its endpoints; endpoints may not reach the host
        (gw(1), ep("blue"), P.FROM_HOST, True),
        (ep("blue"), gw(1), P.TO_HOST, False),
        # egress is open by default; traffic that is not ours is not judged
        (ep("red"), OUTSIDE, P.FROM_ENDPOINT, True),
        (OUTSIDE, ep("red", host=2), P.TRANSIT, True),
    ],
)
def test_default_isolation(
    src: addressing.IPAddress, dst: addressing.IPAddress, path: evaluate.Path, expected: bool
) -> None:
    assert allowed(NO_POLICY, src, dst, path) is expected


def with_isolation(**isolation: dict[str, str]) -> dict[str, Any]:
    """The golden fixture with the given tenants' isolation set."""
    tenants = [
        dict(t, isolation=isolation[t["name"]]) if t["name"] in isolation else t
        for t in FIXTURE["tenants"]
    ]
    return dict(FIXTURE, tenants=tenants)


def test_a_tenant_with_open_segments_reaches_all_its_segments_and_no_other_tenant() -> None:
    fixture = with_isolation(blue={"mode": "romana", "segments": "open"})
    rs = compile.compile_ruleset(policy_inputs.compile_input(dict(fixture, policies=[])))
    assert allowed(rs, ep("blue", "frontend", host=2), ep("blue", "backend"))
    assert allowed(rs, ep("blue", net="v6", host=2), ep("blue", "frontend", net="v6"))
    assert not allowed(rs, ep("red", "frontend", host=2), ep("blue", "frontend"))
    # red keeps the default: its segments stay apart
    assert not allowed(rs, ep("red", "backend"), ep("red", "frontend"), P.BETWEEN_ENDPOINTS)


def test_the_deciding_default_is_named() -> None:
    other_segment = why(NO_POLICY, ep("blue", "frontend", host=2), ep("blue", "backend"))
    assert other_segment[-2:] == ("romana-ia-blue: isolation: other segments v4", "drop")
    own = why(NO_POLICY, ep("blue", "backend", host=2), ep("blue", "backend"))
    assert own[-2:] == ("romana-ia-blue.backend: own tenant and segment v4", "accept")


def test_a_kubernetes_tenant_is_open_until_an_ingress_policy_selects_its_endpoints() -> None:
    fixture = with_isolation(blue={"mode": "kubernetes"})
    rs = compile.compile_ruleset(policy_inputs.compile_input(dict(fixture, policies=[])))
    assert allowed(rs, ep("red", host=2), ep("blue", "backend"))
    assert allowed(rs, OUTSIDE, ep("blue"))
    selected = {
        "name": "backend-from-frontend",
        "applied_to": [{"tenant": "blue", "segment": "backend"}],
        "ingress": [
            {
                "peers": [{"tenant": "blue", "segment": "frontend"}],
                "rules": [{"protocol": "tcp", "ports": [80]}],
            }
        ],
    }
    rs = compile.compile_ruleset(policy_inputs.compile_input(dict(fixture, policies=[selected])))
    assert allowed(rs, ep("blue", "frontend", host=2), ep("blue", "backend"))
    assert not allowed(rs, ep("blue", "frontend", host=2), ep("blue", "backend"), dport=81)
    assert not allowed(rs, ep("red", host=2), ep("blue", "backend"))
    assert allowed(rs, ep("red", host=2), ep("blue", "frontend"))
    # red is in romana mode: blue's openness does not reach into it
    assert not allowed(rs, ep("blue", host=2), ep("red"))


def test_ipv6_neighbour_discovery_reaches_the_gateway_despite_the_host_default() -> None:
    for icmp_type in (133, 135, 136):
        packet = evaluate.Packet(
            ep("blue", net="v6"), gw(1, "v6"), ruleset.Proto.ICMPV6, P.TO_HOST, icmp_type=icmp_type
        )
        assert evaluate.verdict(NO_POLICY, packet).allowed
    echo = evaluate.Packet(
        ep("blue", net="v6"), gw(1, "v6"), ruleset.Proto.ICMPV6, P.TO_HOST, icmp_type=128
    )
    assert not evaluate.verdict(NO_POLICY, echo).allowed


def test_established_traffic_is_accepted_first() -> None:
    reply = ruleset.CtState.ESTABLISHED
    assert allowed(NO_POLICY, ep("red", host=2), ep("blue"), ct_state=reply)
    assert allowed(NO_POLICY, ep("blue"), gw(1), P.TO_HOST, ct_state=reply)
    assert not allowed(NO_POLICY, ep("blue", host=2), ep("blue"), ct_state=ruleset.CtState.INVALID)


ONE_PORT = {
    "name": "red-frontend-to-blue-backend",
    "applied_to": [{"tenant": "blue", "segment": "backend"}],
    "ingress": [
        {
            "peers": [{"tenant": "red", "segment": "frontend"}],
            "rules": [{"protocol": "tcp", "ports": [443]}],
        }
    ],
}


@pytest.mark.parametrize(
    ("src", "dst", "proto", "dport", "expected"),
    [
        (ep("red", "frontend", host=2), ep("blue", "backend"), TCP, 443, True),
        (ep("red", "frontend", host=2, net="v6"), ep("blue", "backend", net="v6"), TCP, 443, True),
        (ep("red", "frontend", host=2), ep("blue", "backend"), TCP, 444, False),
        (ep("red", "frontend", host=2), ep("blue", "backend"), UDP, 443, False),
        (ep("red", "backend", host=2), ep("blue", "backend"), TCP, 443, False),
        (ep("red", "frontend", host=2), ep("blue", "frontend"), TCP, 443, False),
        (ep("blue", "frontend", host=2), ep("red", "frontend"), TCP, 443, False),
    ],
)
def test_a_policy_opens_one_tcp_port_between_two_segments(
    src: addressing.IPAddress,
    dst: addressing.IPAddress,
    proto: ruleset.Proto,
    dport: int,
    expected: bool,
) -> None:
    assert allowed(rules_for([ONE_PORT]), src, dst, proto=proto, dport=dport) is expected


def test_reasons_name_the_rules_that_decided() -> None:
    rs = rules_for([ONE_PORT])
    opened = why(rs, ep("red", "frontend", host=2), ep("blue", "backend"), 443)
    assert opened[-2:] == (
        "romana-pi-_93699d3659: red-frontend-to-blue-backend ingress[0].peers[0].rules[0]",
        "accept",
    )
    assert "romana-ia-blue.backend: policy red-frontend-to-blue-backend" in opened
    closed = why(rs, ep("red", host=2), ep("blue"), 443)
    assert closed[-2:] == ("romana-ingress-allow: isolation: other tenants", "drop")


RED_TO_BLUE = {
    "name": "red-to-blue",
    "applied_to": [{"tenant": "blue"}],
    "ingress": [{"peers": [{"tenant": "red"}], "rules": [{"protocol": "any"}]}],
}
NO_SSH = {
    "name": "no-ssh",
    "action": "deny",
    "applied_to": [{"tenant": "blue", "segment": "backend"}],
    "ingress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [22]}]}],
}


@pytest.mark.parametrize(
    ("src", "dst", "dport", "expected"),
    [
        (ep("red", host=2), ep("blue", "backend"), 80, True),
        (ep("red", host=2), ep("blue", "backend"), 22, False),
        (ep("red", host=2), ep("blue", "frontend"), 22, True),
        # a deny closes the own-segment default too
        (ep("blue", "backend", host=2), ep("blue", "backend"), 22, False),
        (ep("blue", "backend", host=2), ep("blue", "backend"), 80, True),
        (gw(2), ep("blue", "backend"), 22, False),
    ],
)
def test_deny_overrides_allow(
    src: addressing.IPAddress, dst: addressing.IPAddress, dport: int, expected: bool
) -> None:
    assert allowed(rules_for([RED_TO_BLUE, NO_SSH]), src, dst, dport=dport) is expected


EGRESS = next(p for p in FIXTURE["policies"] if p.get("name") == "red-egress-dns")


@pytest.mark.parametrize(
    ("src", "dst", "path", "proto", "dport", "expected"),
    [
        (ep("red"), DNS, P.FROM_ENDPOINT, UDP, 53, True),
        (ep("red"), DNS, P.FROM_ENDPOINT, TCP, 53, True),
        (ep("red"), DNS, P.FROM_ENDPOINT, TCP, 80, False),
        (ep("red"), OUTSIDE, P.FROM_ENDPOINT, UDP, 53, False),
        (ep("red", net="v6"), ipaddress.ip_address("fd00:96::10"), P.FROM_ENDPOINT, UDP, 53, True),
        (ep("red", "backend"), ep("red", host=2), P.FROM_ENDPOINT, TCP, 80, True),
        (ep("red"), ep("blue", host=2), P.FROM_ENDPOINT, TCP, 80, False),
        (ep("red"), ep("red", n=6), P.BETWEEN_ENDPOINTS, TCP, 80, True),
        # tenants without egress policies stay unrestricted
        (ep("blue"), OUTSIDE, P.FROM_ENDPOINT, TCP, 443, True),
        # egress is enforced on the source host only
        (ep("red", host=2), ep("red"), P.TO_ENDPOINT, TCP, 80, True),
    ],
)
def test_egress_policies_restrict_what_leaves(
    src: addressing.IPAddress,
    dst: addressing.IPAddress,
    path: evaluate.Path,
    proto: ruleset.Proto,
    dport: int,
    expected: bool,
) -> None:
    assert allowed(rules_for([EGRESS]), src, dst, path, proto, dport) is expected


def test_egress_restriction_comes_before_the_destinations_ingress() -> None:
    rs = rules_for([EGRESS, {**RED_TO_BLUE, "name": "open-blue"}])
    assert allowed(rs, ep("red", host=2), ep("blue"), P.TO_ENDPOINT)
    assert not allowed(rs, ep("red"), ep("blue"), P.BETWEEN_ENDPOINTS)
    assert allowed(rs, ep("red"), OUTSIDE, P.FROM_ENDPOINT, ct_state=ruleset.CtState.ESTABLISHED)


@pytest.mark.parametrize(
    ("applied_to", "restricted", "free"),
    [
        ({"dest": "local"}, [ep("blue"), ep("red", "backend")], []),
        (
            {"tenant": "blue", "segment": "frontend"},
            [ep("blue", "frontend")],
            [ep("blue", "backend")],
        ),
        ({"address_set": "monitoring"}, [ipaddress.ip_address("172.16.200.1")], [ep("blue")]),
    ],
)
def test_egress_restriction_at_every_level(
    applied_to: dict[str, str],
    restricted: list[addressing.IPAddress],
    free: list[addressing.IPAddress],
) -> None:
    policy = {
        "name": "only-https",
        "applied_to": [applied_to],
        "egress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [443]}]}],
    }
    rs = rules_for([policy])
    for src in restricted + free:
        assert allowed(rs, src, OUTSIDE, P.FROM_ENDPOINT, dport=443)
        assert allowed(rs, src, OUTSIDE, P.FROM_ENDPOINT, dport=80) is (src in free)


def test_egress_deny_closes_without_restricting_the_rest() -> None:
    policy = {
        "name": "no-smtp",
        "action": "deny",
        "applied_to": [{"tenant": "red"}],
        "egress": [{"peers": [{"peer": "any"}], "rules": [{"protocol": "tcp", "ports": [25]}]}],
    }
    rs = rules_for([policy])
    assert not allowed(rs, ep("red"), OUTSIDE, P.FROM_ENDPOINT, dport=25)
    assert allowed(rs, ep("red"), OUTSIDE, P.FROM_ENDPOINT, dport=80)


DHCP_HOST = next(p for p in FIXTURE["policies"] if p.get("name") == "pol-dhcp-host")


def test_host_target_opens_traffic_from_endpoints_to_the_host() -> None:
    rs = rules_for([DHCP_HOST])
    assert allowed(rs, ep("blue"), gw(1), P.TO_HOST, UDP, 67)
    assert allowed(rs, ep("blue", net="v6"), gw(1, "v6"), P.TO_HOST, UDP, 67)
    assert not allowed(rs, ep("blue"), gw(1), P.TO_HOST, UDP, 68)
    open_host = rules_for([], endpoint_to_host=model.Action.ALLOW)
    assert allowed(open_host, ep("blue"), gw(1), P.TO_HOST, TCP, 22)


def test_local_target_with_cidr_and_host_peers() -> None:
    web = {
        "name": "web-from-outside",
        "applied_to": [{"dest": "local"}],
        "ingress": [
            {"peers": [{"cidr": "192.0.2.0/24"}], "rules": [{"protocol": "tcp", "ports": [80]}]},
            {"peers": [{"peer": "host"}], "rules": [{"protocol": "icmp", "icmp_type": 8}]},
        ],
    }
    rs = rules_for([web])
    for dst in (ep("blue"), ep("red", "backend")):
        assert allowed(rs, OUTSIDE, dst, dport=80)
        assert not allowed(rs, OUTSIDE, dst, dport=81)
    assert allowed(rs, gw(1), ep("blue"), proto=ICMP, dport=None, icmp_type=8, icmp_code=0)


def test_address_set_target_and_peer() -> None:
    policy = {
        "name": "scrape",
        "applied_to": [{"address_set": "web"}],
        "ingress": [
            {
                "peers": [{"address_set": "monitoring"}],
                "rules": [{"protocol": "tcp", "ports": [9100]}],
            }
        ],
    }
    web = ep("red", "backend", n=9)
    rs = rules_for(
        [policy],
        address_sets={
            "web": (ipaddress.ip_network(web),),
            "monitoring": (ipaddress.ip_network("172.16.200.0/24"),),
        },
    )
    assert allowed(rs, ipaddress.ip_address("172.16.200.4"), web, dport=9100)
    assert not allowed(
        rs, ipaddress.ip_address("172.16.200.4"), ep("red", "backend", n=10), dport=9100
    )
    assert not allowed(rs, ipaddress.ip_address("172.16.201.4"), web, dport=9100)
