"""Attributed drops: every drop the policy compiler emits names its policy rule or isolation
default by a stable id, and both renderers count it and log it, rate-limited, under that id."""

from __future__ import annotations

import pytest

from romana.core import dropreasons, kernelnames, ruleset
from romana.core.errors import InvalidInput
from romana.core.policy import compile, trees
from romana.core.render import iptables, nftables
from support import policy_inputs


def golden() -> ruleset.Ruleset:
    return compile.compile_ruleset(
        policy_inputs.compile_input(policy_inputs.load("golden-input.json"))
    )


def drop_rules(rs: ruleset.Ruleset) -> list[tuple[str, ruleset.Rule]]:
    return [
        (chain.name, rule)
        for chain in rs.chains
        for rule in chain.rules
        if isinstance(rule.verdict, ruleset.Verdict)
        and rule.verdict.action in (ruleset.Action.DROP, ruleset.Action.REJECT)
    ]


def test_every_compiled_drop_names_its_reason() -> None:
    rs = golden()
    drops = drop_rules(rs)
    assert drops
    assert all(rule.drop is not None for _, rule in drops)
    names = {rule.drop.name for _, rule in drops if rule.drop is not None}
    assert f"default {trees.OTHER_TENANTS}" in names
    assert f"default {trees.OTHER_SEGMENTS}" in names
    assert f"default {trees.INVALID}" in names
    assert f"default {trees.ENDPOINT_TO_HOST}" in names
    assert "policy no-ssh-into-blue ingress[0].peers[0].rules[0]" in names
    assert set(rs.drop_reasons) == {rule.drop.id for _, rule in drops if rule.drop is not None}


def test_a_policy_deny_rule_is_named_by_policy_id_and_rule_place() -> None:
    rs = golden()
    chain = rs.chain("romana-pi-no-ssh-into-blue")
    reason = chain.rules[0].drop
    assert reason == ruleset.policy_drop("no-ssh-into-blue", "ingress[0].peers[0].rules[0]")
    assert reason.to_dict() == {
        "id": reason.label,
        "policy": "no-ssh-into-blue",
        "rule": "ingress[0].peers[0].rules[0]",
    }


def test_ids_are_stable_and_distinct() -> None:
    a = ruleset.default_drop(trees.OTHER_TENANTS)
    # A fixed value: the id is in log prefixes and metrics and must not change by release.
    assert a.label == "39da1f02c7df"
    assert a.label == f"{a.id:012x}" and len(a.label) == 12
    assert a.id != ruleset.default_drop(trees.OTHER_SEGMENTS).id
    assert ruleset.policy_drop("p", "ingress[0].peers[0].rules[0]").id != (
        ruleset.policy_drop("p", "ingress[0].peers[0].rules[1]").id
    )
    assert golden().drop_reasons == golden().drop_reasons


def test_allow_and_accept_rules_carry_no_reason() -> None:
    rs = golden()
    for chain in rs.chains:
        for rule in chain.rules:
            if rule.drop is not None:
                assert rule.verdict in (ruleset.DROP, ruleset.REJECT)


def test_a_reason_on_a_rule_that_does_not_drop_is_refused() -> None:
    rule = ruleset.Rule((), ruleset.ACCEPT, "x", ruleset.default_drop("x"))
    with pytest.raises(InvalidInput, match="only a drop or reject rule has a drop reason"):
        ruleset.Ruleset((), (ruleset.Chain("romana-x", (rule,)),))


def test_a_reason_is_a_policy_rule_or_a_default() -> None:
    with pytest.raises(InvalidInput, match="a drop reason is"):
        ruleset.DropReason(policy="p")
    with pytest.raises(InvalidInput, match="a drop reason is"):
        ruleset.DropReason(policy="p", rule="r", default="d")


def test_nft_logs_then_counts_each_attributed_drop() -> None:
    rs = golden()
    script = nftables.render(rs)
    reason = ruleset.policy_drop("no-ssh-into-blue", "ingress[0].peers[0].rules[0]")
    log = (
        f"tcp dport 22 limit rate {ruleset.DROP_LOG_RATE}/second burst {ruleset.DROP_LOG_BURST}"
        f' packets limit name "{dropreasons.DROP_LOG_LIMIT}"'
        f' counter name "logged-{reason.label}" log group {kernelnames.DROP_LOG_GROUP}'
        f' prefix "{kernelnames.DROP_LOG_PREFIX}{reason.label}"'
    )
    lines = [line.strip() for line in script.splitlines()]
    at = lines.index(log)
    assert lines[at + 1].startswith(f'tcp dport 22 counter name "dropped-{reason.label}" drop ')
    # The host's bucket and each reason's two counters are declared once in the table.
    host = (
        f"limit {dropreasons.DROP_LOG_LIMIT} {{ rate {dropreasons.DROP_LOG_HOST_RATE}/second "
        f"burst {dropreasons.DROP_LOG_HOST_BURST} packets }}"
    )
    assert lines.count(host) == 1
    for kind in ("dropped", "logged"):
        assert lines.count(f"counter {kind}-{reason.label} {{}}") == 1
    # One log rule per drop rule: the rule count grows by a constant per drop rule only.
    logs = sum(1 for line in lines if f'prefix "{kernelnames.DROP_LOG_PREFIX}' in line)
    assert logs == len(drop_rules(rs))
    # The limit is never on the drop itself: a drop over the rate must still drop.
    assert not any(" drop" in line and "limit rate" in line for line in lines)


