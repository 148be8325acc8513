"""Changing a valid ruleset without checking it all again: refilling sets and joining two
rulesets give what building the result whole gives, and refuse what it would refuse."""

from __future__ import annotations

import ipaddress

import pytest

from romana.core import ruleset
from romana.core.errors import InvalidInput

NET4 = ipaddress.ip_network("10.0.0.0/24")
NET6 = ipaddress.ip_network("fd00::/64")
DENY = ruleset.policy_drop("p", "ingress[0]")


def filter_part() -> ruleset.Ruleset:
    return ruleset.Ruleset(
        sets=(ruleset.address_set("romana-peers", 4, [NET4]),),
        chains=(
            ruleset.Chain(
                "romana-forward",
                (
                    ruleset.Rule(
                        (ruleset.InSet(ruleset.Side.SRC, "romana-peers", 4),),
                        ruleset.jump("romana-a"),
                    ),
                    ruleset.Rule(
                        (ruleset.InInterfaces(ruleset.Side.SRC, "romana-devices"),),
                        ruleset.DROP,
                        drop=DENY,
                    ),
                ),
                ruleset.Hook.FORWARD,
            ),
            ruleset.Chain("romana-a", (ruleset.Rule((), ruleset.ACCEPT),)),
        ),
        notes=("a note",),
        interface_sets=(ruleset.interface_set("romana-devices", ["tap1"]),),
    )


def nat_part() -> ruleset.Ruleset:
    return ruleset.Ruleset(
        sets=(ruleset.address_set("romana-inside-4", 4, [NET4]),),
        chains=(
            ruleset.Chain(
                "romana-postrouting",
                (ruleset.Rule((), ruleset.masquerade()),),
                ruleset.Hook.POSTROUTING,
                kind=ruleset.ChainKind.NAT,
            ),
        ),
    )


def test_refilled_sets_are_the_ruleset_built_with_them() -> None:
    rs = filter_part()
    peers = ruleset.address_set("romana-peers", 4, [ipaddress.ip_network("10.0.1.0/24")])
    devices = ruleset.interface_set("romana-devices", ["tap1", "tap2"])
    refilled = ruleset.refilled(rs, sets=[peers], interface_sets=[devices])
    whole = ruleset.Ruleset((peers,), rs.chains, rs.notes, (devices,))
    assert refilled == whole
    assert refilled.drop_reasons == whole.drop_reasons
    assert refilled.chain("romana-a") is rs.chain("romana-a")


def test_a_refill_is_refused_where_the_ruleset_would_be() -> None:
    rs = filter_part()
    with pytest.raises(InvalidInput) as info:
        ruleset.refilled(
            rs,
            sets=[
                ruleset.AddressSet("romana-peers", 4, (NET6,)),
                ruleset.AddressSet("romana-other", 4),
            ],
            interface_sets=[ruleset.InterfaceSet("romana-devices", ("tap2", "tap1"))],
        )
    assert {str(i) for i in info.value.issues} == {
        "sets[romana-peers]: elements must all be IPv4",
        "sets[romana-other]: replaces no IPv4 set of this name",
        "interface_sets[romana-devices]: names must be sorted and unique",
    }


def test_joined_rulesets_are_the_ruleset_built_of_both() -> None:
    first, second = filter_part(), nat_part()
    joined = ruleset.joined(first, second)
    whole = ruleset.Ruleset(
        first.sets + second.sets,
        first.chains + second.chains,
        first.notes,
        first.interface_sets,
    )
    assert joined == whole
    assert joined.drop_reasons == whole.drop_reasons == {DENY.id: DENY}
    assert joined.chain("romana-postrouting") is second.chain("romana-postrouting")


def test_a_join_is_refused_where_the_ruleset_would_be() -> None:
    clash = ruleset.Ruleset(
        sets=(ruleset.AddressSet("romana-peers", 4), ruleset.AddressSet("romana-devices", 6)),
        chains=(ruleset.Chain("romana-a", ()),),
    )
    with pytest.raises(InvalidInput) as info:
        ruleset.joined(filter_part(), clash)
    assert {str(i) for i in info.value.issues} == {
        "sets[romana-peers]: duplicate set name",
        "sets[romana-devices]: duplicate set name",
        "chains: duplicate chain names",
    }
    # The same reason in both is one reason.
    again = ruleset.Ruleset(
        sets=(),
        chains=(
            ruleset.Chain(
                "romana-b",
                (ruleset.Rule((), ruleset.DROP, drop=ruleset.policy_drop("p", "ingress[0]")),),
            ),
        ),
    )
    assert ruleset.joined(filter_part(), again).drop_reasons == {DENY.id: DENY}
