"""The two matches a VIP needs: a local destination, which is of both families, and an
original destination, which is of its address's family and refuses anything else; and what
the policy oracle makes of them."""

from __future__ import annotations

import ipaddress

import pytest

from romana.core import ruleset
from romana.core.errors import InvalidInput
from romana.core.policy import evaluate
from support import natrules

NAT = ruleset.ChainKind.NAT
VIP4 = ipaddress.IPv4Address("203.0.113.5")
VIP6 = ipaddress.IPv6Address("2001:db8::5")
LOCAL = ruleset.LocalDestination()


def post(*rules: ruleset.Rule) -> ruleset.Chain:
    return ruleset.Chain("romana-postrouting", rules, ruleset.Hook.POSTROUTING, kind=NAT)


def problems(*chains: ruleset.Chain) -> list[str]:
    with pytest.raises(InvalidInput) as err:
        ruleset.Ruleset((), chains)
    return [str(i) for i in err.value.issues]


def test_the_vip_rulesets_are_valid_and_their_rules_take_the_vips_family() -> None:
    for vip, endpoints, family in (
        ("203.0.113.5", ("10.1.0.1", "10.1.0.2"), 4),
        ("2001:db8::5", ("fd00:1::1",), 6),
    ):
        rs = natrules.vip_ruleset(vip, endpoints, 80)
        assert [r.version for r in rs.chain("romana-prerouting").rules] == [family]
        assert [r.version for r in rs.chain("romana-postrouting").rules] == [None, family]


def test_a_local_destination_is_of_both_families() -> None:
    assert ruleset.Rule((LOCAL,), ruleset.masquerade()).version is None
    v6 = ruleset.Rule((LOCAL, natrules.host_match("2001:db8::5", ruleset.Side.DST)), ruleset.RETURN)
    assert v6.version == 6
    assert ruleset.LocalDestination() == LOCAL


def test_an_original_destination_makes_the_rule_its_family() -> None:
    assert ruleset.Rule((ruleset.OriginalDestination(VIP4),), ruleset.masquerade()).version == 4
    assert ruleset.Rule((ruleset.OriginalDestination(VIP6),), ruleset.masquerade()).version == 6


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        (
            ruleset.Rule(
                (
                    ruleset.OriginalDestination(VIP4),
                    natrules.host_match("fd00:1::5", ruleset.Side.SRC),
                ),
                ruleset.masquerade(),
            ),
            "mixes IPv4 and IPv6 matches",
        ),
        (
            ruleset.Rule(
                (ruleset.OriginalDestination(VIP4), ruleset.OriginalDestination(VIP6)),
                ruleset.RETURN,
            ),
            "mixes IPv4 and IPv6 matches",
        ),
        (
            ruleset.Rule((ruleset.OriginalDestination(VIP6),), ruleset.snat(VIP4)),
            "snat to IPv4 cannot carry IPv6 matches",
        ),
        (
            ruleset.Rule(
                (ruleset.OriginalDestination("203.0.113.5"),),  # type: ignore[arg-type]
                ruleset.masquerade(),
            ),
            "an original destination must be an IPv4Address or IPv6Address, not '203.0.113.5'",
        ),
        (
            ruleset.Rule(
                (ruleset.OriginalDestination(ipaddress.ip_network("203.0.113.0/24")),),  # type: ignore[arg-type]
                ruleset.masquerade(),
            ),
            "an original destination must be an IPv4Address or IPv6Address, "
            "not IPv4Network('203.0.113.0/24')",
        ),
    ],
)
def test_refused(rule: ruleset.Rule, expected: str) -> None:
    assert problems(post(rule)) == [f"chains[romana-postrouting].rules[0]: {expected}"]


def test_the_oracle_takes_the_host_as_the_local_destination_and_rewrites_nothing() -> None:
    # Filter chains may use both matches too; the oracle walks them without NAT, so a
    # packet's destination is its original one.
    chain = ruleset.Chain(
        "romana-input",
        (
            ruleset.Rule((ruleset.OriginalDestination(VIP4),), ruleset.DROP, "to the vip"),
            ruleset.Rule((LOCAL,), ruleset.DROP, "to the host"),
        ),
        ruleset.Hook.INPUT,
    )
    forward = ruleset.Chain("romana-forward", chain.rules, ruleset.Hook.FORWARD)
    rs = ruleset.Ruleset((), (chain, forward))
    src, other = ipaddress.IPv4Address("10.1.0.9"), ipaddress.IPv4Address("10.1.0.7")

    def reasons(dst: ipaddress.IPv4Address, path: evaluate.Path) -> tuple[str, ...]:
        packet = evaluate.Packet(src, dst, ruleset.Proto.TCP, path, dport=80)
        return evaluate.verdict(rs, packet).reasons

    assert reasons(VIP4, evaluate.Path.TRANSIT) == ("romana-forward: to the vip", "drop")
    assert reasons(other, evaluate.Path.TO_HOST) == ("romana-input: to the host", "drop")
    assert reasons(other, evaluate.Path.TRANSIT) == ("accept",)
