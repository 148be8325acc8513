"""The kernel accepts what the renderers print, atomically and idempotently.

Each test loads the golden ruleset into a fresh network namespace of its own (``rt`` plus
random hex, deleted afterwards), so the machine's own firewall is never touched. Packet-level
behaviour is tested elsewhere; here the question is whether nft, iptables-restore and ipset
take the text, leave everything that is not ours alone, and end in the same state when the
same text is applied twice.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import secrets
import subprocess
from collections.abc import Iterator

import pytest

from romana.core import dropreasons, kernelnames, ruleset
from romana.core.policy import compile, externals
from romana.core.render import iptables, nftables
from romana.dataplane import nfacct
from support import env, policy_inputs

TABLE = (kernelnames.NFT_FAMILY, kernelnames.NFT_TABLE)
EXTERNALS = externals.ordered(
    [
        (ipaddress.ip_address("203.0.113.10"), ipaddress.ip_address("10.1.16.5")),
        (ipaddress.ip_address("2001:db8::10"), ipaddress.ip_address("fd00::1:1:0:5")),
    ]
)

pytestmark = pytest.mark.root


def golden(endpoints: int = 0) -> ruleset.Ruleset:
    """The golden ruleset with one external IP of each family (on blue's default-segment
    endpoints 10.1.16.5 and fd00::1:1:0:5) and ``endpoints`` members of set monitoring."""
    fixture = policy_inputs.load("golden-input.json")
    inputs = policy_inputs.compile_input(fixture, externals=EXTERNALS)
    if endpoints:
        members = tuple(
            ipaddress.ip_network((int(ipaddress.ip_address("172.16.0.0")) + 2 * i, 32))
            for i in range(endpoints)
        )
        inputs = dataclasses.replace(inputs, address_sets={"monitoring": members})
    return compile.compile_ruleset(inputs)


@pytest.fixture
def netns() -> Iterator[str]:
    env.need_root()
    env.need_binary("ip")
    name = "rt" + secrets.token_hex(4)
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def run(ns: str, *argv: str, stdin: str | None = None, check: bool = True) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", ns, *argv], input=stdin, capture_output=True, text=True, timeout=60
    )
    if check and done.returncode != 0:
        raise AssertionError(f"{argv} exited {done.returncode}: {done.stderr}")
    return done.stdout if done.returncode == 0 else f"exit {done.returncode}: {done.stderr}"


def test_nft_script_loads_atomically_and_idempotently(netns: str) -> None:
    env.need_binary("nft")
    rs = golden(endpoints=10_000)
    script = nftables.render(rs)
    run(netns, "nft", "-f", "-", stdin=script)
    first = run(netns, "nft", "list", "table", *TABLE)
    run(netns, "nft", "-f", "-", stdin=script)
    assert run(netns, "nft", "list", "table", *TABLE) == first
    listed = {line.split()[1] for line in first.splitlines() if line.strip().startswith("chain ")}
    assert listed == {c.name for c in rs.chains}
    assert "ip daddr & 255.0.240.0 vmap { 10.0.16.0 : jump romana-ia-blue" in first
    # An external IP's full-address dispatch is held as a verdict map on the exact address.
    assert "ip daddr vmap { 203.0.113.10 : jump romana-ia-blue }" in first
    assert "ip6 daddr vmap { 2001:db8::10 : jump romana-ia-blue.default }" in first

    # A script the kernel refuses part-way (a jump to a chain that does not exist, after
    # the delete) changes nothing: the whole file is one transaction.
    broken = script.replace("goto romana-egress-passed", "goto romana-missing", 1)
    assert run(netns, "nft", "-f", "-", stdin=broken, check=False).startswith("exit 1")
    assert run(netns, "nft", "list", "table", *TABLE) == first

    for _ in range(2):
        run(netns, "nft", "-f", "-", stdin=nftables.render_removal())
    assert run(netns, "nft", "list", "tables") == ""


@pytest.mark.parametrize("variant", ["nft", "legacy"])
def test_iptables_and_ipset_text_loads_and_touches_only_ours(netns: str, variant: str) -> None:
    suffix = "-legacy" if variant == "legacy" else ""
    restore = {4: f"iptables{suffix}-restore", 6: f"ip6tables{suffix}-restore"}
    tool = {4: f"iptables{suffix}", 6: f"ip6tables{suffix}"}
    for binary in (*restore.values(), *tool.values(), "ipset"):
        env.need_binary(binary)
    # Someone else's chain, rule and set, which must survive every step below.
    run(netns, tool[4], "-w", "5", "--new-chain", "OTHER")
    run(netns, tool[4], "-w", "5", "--append", "FORWARD", "--jump", "OTHER")
    run(netns, "ipset", "create", "other", "hash:ip")

    rendered = iptables.render(golden(endpoints=10_000))
    texts = {4: rendered.filter_v4, 6: rendered.filter_v6}

    def apply() -> None:
        # The accounting objects the drop rules count in exist before the rules (the agent
        # makes them so, romana.agent.firewall).
        nfacct.Accounting(dropreasons.ACCOUNT_PREFIX, f"/run/netns/{netns}").ensure(
            rendered.accounts
        )
        run(netns, "ipset", "restore", stdin=rendered.ipsets)
        for version in (4, 6):
            run(netns, restore[version], "-w", "5", "--noflush", stdin=texts[version])
            for hook in rendered.hooks:
                checked = run(netns, tool[version], "-w", "5", *hook.check_args(), check=False)
                if checked.startswith("exit"):
                    run(netns, tool[version], "-w", "5", *hook.insert_args())

    def state() -> tuple[str, str, str]:
        sets = run(netns, "ipset", "list", "-n")
        return run(netns, tool[4], "-w", "5", "-S"), run(netns, tool[6], "-w", "5", "-S"), sets

    apply()
    first = state()
    apply()
    assert state() == first
    v4_rules = first[0].splitlines()
    assert v4_rules.count("-A FORWARD -j ROMANA-FORWARD") == 1
    assert v4_rules.count("-A INPUT -j ROMANA-INPUT") == 1
    assert "-A FORWARD -j OTHER" in v4_rules
    assert {f"-N {c}" for c in rendered.chains} <= set(v4_rules)
    assert set(first[2].split()) == {*rendered.sets, "other"}
    assert any("-d 203.0.113.10/32" in r and "-j ROMANA-IA-BLUE" in r for r in v4_rules)
    assert any("-d 2001:db8::10/128" in r for r in first[1].splitlines())
    members = run(netns, "ipset", "list", "ROMANA-SET-MONITORING-4")
    assert "Number of entries: 10000" in members

    # Removal: hooks first, then our chains, then our sets; the others stay.
    removal = iptables.render_removal(rendered.chains, rendered.sets)
    for version in (4, 6):
        for hook in rendered.hooks:
            run(netns, tool[version], "-w", "5", *hook.delete_args())
        text = removal.filter_v4 if version == 4 else removal.filter_v6
        run(netns, restore[version], "-w", "5", "--noflush", stdin=text)
    run(netns, "ipset", "restore", stdin=removal.ipsets)
    after = state()
    assert "ROMANA" not in "".join(after)
    assert "-A FORWARD -j OTHER" in after[0].splitlines()
    assert after[2].split() == ["other"]
