"""The lab harness itself: what every namespace test relies on to leave nothing behind."""

from __future__ import annotations

import subprocess

import pytest

from romana.lab import Lab
from support import env

pytestmark = pytest.mark.root


def namespaces_with(prefix: str) -> list[str]:
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in listed.splitlines() if line.startswith(prefix + "-")]


def test_hosts_share_an_underlay_and_workloads_start_empty(lab: Lab) -> None:
    h1, h2 = lab.add_host("h1"), lab.add_host("h2")
    workload = lab.add_workload(h1, "a")
    assert lab.ping(h1, h2.underlay_ip) and lab.ping(h2, h1.underlay_ip6)
    assert lab.run(h1, ["sysctl", "-n", "net.ipv4.ip_forward"]).stdout.strip() == "0"
    links = lab.run(workload, ["ip", "-o", "link"]).stdout.splitlines()
    assert len(links) == 1 and "lo:" in links[0] and "UP" in links[0]
    assert sorted(namespaces_with(lab.prefix)) == sorted(
        f"{lab.prefix}-{n}" for n in ("ul", "h1", "h2", "h1-a")
    )


def test_probes_tell_a_listener_from_nothing(lab: Lab) -> None:
    h1, h2 = lab.add_host("h1"), lab.add_host("h2")
    tcp, udp = lab.listen(h2), lab.listen(h2, "udp")
    assert lab.tcp_probe(h1, h2.underlay_ip, tcp.port)
    assert lab.tcp_probe(h1, h2.underlay_ip6, tcp.port)
    assert lab.udp_probe(h1, h2.underlay_ip, udp.port)
    assert not lab.tcp_probe(h2, h1.underlay_ip, tcp.port, timeout=1)  # nobody on h1
    assert not lab.udp_probe(h1, h1.underlay_ip, udp.port, timeout=1)  # nobody on h1
    assert lab.silent(h1, "198.18.0.99")


def test_everything_is_removed_after_a_failure_and_daemons_stop_by_pid() -> None:
    env.need_root()
    with pytest.raises(RuntimeError, match="boom"), Lab() as lab:
        host = lab.add_host("h1")
        lab.add_workload(host, "a")
        daemon = lab.popen_in(host, ["sleep", "60"])
        raise RuntimeError("boom")
    assert daemon.poll() is not None
    assert namespaces_with(lab.prefix) == []


def test_a_half_made_setup_is_cleaned_up() -> None:
    env.need_root()
    lab = Lab()
    try:
        lab.add_host("h1")
        with pytest.raises(RuntimeError, match="ip netns add"):
            lab.add_host("h1")  # the namespace exists already: fails after registering
    finally:
        lab.close()
    assert namespaces_with(lab.prefix) == []
