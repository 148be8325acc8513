"""The ruleset refuses NAT that no kernel would load or that would do something else than
it says: each rule about kinds, hooks, addresses and reachability, all reported at once."""

from __future__ import annotations

import ipaddress

import pytest

from romana.core import addressing, ruleset
from romana.core.errors import InvalidInput
from support import natrules

NAT = ruleset.ChainKind.NAT
A4 = ipaddress.IPv4Address("203.0.113.7")
B4 = ipaddress.IPv4Address("203.0.113.8")
A6 = ipaddress.IPv6Address("2001:db8::7")
V6_MATCH = ruleset.Address(
    ruleset.Side.SRC,
    addressing.Match(6, int(ipaddress.IPv6Address("fd00::")), (1 << 128) - (1 << 64)),
)


def post(*rules: ruleset.Rule) -> ruleset.Chain:
    return ruleset.Chain("romana-postrouting", rules, ruleset.Hook.POSTROUTING, kind=NAT)


def pre(*rules: ruleset.Rule) -> ruleset.Chain:
    return ruleset.Chain("romana-prerouting", rules, ruleset.Hook.PREROUTING, kind=NAT)


def problems(*chains: ruleset.Chain) -> list[str]:
    with pytest.raises(InvalidInput) as err:
        ruleset.Ruleset((), chains)
    return [str(i) for i in err.value.issues]


def test_the_example_nat_ruleset_is_valid() -> None:
    rs = natrules.nat_ruleset()
    assert [c.kind for c in rs.chains] == [ruleset.ChainKind.FILTER, NAT, NAT, NAT]
    # a NAT rule belongs to the family of its addresses
    assert [r.version for r in rs.chain("romana-postrouting").rules] == [4, 6, 4, 6, None]
    assert rs.chain("romana-vip-web").rules[0].version == 4


def test_helpers_build_the_verdicts() -> None:
    assert ruleset.masquerade() == ruleset.Verdict(ruleset.Action.MASQUERADE)
    assert ruleset.snat(A4) == ruleset.Verdict(ruleset.Action.SNAT, to=(A4,))
    assert ruleset.dnat(A4, B4) == ruleset.Verdict(ruleset.Action.DNAT, to=(A4, B4))
    assert ruleset.Chain("romana-x").kind is ruleset.ChainKind.FILTER


@pytest.mark.parametrize(
    ("chains", "expected"),
    [
        (
            (ruleset.Chain("romana-a", (ruleset.Rule((), ruleset.masquerade()),)),),
            ["chains[romana-a].rules[0]: masquerade belongs in a nat chain, not a filter chain"],
        ),
        (
            (post(ruleset.Rule((), ruleset.DROP)),),
            [
                "chains[romana-postrouting].rules[0]: "
                "drop belongs in a filter chain, not a nat chain"
            ],
        ),
        (
            (ruleset.Chain("romana-a", (), ruleset.Hook.POSTROUTING),),
            ["chains[romana-a]: a filter chain hooks forward, input, output, not postrouting"],
        ),
        (
            (ruleset.Chain("romana-a", (), ruleset.Hook.FORWARD, kind=NAT),),
            ["chains[romana-a]: a nat chain hooks prerouting, postrouting, not forward"],
        ),
        (
            (post(ruleset.Rule((), ruleset.Verdict(ruleset.Action.SNAT, to=(A4, B4)))),),
            ["chains[romana-postrouting].rules[0]: snat takes exactly one address, not 2"],
        ),
        (
            (post(ruleset.Rule((), ruleset.Verdict(ruleset.Action.SNAT))),),
            ["chains[romana-postrouting].rules[0]: snat takes exactly one address, not 0"],
        ),
        (
            (pre(ruleset.Rule((), ruleset.dnat())),),
            ["chains[romana-prerouting].rules[0]: dnat takes one address or more"],
        ),
        (
            (post(ruleset.Rule((), ruleset.Verdict(ruleset.Action.MASQUERADE, to=(A4,)))),),
            ["chains[romana-postrouting].rules[0]: masquerade takes no address"],
        ),
        (
            (pre(ruleset.Rule((), ruleset.dnat(A4, A6))),),
            ["chains[romana-prerouting].rules[0]: dnat addresses mix IPv4 and IPv6"],
        ),
        (
            (post(ruleset.Rule((V6_MATCH,), ruleset.snat(A4))),),
            ["chains[romana-postrouting].rules[0]: snat to IPv4 cannot carry IPv6 matches"],
        ),
        (
            (pre(ruleset.Rule((), ruleset.Verdict(ruleset.Action.DNAT, to=("10.0.0.1",)))),),  # type: ignore[arg-type]
            [
                "chains[romana-prerouting].rules[0]: dnat addresses must be IPv4Address or "
                "IPv6Address: ['10.0.0.1']"
            ],
        ),
    ],
)
def test_refused(chains: tuple[ruleset.Chain, ...], expected: list[str]) -> None:
    assert problems(*chains) == expected


