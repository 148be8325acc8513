"""The nftables renderer: one atomic script, readable like ``nft list table``.

Golden files live in tests/data/policy/; regenerate with ``ROMANA_UPDATE_GOLDEN=1`` and
review the diff like any dataplane change.
"""

from __future__ import annotations

import ipaddress
import os

import pytest

from romana.core import addressing, ruleset
from romana.core.errors import InvalidInput
from romana.core.policy import compile
from romana.core.render import nftables
from support import policy_inputs

GOLDEN = policy_inputs.DATA / "golden.nft"


def golden_ruleset() -> ruleset.Ruleset:
    return compile.compile_ruleset(
        policy_inputs.compile_input(policy_inputs.load("golden-input.json"))
    )


def test_golden_script() -> None:
    script = nftables.render(golden_ruleset())
    if os.environ.get("ROMANA_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(script)
    assert script == GOLDEN.read_text()


def test_script_replaces_only_our_table_in_one_transaction() -> None:
    lines = nftables.render(golden_ruleset(), table="romana-test").splitlines()
    assert lines[1:4] == [
        "table inet romana-test {}",
        "delete table inet romana-test",
        "table inet romana-test {",
    ]
    assert [line for line in lines if line.startswith("table")] == lines[1:2] + lines[3:4]
    assert "flush ruleset" not in lines


def test_masks_and_verdict_maps() -> None:
    script = nftables.render(golden_ruleset())
    assert (
        "\t\tip daddr & 255.0.240.0 vmap { 10.0.16.0 : jump romana-ia-blue, "
        '10.0.32.0 : jump romana-ia-red } comment "tenant of dst in v4"\n'
    ) in script
    assert (
        '\t\tip saddr & 255.0.255.0 == 10.0.34.0 accept comment "own tenant and segment v4"\n'
    ) in script
    assert "\t\tip6 saddr & ffff:ffff:ffff::ffff:0:0 == fd00::5:0:0 counter name " in script
    assert "\t\tip daddr 10.96.0.10 udp dport 53 goto romana-egress-passed" in script
    assert "\t\ttype filter hook forward priority filter + 10; policy accept;\n" in script


def test_chain_priorities_and_set_element_wrapping() -> None:
    many = ruleset.address_set(
        "romana-set-x-4", 4, [ipaddress.ip_network((0x0A000000 + 2 * i, 32)) for i in range(20)]
    )
    rs = ruleset.Ruleset(
        sets=(many,),
        chains=(
            ruleset.Chain("romana-early", (), ruleset.Hook.INPUT, priority=-5),
            ruleset.Chain("romana-plain", (), ruleset.Hook.OUTPUT),
        ),
    )
    script = nftables.render(rs)
    assert "type filter hook input priority filter - 5; policy accept;" in script
    assert "type filter hook output priority filter; policy accept;" in script
    assert "\t\telements = { 10.0.0.0, 10.0.0.2," in script
    assert script.count("\n\t\t\t     ") == 2  # 20 elements, 8 per line


def test_comments_are_quoted_safely_and_fit_the_kernel_limit() -> None:
    assert nftables.comment('say "hi"\\\n') == "say 'hi'''"
    assert len(nftables.comment("é" * 200).encode()) <= nftables.COMMENT_BYTES


def test_ports_icmp_and_sets() -> None:
    rule = ruleset.Rule(
        (
            ruleset.InSet(ruleset.Side.DST, "romana-s-6", 6),
            ruleset.Protocol(ruleset.Proto.ICMPV6),
            ruleset.Icmp(128, 0),
        ),
        ruleset.ACCEPT,
    )
    sport = ruleset.Rule(
        (
            ruleset.Protocol(ruleset.Proto.SCTP),
            ruleset.Ports(ruleset.Side.SRC, ((1, 1), (1000, 2000))),
            ruleset.Address(ruleset.Side.DST, addressing.Match(4, 0x0A000001, 0xFFFFFFFF)),
        ),
        ruleset.REJECT,
    )
    rs = ruleset.Ruleset(
        sets=(ruleset.AddressSet("romana-s-6", 6),),
        chains=(
            ruleset.Chain(
                "romana-a",
                (rule, sport, ruleset.Rule((ruleset.Protocol(ruleset.Proto.UDP),), ruleset.RETURN)),
            ),
        ),
    )
    script = nftables.render(rs)
    assert "\t\tip6 daddr @romana-s-6 icmpv6 type 128 icmpv6 code 0 accept\n" in script
    assert "\t\tsctp sport { 1, 1000-2000 } ip daddr 10.0.0.1 reject\n" in script
    assert "\t\tmeta l4proto udp return\n" in script
    assert "\tset romana-s-6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t}\n" in script


def test_only_our_tables_are_named() -> None:
    with pytest.raises(InvalidInput):
        nftables.render(golden_ruleset(), table="filter")
    assert nftables.render_removal() == "table inet romana {}\ndelete table inet romana\n"
