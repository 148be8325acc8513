"""VMs on taps over IPv6: the agent's router advertisements and DHCPv6 tell each VM its way.

A dual-stack cluster (networks ``pods`` and ``pods6``, as in ``test_agent_ipv6``); tenant
``t1`` is pinned to both, so the allocation the IPAM driver would make for a port holds an
IPv4 and an IPv6 address. A "VM" is a namespace behind a veth whose host end is named as
Nova names a tap (as in ``test_agent_tap_vms``, both from ``tests/support/vms.py``); its
kernel accepts router advertisements (``accept_ra`` 1, forwarding off) and ISC
``dhclient -6`` asks for its address by stateful DHCPv6 with a script that puts it on
``eth0``. Real agents and romanad, real packets, both firewall backends.
"""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from romana.lab import Cluster, cluster, topologies
from support import env
from support.vms import Vm, allocate_and_plug, dhcp6, ip, routed, take_away
from support.wait import eventually

pytestmark = pytest.mark.root

SETTLE = 10.0
"""Router advertisements wait for the tap's link-local address to pass duplicate address
detection (about a second after the tap is up), then answer the VM's solicitation."""


def _until(check: Callable[[], bool]) -> bool:
    return eventually(check, within=SETTLE)


def _in_vm(vm: Vm, *argv: str) -> str:
    return ip("-n", vm.workload.ns, *argv)


@pytest.fixture(scope="module", params=["nftables", "iptables"])
def dual(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    env.need_agent_lab("dhclient")  # Debian's isc-dhcp-client
    firewall = str(request.param)
    workdir: Path = tmp_path_factory.mktemp(f"tapvms6-{firewall}")
    with cluster(workdir, firewall, topology=topologies.dual_stack()) as made:
        try:
            made.api.create_tenant("t1")
            yield made
        except BaseException:
            print(made.log_tails())
            raise


@pytest.fixture
def vms(dual: Cluster) -> Iterator[list[Vm]]:
    made: list[Vm] = []
    try:
        for host in dual.hosts[:2]:
            made.append(allocate_and_plug(dual, host, "t1", "vm", accept_ra=True))
        yield made
    finally:
        take_away(dual, made, within=SETTLE)


@pytest.fixture
def dhclients(vms: list[Vm]) -> Iterator[list[subprocess.Popen[str]]]:
    """The VMs' DHCPv6 clients, stopped before the VMs' taps go (this fixture ends first)."""
    running: list[subprocess.Popen[str]] = []
    try:
        yield running
    finally:
        for client in running:
            client.kill()
            client.wait(timeout=10)


def _link_local_ready(vm: Vm) -> bool:
    shown = _in_vm(vm, "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link")
    return "fe80::" in shown and "tentative" not in shown


def _default_via_link_local(vm: Vm) -> str:
    """The VM's default route learnt from a router advertisement; '' while it has none."""
    shown = _in_vm(vm, "-6", "route", "show", "default")
    return shown if "via fe80::" in shown and "dev eth0" in shown and "proto ra" in shown else ""


def test_a_vm_on_a_tap_gets_its_ipv6_address_and_router_and_reaches_another_host(
    dual: Cluster, vms: list[Vm], dhclients: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    one, two = vms
    for vm in vms:
        assert _until(functools.partial(routed, vm, ipv6=True)), (
            f"{vm.host.name}: no route to {vm.address6} via {vm.tap}\n{dual.log_tails()}"
        )
        assert _until(functools.partial(_link_local_ready, vm))
        # Router advertisement: a default route via the host's link-local address on the tap.
        assert _until(lambda vm=vm: bool(_default_via_link_local(vm))), (  # type: ignore[misc]
            f"{vm.tap}: no default route from a router advertisement\n{dual.log_tails()}"
        )
        router = _default_via_link_local(vm).split()[2]
        tap_addresses = ip("-n", vm.host.ns, "-6", "-o", "addr", "show", "dev", vm.tap)
        assert f"inet6 {router}/64 scope link" in tap_addresses, (router, tap_addresses)
        # No prefix in the advertisement: no address of the VM's own making.
        assert "scope global" not in _in_vm(vm, "-6", "-o", "addr", "show", "dev", "eth0")

        # Stateful DHCPv6: exactly the port's IPv6 address.
        binding, client = dhcp6(vm.workload, tmp_path, within=SETTLE, logs=dual.log_tails)
        dhclients.append(client)
        assert binding == [vm.address6, "128"]
        shown = _in_vm(vm, "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global")
        assert shown.count(" inet6 ") == 1 and f"inet6 {vm.address6}/128" in shown, shown

    # The VM resolves the host's link-local address; the host resolves the VM on the tap.
    assert dual.lab.ping(one.workload, two.address6, deadline=5), dual.log_tails()
    assert dual.lab.ping(two.workload, one.address6, deadline=5), dual.log_tails()
