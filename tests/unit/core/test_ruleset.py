"""The ruleset IR refuses what no backend could load and normalises address sets."""

from __future__ import annotations

import ipaddress

import pytest

from romana.core import addressing, ruleset
from romana.core.errors import InvalidInput

V4 = addressing.Match(
    4, int(ipaddress.ip_address("10.0.16.0")), int(ipaddress.ip_address("255.0.240.0"))
)
V6 = addressing.Match(6, int(ipaddress.ip_address("fd00::1:0:0")), (1 << 128) - (1 << 32))
HOOKED = ruleset.Chain(
    "romana-forward", (ruleset.Rule((), ruleset.jump("romana-a")),), ruleset.Hook.FORWARD
)


def build(*chains: ruleset.Chain, sets: tuple[ruleset.AddressSet, ...] = ()) -> ruleset.Ruleset:
    return ruleset.Ruleset(sets=sets, chains=(HOOKED, *chains))


def problems(*chains: ruleset.Chain, sets: tuple[ruleset.AddressSet, ...] = ()) -> list[str]:
    with pytest.raises(InvalidInput) as err:
        build(*chains, sets=sets)
    return [str(i) for i in err.value.issues]


def test_a_valid_ruleset_indexes_its_chains() -> None:
    rs = build(
        ruleset.Chain(
            "romana-a", (ruleset.Rule((ruleset.Address(ruleset.Side.SRC, V4),), ruleset.ACCEPT),)
        )
    )
    assert rs.chain("romana-a").rules[0].version == 4
    assert rs.hooked == (HOOKED,)
    assert rs.rule_count == 2


@pytest.mark.parametrize(
    ("chain", "expected"),
    [
        (
            ruleset.Chain("romana-A", ()),
            "chains[romana-A]: 'romana-A' must start with 'romana-' and use only [a-z0-9._-]",
        ),
        (
            ruleset.Chain("other-a", ()),
            "chains[other-a]: 'other-a' must start with 'romana-' and use only [a-z0-9._-]",
        ),
        (
            ruleset.Chain("romana-" + "x" * 22, ()),
            f"chains[romana-{'x' * 22}]: 'romana-{'x' * 22}' is longer than 28 characters",
        ),
        (
            ruleset.Chain("romana-b", (ruleset.Rule((), ruleset.goto("romana-missing")),)),
            "chains[romana-b].rules[0]: targets unknown chain 'romana-missing'",
        ),
        (
            ruleset.Chain("romana-b", (ruleset.Rule((), ruleset.jump("romana-forward")),)),
            "chains[romana-b].rules[0]: targets hooked chain 'romana-forward'",
        ),
        (
            ruleset.Chain(
                "romana-b",
                (
                    ruleset.Rule(
                        (
                            ruleset.Address(ruleset.Side.SRC, V4),
                            ruleset.Address(ruleset.Side.DST, V6),
                        ),
                        ruleset.DROP,
                    ),
                ),
            ),
            "chains[romana-b].rules[0]: mixes IPv4 and IPv6 matches",
        ),
        (
            ruleset.Chain(
                "romana-b",
                (ruleset.Rule((ruleset.Ports(ruleset.Side.DST, ((80, 80),)),), ruleset.DROP),),
            ),
            "chains[romana-b].rules[0]: a port match needs protocol tcp, udp or sctp",
        ),
        (
            ruleset.Chain(
                "romana-b",
                (
                    ruleset.Rule(
                        (
                            ruleset.Protocol(ruleset.Proto.TCP),
                            ruleset.Ports(ruleset.Side.DST, ((90, 80),)),
                        ),
                        ruleset.DROP,
                    ),
                ),
            ),
            "chains[romana-b].rules[0]: port ranges must be non-empty with 0 <= lo <= hi <= 65535",
        ),
        (
            ruleset.Chain(
                "romana-b",
                (
                    ruleset.Rule(
                        (ruleset.Protocol(ruleset.Proto.UDP), ruleset.Icmp(8)), ruleset.DROP
                    ),
                ),
            ),
            "chains[romana-b].rules[0]: an ICMP match needs protocol icmp or icmpv6",
        ),
        (
            ruleset.Chain(
                "romana-b",
                (ruleset.Rule((ruleset.InSet(ruleset.Side.SRC, "romana-s-6", 6),), ruleset.DROP),),
            ),
            "chains[romana-b].rules[0]: refers to no IPv6 set named 'romana-s-6'",
        ),
        (
            ruleset.Chain(
                "romana-b",
                (ruleset.Rule((ruleset.Interface(ruleset.Side.SRC, "veth*"),), ruleset.DROP),),
            ),
            "chains[romana-b].rules[0]: interface prefix 'veth*' must be 1-14 of [A-Za-z0-9_.-]",
        ),
        (
            ruleset.Chain(
                "romana-b", (ruleset.Rule((), ruleset.Dispatch(ruleset.Side.DST, 4, 0, ())),)
            ),
            "chains[romana-b].rules[0]: a dispatch needs at least one target",
        ),
    ],
)
def test_invalid_rulesets_are_refused(chain: ruleset.Chain, expected: str) -> None:
    target = ruleset.Chain("romana-a", ())
    assert expected in problems(target, chain)


def test_jump_loops_are_refused() -> None:
    a = ruleset.Chain("romana-a", (ruleset.Rule((), ruleset.jump("romana-b")),))
    b = ruleset.Chain(
        "romana-b",
        (
            ruleset.Rule(
                (), ruleset.Dispatch(ruleset.Side.DST, 4, V4.mask, ((V4.value, "romana-a"),))
            ),
        ),
    )
    assert any("is part of a jump loop" in p for p in problems(a, b))


def test_duplicate_names_are_refused() -> None:
    empty = ruleset.Chain("romana-a", ())
    found = problems(
        empty, empty, sets=(ruleset.AddressSet("romana-s", 4), ruleset.AddressSet("romana-s", 4))
    )
    assert "chains: duplicate chain names" in found
    assert "sets[romana-s]: duplicate set name" in found


def test_address_sets_are_merged_and_filtered_by_family() -> None:
    nets = [
        ipaddress.ip_network(n) for n in ("10.0.1.0/24", "10.0.0.0/24", "10.0.0.0/25", "fd00::/64")
    ]
    s = ruleset.address_set("romana-s-4", 4, nets)
    assert s.elements == (ipaddress.ip_network("10.0.0.0/23"),)
    assert ruleset.address_set("romana-s-6", 6, nets).elements == (
        ipaddress.ip_network("fd00::/64"),
    )
    assert "sets[romana-x]: elements must all be IPv4" in problems(
        ruleset.Chain("romana-a", ()),
        sets=(ruleset.AddressSet("romana-x", 4, (ipaddress.ip_network("fd00::/64"),)),),
    )