def test_iptables_logs_each_expansion_before_its_drop() -> None:
    reason = ruleset.policy_drop("p", "ingress[0].peers[0].rules[0]")
    ports = ruleset.Ports(ruleset.Side.DST, tuple((p, p) for p in range(1, 20)))
    rule = ruleset.Rule((ruleset.Protocol(ruleset.Proto.TCP), ports), ruleset.DROP, "p", reason)
    rs = ruleset.Ruleset((), (ruleset.Chain("romana-x", (rule,)),))
    lines = [line for line in iptables.render(rs).filter_v4.splitlines() if line.startswith("-A")]
    assert len(lines) == 4  # two multiport chunks, each logged then dropped
    for log, drop in (lines[0:2], lines[2:4]):
        assert log.endswith(
            f"--match limit --limit {ruleset.DROP_LOG_RATE}/sec --limit-burst "
            f"{ruleset.DROP_LOG_BURST} --match hashlimit --hashlimit-upto "
            f"{dropreasons.DROP_LOG_HOST_RATE}/sec --hashlimit-burst "
            f"{dropreasons.DROP_LOG_HOST_BURST} --hashlimit-name {dropreasons.DROP_LOG_LIMIT} "
            f"--match nfacct --nfacct-name romana-logged-{reason.label} "
            f"--jump NFLOG --nflog-group {kernelnames.DROP_LOG_GROUP} "
            f"--nflog-prefix {kernelnames.DROP_LOG_PREFIX}{reason.label}"
        )
        assert drop.endswith(
            f"--match nfacct --nfacct-name romana-dropped-{reason.label} --jump DROP"
        )
        assert log.split("--match limit")[0] == drop.split("--match nfacct")[0]
    names = (f"romana-dropped-{reason.label}", f"romana-logged-{reason.label}")
    assert iptables.render(rs).accounts == names
    assert iptables.render(rs, drop_log=False).accounts == names[:1]


def test_without_the_drop_log_drops_are_counted_but_not_logged() -> None:
    rs = golden()
    script = nftables.render(rs, drop_log=False)
    assert "log group" not in script and "limit" not in script and "logged-" not in script
    assert script.count('counter name "dropped-') == len(drop_rules(rs))
    rendered = iptables.render(rs, drop_log=False)
    for text in (rendered.filter_v4, rendered.filter_v6):
        assert "NFLOG" not in text and "hashlimit" not in text
    assert rendered.filter_v4.count("--jump DROP") == iptables.render(rs).filter_v4.count(
        "--jump DROP"
    )


def only_reason(label: str, rs: ruleset.Ruleset) -> ruleset.Ruleset:
    """``rs`` without the rules of the drop reason ``label``."""
    chains = tuple(
        ruleset.Chain(
            c.name,
            tuple(r for r in c.rules if r.drop is None or r.drop.label != label),
            c.hook,
            c.priority,
            c.kind,
        )
        for c in rs.chains
    )
    return ruleset.Ruleset(rs.sets, chains, interface_sets=rs.interface_sets)


def test_a_delta_keeps_the_counters_and_deletes_only_those_of_vanished_reasons() -> None:
    rs = golden()
    reason = ruleset.policy_drop("no-ssh-into-blue", "ingress[0].peers[0].rules[0]")
    smaller = only_reason(reason.label, rs)
    script = nftables.render_delta(rs, smaller)
    assert script is not None
    lines = [line.strip() for line in script.splitlines()]
    assert "delete table inet romana" not in lines
    deleted = [line for line in lines if line.startswith("delete counter")]
    assert deleted == [
        f"delete counter inet romana dropped-{reason.label}",
        f"delete counter inet romana logged-{reason.label}",
    ]
    back = nftables.render_delta(smaller, rs)
    assert back is not None
    assert f"counter dropped-{reason.label} {{}}" in [x.strip() for x in back.splitlines()]


def test_a_rebuild_rewrites_every_chain_and_set_but_keeps_the_table() -> None:
    rs = golden()
    reason = ruleset.policy_drop("no-ssh-into-blue", "ingress[0].peers[0].rules[0]")
    script = nftables.render_rebuild(only_reason(reason.label, rs), rs)
    lines = [line.strip() for line in script.splitlines()]
    assert "delete table inet romana" not in lines
    assert lines[1:3] == ["table inet romana {}", "flush table inet romana"]
    flushed = {line.split()[-1] for line in lines if line.startswith("flush set")}
    assert flushed == {s.name for s in rs.sets} | {s.name for s in rs.interface_sets}
    assert lines[-2:] == [
        f"delete counter inet romana dropped-{reason.label}",
        f"delete counter inet romana logged-{reason.label}",
    ]
