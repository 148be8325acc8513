"""The pure parts of ``bench.dataplane`` and the paths and memory readings it relies on.

The throughput rows are only as honest as their arithmetic and the table states they
switch between: these tests check that a row's ratio is the median of the rounds' paired
ratios, that the measures are taken in turns, that the breakdown's reduced tables keep
romana's hooks and nothing else, and that the memory figures are read from the right
``/proc`` fields.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from bench import dataplane, footprint, paths

from romana.core import ruleset
from romana.core.policy import compile
from romana.core.render import nftables
from support import policy_inputs


def golden() -> ruleset.Ruleset:
    return compile.compile_ruleset(
        policy_inputs.compile_input(policy_inputs.load("golden-input.json"))
    )


def test_the_ratio_is_the_median_of_the_rounds_ratios() -> None:
    # Round 2 ran while the machine was busy: both sides slowed, their ratio did not.
    ours, ptp = [9.0, 4.5, 10.0], [10.0, 5.0, 10.0]

    row = dataplane.paired_result("romana vs ptp", ours, ptp, "ptp", 0.98)

    assert row.ratio == 0.9  # ratios 0.9, 0.9, 1.0
    assert (row.value, row.reference) == (9.0, 10.0)
    assert row.meets_target is False
    assert row.target == ">= 0.98 x ptp"


def test_a_breakdown_row_has_no_target() -> None:
    row = dataplane.paired_result("step", [8.0], [10.0], "ptp", None)

    assert (row.ratio, row.target, row.meets_target) == (0.8, "", None)


def test_measures_are_taken_in_turns_and_every_sample_is_kept() -> None:
    order: list[str] = []

    def measure(name: str, value: float) -> dataplane.Callable[[], float]:
        def run() -> float:
            order.append(name)
            return value

        return run

    found = dataplane.interleaved(3, {"a": measure("a", 1.0), "b": measure("b", 2.0)})

    assert order == ["a", "b", "a", "b", "a", "b"]
    assert found == {"a": [1.0, 1.0, 1.0], "b": [2.0, 2.0, 2.0]}


def test_only_rules_beyond_the_kernels_own_count_as_policy_routing() -> None:
    kernel4 = (
        "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n32767:\tfrom all lookup default\n"
    )
    kernel6 = "0:\tfrom all lookup local\n32766:\tfrom all lookup main\n"

    assert dataplane.policy_rules(kernel4 + kernel6) == 0
    assert dataplane.policy_rules(kernel4 + "100:\tfrom 10.0.4.1 lookup 200\n") == 1


def test_the_hook_only_tables_keep_romanas_base_chains_and_nothing_else() -> None:
    full = golden()
    hooked = [c for c in full.chains if c.hook is not None and c.kind is ruleset.ChainKind.FILTER]
    assert hooked and any(c.hook is None for c in full.chains)

    empty = paths.hooks_only(full, conntrack=False)
    tracked = paths.hooks_only(full, conntrack=True)

    for reduced in (empty, tracked):
        assert [(c.name, c.hook, c.priority) for c in reduced.chains] == [
            (c.name, c.hook, c.priority) for c in hooked
        ]
        assert reduced.sets == ()
    assert all(c.rules == () for c in empty.chains)
    for chain in tracked.chains:
        (rule,) = chain.rules
        assert rule.matches == (
            ruleset.Conntrack((ruleset.CtState.ESTABLISHED, ruleset.CtState.RELATED)),
        )
        assert rule.verdict == ruleset.ACCEPT
    assert "ct state established,related accept" in nftables.render(tracked)


def test_each_host_gets_its_own_reference_subnet_outside_romanas_network() -> None:
    first, second = paths.ptp_subnet(2), paths.ptp_subnet(3)

    assert (str(first), str(second)) == ("172.31.2.0/24", "172.31.3.0/24")
    assert not first.overlaps(ipaddress.IPv4Network("10.0.0.0/8"))
    conf = paths.ptp_conf(first, Path("/tmp/hl"))
    assert conf["type"] == "ptp" and conf["ipMasq"] is False
    assert conf["ipam"]["ranges"] == [[{"subnet": "172.31.2.0/24"}]]


def test_memory_fields_are_read_in_kib_and_shown_in_mb() -> None:
    status = "Name:\tpython3\nVmHWM:\t   81920 kB\nVmRSS:\t   40960 kB\n"

    assert footprint.kib_field(status, "VmRSS") == 40960
    assert footprint.kib_field(status, "Pss") is None
    assert footprint.mb(40960) == 41.9  # 40960 KiB = 41.94 MB of 10^6 bytes


def test_this_process_memory_is_read_from_proc() -> None:
    found = footprint.memory(os.getpid())

    assert 0 < found.rss_mb <= found.peak_mb
    row = footprint.row("agent h1", "idle", found, 1e9)
    assert row.meets_target is True and row.unit == "MB"
