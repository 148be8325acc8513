"""What the firewall adapters refuse and how they classify failures, without a kernel."""

from __future__ import annotations

import pytest

from romana.dataplane import iptables, nftables
from romana.dataplane.iptables import Jump

RULES = """*filter
:ROMANA-FORWARD - [0:0]
:ROMANA-INPUT - [0:0]
:ROMANA-T1 - [0:0]
-A ROMANA-FORWARD -m comment --comment "-A FORWARD is only a comment" -j ROMANA-T1
COMMIT
*nat
:ROMANA-POSTROUTING - [0:0]
:ROMANA-FORWARD - [0:0]
COMMIT
"""


def test_entry_jumps_follow_the_chain_naming_convention() -> None:
    assert iptables.entry_jumps(RULES) == (
        Jump("filter", "FORWARD", "ROMANA-FORWARD"),
        Jump("filter", "INPUT", "ROMANA-INPUT"),
        Jump("nat", "POSTROUTING", "ROMANA-POSTROUTING"),
    )


def test_our_own_text_touches_nothing_foreign() -> None:
    sets = "create romana-t1 hash:net\nadd romana-t1 10.0.0.0/8\nswap romana-t1 romana-t1-tmp\n"
    assert iptables.foreign_names(RULES, sets) == []


@pytest.mark.parametrize(
    ("rules", "sets", "found"),
    [
        ("-A FORWARD -j ROMANA-FORWARD\n", "", ["chain FORWARD"]),
        (":DOCKER - [0:0]\n", "", ["chain DOCKER"]),
        ("-F\n", "", ["chain (all chains)"]),
        ("-X\n", "", ["chain (all chains)"]),
        ("--flush\n", "", ["chain (all chains)"]),
        ("-E ROMANA-A KUBE-A\n", "", ["chain KUBE-A"]),
        ("-P INPUT DROP\n", "", ["chain INPUT"]),
        ("", "flush\n", ["set (all sets)"]),
        ("", "destroy KUBE-SVC\n", ["set KUBE-SVC"]),
        ("", "swap romana-a other\n", ["set other"]),
        ("", "-A cali40all 10.0.0.1\n", ["set cali40all"]),
    ],
)
def test_foreign_chains_and_sets_are_found(rules: str, sets: str, found: list[str]) -> None:
    assert iptables.foreign_names(rules, sets) == found


def test_lock_contention_and_commit_races_are_temporary() -> None:
    text = "*filter\n:ROMANA-A - [0:0]\n-A ROMANA-A -j ACCEPT\nCOMMIT\n"
    assert iptables.is_temporary_failure(
        "Another app is currently holding the xtables lock. Stopped waiting after 1s.", text
    )
    assert iptables.is_temporary_failure("iptables-restore: line 4 failed", text)
    assert iptables.is_temporary_failure("ipset v7.17: Resource temporarily unavailable", None)
    assert not iptables.is_temporary_failure("iptables-restore: line 3 failed", text)
    assert not iptables.is_temporary_failure("iptables-restore: line 9 failed", text)
    assert not iptables.is_temporary_failure("iptables-restore: line 4 failed", None)
    assert not iptables.is_temporary_failure("Couldn't load target `X'", text)


def test_an_nft_script_for_our_table_names_nothing_else() -> None:
    script = (
        "table inet romana {}\n"
        "delete table inet romana\n"
        "# this comment mentions table ip filter and flush ruleset\n"
        "table inet romana {\n"
        '  chain c { type filter hook forward priority 0; comment "table ip nat"; }\n'
        "}\n"
    )
    assert nftables.foreign_tables(script) == []


@pytest.mark.parametrize(
    ("script", "found"),
    [
        ("flush ruleset\n", ["ruleset"]),
        ("table ip filter { }\n", ["ip filter"]),
        ("delete table romana\n", ["ip romana"]),  # no family means ip
        ("add table inet romana\nflush table ip6 other\n", ["ip6 other"]),
        ('include "/etc/nftables.conf"\n', ["ruleset"]),
    ],
)
def test_foreign_tables_are_found(script: str, found: list[str]) -> None:
    assert nftables.foreign_tables(script) == found
