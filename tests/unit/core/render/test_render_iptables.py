"""The iptables + ipset renderer: our chains and sets only, long flags, idempotent hooks.

Golden files live in tests/data/policy/; regenerate with ``ROMANA_UPDATE_GOLDEN=1``.
"""

from __future__ import annotations

import ipaddress
import os

import pytest

from romana.core import addressing, ruleset
from romana.core.errors import InvalidInput, Unsupported
from romana.core.policy import compile
from romana.core.render import iptables
from support import policy_inputs

GOLDEN = {
    "filter_v4": policy_inputs.DATA / "golden.iptables-v4",
    "filter_v6": policy_inputs.DATA / "golden.iptables-v6",
    "ipsets": policy_inputs.DATA / "golden.ipset",
}


def golden() -> iptables.RenderedIptables:
    inputs = policy_inputs.compile_input(policy_inputs.load("golden-input.json"))
    return iptables.render(compile.compile_ruleset(inputs))


@pytest.mark.parametrize("part", sorted(GOLDEN))
def test_golden_text(part: str) -> None:
    text = getattr(golden(), part)
    if os.environ.get("ROMANA_UPDATE_GOLDEN") == "1":
        GOLDEN[part].write_text(text)
    assert text == GOLDEN[part].read_text()


def test_only_our_chains_and_sets_are_declared_or_touched() -> None:
    rendered = golden()
    for text in (rendered.filter_v4, rendered.filter_v6):
        declared = [line[1:].split()[0] for line in text.splitlines() if line.startswith(":")]
        assert declared == list(rendered.chains)
        appended = {line.split()[1] for line in text.splitlines() if line.startswith("-A")}
        assert appended <= set(rendered.chains)
        assert all(name.startswith("ROMANA-") and len(name) <= 28 for name in declared)
    touched = {line.split()[1] for line in rendered.ipsets.splitlines()}
    assert touched == set(rendered.sets) | {s + "~" for s in rendered.sets}
    assert all(len(name) <= 31 for name in touched)


def test_hooks_are_ensured_first_in_the_builtin_chains() -> None:
    hooks = golden().hooks
    assert hooks == (
        iptables.HookJump("FORWARD", "ROMANA-FORWARD"),
        iptables.HookJump("INPUT", "ROMANA-INPUT"),
    )
    assert hooks[0].check_args() == ("--check", "FORWARD", "--jump", "ROMANA-FORWARD")
    assert hooks[0].insert_args() == ("--insert", "FORWARD", "1", "--jump", "ROMANA-FORWARD")
    assert hooks[0].delete_args() == ("--delete", "FORWARD", "--jump", "ROMANA-FORWARD")


def test_non_contiguous_masks_and_dispatch_expansion() -> None:
    v4 = golden().filter_v4
    assert (
        "-A ROMANA-INGRESS-ALLOW --destination 10.0.16.0/255.0.240.0 --match comment --comment "
        '"tenant of dst in v4" --jump ROMANA-IA-BLUE\n'
    ) in v4
    assert "--destination 10.0.32.0/255.0.240.0" in v4
    assert "fd00" not in v4
    assert "10.0." not in golden().filter_v6


def chain_text(*rules: ruleset.Rule, sets: tuple[ruleset.AddressSet, ...] = ()) -> str:
    rs = ruleset.Ruleset(sets=sets, chains=(ruleset.Chain("romana-a", rules),))
    return iptables.render(rs).filter_v4


def test_many_ports_are_split_into_multiport_chunks() -> None:
    # Fifteen slots per rule, a range taking two (iptables refuses a sixteenth).
    ports = (*((p, p) for p in range(1, 15)), (100, 200), (300, 400))
    text = chain_text(
        ruleset.Rule(
            (ruleset.Protocol(ruleset.Proto.UDP), ruleset.Ports(ruleset.Side.DST, ports)),
            ruleset.ACCEPT,
        )
    )
    rules = [line for line in text.splitlines() if line.startswith("-A")]
    assert rules == [
        "-A ROMANA-A --protocol udp --match multiport --destination-ports "
        "1,2,3,4,5,6,7,8,9,10,11,12,13,14 --jump ACCEPT",
        "-A ROMANA-A --protocol udp --match multiport --destination-ports 100:200,300:400 "
        "--jump ACCEPT",
    ]


def test_source_ports_icmp_and_interfaces() -> None:
    text = chain_text(
        ruleset.Rule(
            (
                ruleset.Interface(ruleset.Side.DST, "romana"),
                ruleset.Protocol(ruleset.Proto.TCP),
                ruleset.Ports(ruleset.Side.SRC, ((1024, 65535),)),
            ),
            ruleset.RETURN,
        ),
        ruleset.Rule((ruleset.Protocol(ruleset.Proto.ICMP), ruleset.Icmp(3)), ruleset.REJECT),
    )
    assert (
        "-A ROMANA-A --out-interface romana+ --protocol tcp --match tcp --source-port 1024:65535 "
        "--jump RETURN\n" in text
    )
    assert "-A ROMANA-A --protocol icmp --match icmp --icmp-type 3 --jump REJECT\n" in text


def test_ipset_splits_the_default_route_and_swaps_a_temporary_set() -> None:
    everything = ruleset.address_set("romana-set-all-6", 6, [ipaddress.ip_network("::/0")])
    rs = ruleset.Ruleset(sets=(everything,), chains=())
    assert iptables.render(rs).ipsets.splitlines() == [
        "create ROMANA-SET-ALL-6 hash:net family inet6 maxelem 1048576 -exist",
        "create ROMANA-SET-ALL-6~ hash:net family inet6 maxelem 1048576 -exist",
        "flush ROMANA-SET-ALL-6~",
        "add ROMANA-SET-ALL-6~ ::/1",
        "add ROMANA-SET-ALL-6~ 8000::/1",
        "swap ROMANA-SET-ALL-6~ ROMANA-SET-ALL-6",
        "destroy ROMANA-SET-ALL-6~",
    ]


def test_two_addresses_on_one_side_cannot_be_expressed() -> None:
    a = ruleset.Address(ruleset.Side.SRC, addressing.Match(4, 0x0A000000, 0xFF000000))
    b = ruleset.Address(ruleset.Side.SRC, addressing.Match(4, 0x0B000000, 0xFF000000))
    with pytest.raises(Unsupported):
        chain_text(ruleset.Rule((a, b), ruleset.DROP))


def test_removal_touches_only_our_names() -> None:
    removal = iptables.render_removal(["ROMANA-OLD", "ROMANA-A"], ["ROMANA-SET-X-4"])
    assert removal.filter_v4 == (
        "*filter\n:ROMANA-A - [0:0]\n:ROMANA-OLD - [0:0]\n-X ROMANA-A\n-X ROMANA-OLD\nCOMMIT\n"
    )
    assert removal.ipsets == "destroy ROMANA-SET-X-4\n"
    with pytest.raises(InvalidInput):
        iptables.render_removal(["FORWARD"], [])
    with pytest.raises(InvalidInput):
        iptables.render_removal([], ["kube-set"])