def test_jumps_never_cross_kinds() -> None:
    nat_target = ruleset.Chain("romana-nat", (), kind=NAT)
    filter_target = ruleset.Chain("romana-filter")
    forward = ruleset.Chain(
        "romana-forward", (ruleset.Rule((), ruleset.jump("romana-nat")),), ruleset.Hook.FORWARD
    )
    dispatch = ruleset.Dispatch(ruleset.Side.DST, 4, 0xFF000000, ((0x0A000000, "romana-filter"),))
    prerouting = pre(ruleset.Rule((), ruleset.goto("romana-filter")), ruleset.Rule((), dispatch))
    assert problems(forward, prerouting, nat_target, filter_target) == [
        "chains[romana-forward].rules[0]: a filter chain cannot lead to nat chain 'romana-nat'",
        "chains[romana-prerouting].rules[0]: a nat chain cannot lead to filter chain "
        "'romana-filter'",
        "chains[romana-prerouting].rules[1]: a nat chain cannot lead to filter chain "
        "'romana-filter'",
    ]


def test_rewrites_sit_only_where_their_hook_reaches() -> None:
    shared = ruleset.Chain(
        "romana-shared",
        (
            ruleset.Rule((), ruleset.masquerade()),
            ruleset.Rule((), ruleset.dnat(A4)),
            ruleset.Rule((), ruleset.RETURN),
        ),
        kind=NAT,
    )
    deeper = ruleset.Chain("romana-deeper", (ruleset.Rule((), ruleset.snat(A4)),), kind=NAT)
    prerouting = pre(
        ruleset.Rule((), ruleset.jump("romana-shared")),
        ruleset.Rule((), ruleset.goto("romana-deeper")),
    )
    postrouting = post(
        ruleset.Rule((), ruleset.jump("romana-shared")), ruleset.Rule((), ruleset.dnat(B4))
    )
    assert problems(postrouting, prerouting, shared, deeper) == [
        "chains[romana-postrouting].rules[1]: dnat works only in chains prerouting reaches; "
        "postrouting reaches this one",
        "chains[romana-shared].rules[0]: masquerade works only in chains postrouting reaches; "
        "prerouting reaches this one",
        "chains[romana-shared].rules[1]: dnat works only in chains prerouting reaches; "
        "postrouting reaches this one",
        "chains[romana-deeper].rules[0]: snat works only in chains postrouting reaches; "
        "prerouting reaches this one",
    ]


def test_a_nat_chain_no_hook_reaches_is_inert_and_allowed() -> None:
    # What a delta script declares on its own: the chain whose rules changed, without the
    # hooked chain that jumps to it.
    lone = ruleset.Chain("romana-lone", (ruleset.Rule((), ruleset.snat(A4)),), kind=NAT)
    assert ruleset.Ruleset((), (lone,)).chain("romana-lone") is lone


def test_all_problems_are_reported_at_once() -> None:
    bad = problems(
        ruleset.Chain("romana-a", (ruleset.Rule((), ruleset.snat(A4)),)),
        pre(ruleset.Rule((), ruleset.ACCEPT), ruleset.Rule((), ruleset.dnat())),
    )
    assert len(bad) == 3
