"""Applying iptables-restore and ipset text to our chains inside a host namespace."""

from __future__ import annotations

import fcntl
import threading
import time
from pathlib import Path

import pytest

from romana.core.errors import InvalidInput
from romana.dataplane import proc
from romana.dataplane.iptables import Iptables
from romana.lab import Lab
from support import env

pytestmark = pytest.mark.root


def rules(target: str = "DROP", family: str = "") -> str:
    icmp = "ipv6-icmp" if family == "6" else "icmp"
    return (
        "*filter\n"
        ":ROMANA-INPUT - [0:0]\n"
        ":ROMANA-BLOCK - [0:0]\n"
        f"-A ROMANA-INPUT -p {icmp} -m set --match-set romana-blocked{family} src -j ROMANA-BLOCK\n"
        f"-A ROMANA-BLOCK -j {target}\n"
        "COMMIT\n"
    )


def members(*addresses: object, family: str = "") -> str:
    inet = "inet6" if family == "6" else "inet"
    lines = [
        f"create romana-blocked{family} hash:ip family {inet}",
        f"flush romana-blocked{family}",
    ]
    lines += [f"add romana-blocked{family} {a}" for a in addresses]
    return "\n".join(lines) + "\n"


@pytest.fixture
def ipt_lab(lab: Lab) -> Lab:
    for binary in ("iptables", "iptables-legacy", "ip6tables", "ipset", "nsenter"):
        env.need_binary(binary)
    for name in ("h1", "h2", "h3"):
        lab.add_host(name)
    return lab


@pytest.mark.parametrize("legacy", [False, True], ids=["nft", "legacy"])
def test_apply_loads_sets_and_chains_and_jumps_once(ipt_lab: Lab, legacy: bool) -> None:
    h1, h2, h3 = ipt_lab.hosts
    ipt = Iptables(netns=h1.path, legacy=legacy)
    ipt.apply(rules(), members(h2.underlay_ip))
    assert ipt_lab.silent(h2, h1.underlay_ip)
    assert ipt_lab.ping(h3, h1.underlay_ip)
    ipt.apply(rules(), members(h3.underlay_ip))
    assert ipt_lab.ping(h2, h1.underlay_ip)
    assert ipt_lab.silent(h3, h1.underlay_ip)
    listing = ipt_lab.run(h1, [ipt.iptables, "-S", "INPUT"]).stdout
    assert listing.count("-j ROMANA-INPUT") == 1
    assert ipt.owned_chains() == ("ROMANA-BLOCK", "ROMANA-INPUT")


def test_ipv6_rules_go_to_ip6tables(ipt_lab: Lab) -> None:
    h1, h2, h3 = ipt_lab.hosts
    ipt = Iptables(netns=h1.path, ip6=True)
    assert ipt_lab.ping(h2, h1.underlay_ip6)
    ipt.apply(rules(family="6"), members(h2.underlay_ip6, family="6"))
    assert ipt_lab.silent(h2, h1.underlay_ip6)
    assert ipt_lab.ping(h3, h1.underlay_ip6)
    assert ipt_lab.ping(h2, h1.underlay_ip)  # IPv4 untouched


def test_a_failing_restore_reports_everything_and_keeps_the_previous_rules(ipt_lab: Lab) -> None:
    h1, h2, _ = ipt_lab.hosts
    ipt = Iptables(netns=h1.path)
    ipt.apply(rules(), members(h2.underlay_ip))
    before = ipt_lab.run(h1, ["iptables", "-S"]).stdout
    broken = rules(target="ROMANA-MISSING")
    with pytest.raises(proc.CommandFailed) as exc:
        ipt.apply(broken)
    assert exc.value.input == broken
    assert exc.value.rc != 0 and exc.value.stderr
    assert "iptables-restore" in " ".join(exc.value.argv)
    assert not exc.value.temporary
    assert ipt_lab.run(h1, ["iptables", "-S"]).stdout == before
    assert ipt_lab.silent(h2, h1.underlay_ip)


def test_text_touching_chains_or_sets_that_are_not_ours_is_refused(ipt_lab: Lab) -> None:
    h1 = ipt_lab.hosts[0]
    ipt = Iptables(netns=h1.path)
    before = ipt_lab.run(h1, ["iptables", "-S"]).stdout
    with pytest.raises(InvalidInput) as exc:
        ipt.apply("*filter\n-A INPUT -j DROP\n-F\nCOMMIT\n", "flush\ncreate docker hash:ip\n")
    assert {i.rule for i in exc.value.issues} == {
        "touches chain INPUT, which is not ours",
        "touches chain (all chains), which is not ours",
        "touches set (all sets), which is not ours",
        "touches set docker, which is not ours",
    }
    assert ipt_lab.run(h1, ["iptables", "-S"]).stdout == before


def test_remove_deletes_our_jumps_chains_and_sets_only(ipt_lab: Lab) -> None:
    h1 = ipt_lab.hosts[0]
    ipt_lab.run(h1, ["iptables", "-N", "OTHER"])
    ipt_lab.run(h1, ["iptables", "-A", "INPUT", "-j", "OTHER"])
    ipt_lab.run(h1, ["ipset", "create", "otherset", "hash:ip"])
    ipt = Iptables(netns=h1.path)
    ipt.apply(rules(), members("198.18.0.9"))
    ipt.remove()
    assert ipt.owned_chains() == ()
    assert ipt_lab.run(h1, ["iptables", "-S", "INPUT"]).stdout.splitlines() == [
        "-P INPUT ACCEPT",
        "-A INPUT -j OTHER",
    ]
    assert ipt_lab.run(h1, ["ipset", "list", "-n"]).stdout.split() == ["otherset"]


def test_a_held_xtables_lock_is_temporary_and_retried(ipt_lab: Lab, tmp_path: Path) -> None:
    """iptables-legacy serialises on a lock file; a busy lock must not fail the apply."""
    h1 = ipt_lab.hosts[0]
    lock = tmp_path / "xtables.lock"
    slept: list[float] = []
    ipt = Iptables(netns=h1.path, legacy=True, wait=1, lock_file=str(lock), sleep=slept.append)
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        release = threading.Timer(1.4, fcntl.flock, (held, fcntl.LOCK_UN))
        release.start()
        started = time.monotonic()
        ipt.apply(rules(), members("198.18.0.9"))
        release.join()
    assert len(slept) == 1  # one attempt lost to the lock, the retry won
    assert time.monotonic() - started >= 1.0
    assert "ROMANA-INPUT" in ipt_lab.run(h1, ["iptables-legacy", "-S", "INPUT"]).stdout

    once = Iptables(netns=h1.path, legacy=True, wait=1, lock_file=str(lock), attempts=1)
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(proc.CommandFailed) as exc:
            once.apply(rules(), "")
    assert exc.value.temporary
    assert "xtables lock" in exc.value.stderr
