"""VMs on taps: the agent wires each tap Nova would make and serves its VM DHCPv4.

The Neutron IPAM driver allocates a port's addresses for its bound host under the key
``<port id>:tap<11 characters>`` (``mapping.allocation_key``); here the admin client does the
same. A "VM" is a network namespace joined to its host by a veth whose host end is named as
Nova names a tap; busybox ``udhcpc`` inside configures what the agent's DHCP server offers
(both as ``tests/support/vms.py`` does them). Real agents and romanad (the shared cluster of
this directory, both firewall backends), real packets. Deleting a tap unwires it (its routes
go) and leaves the allocation, which Neutron releases with the port.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from romana.lab import Cluster
from support import env
from support.vms import Vm, allocate_and_plug, dhcp4, ip, routed, take_away, tap_keys
from support.wait import eventually

pytestmark = pytest.mark.root

SETTLE = 5.0


def _until(check: Callable[[], bool]) -> bool:
    return eventually(check, within=SETTLE)


@pytest.fixture
def vms(agents: Cluster) -> Iterator[list[Vm]]:
    env.need_binary("busybox")
    made: list[Vm] = []
    try:
        for host in agents.hosts[:2]:
            made.append(allocate_and_plug(agents, host, "t1", "vm"))
        yield made
    finally:
        take_away(agents, made, within=SETTLE)


def test_a_vm_on_a_tap_gets_its_address_by_dhcp_and_reaches_another_host(
    agents: Cluster, vms: list[Vm], tmp_path: Path
) -> None:
    one, two = vms
    for vm in vms:
        assert _until(functools.partial(routed, vm)), (
            f"{vm.host.name}: no route to {vm.address} via {vm.tap}\n{agents.log_tails()}"
        )
        got = dhcp4(vm.workload, tmp_path, logs=agents.log_tails)
        gateway = agents.api.decode(vm.address)
        assert got[0] == vm.address, gateway
        assert got[1] == "255.0.0.0"  # the romana network's prefix (10.0.0.0/8)
        addresses = ip("-n", vm.workload.ns, "-4", "-o", "addr", "show", "dev", "eth0")
        assert addresses.count(" inet ") == 1 and f"inet {vm.address}/8" in addresses
    assert agents.lab.ping(one.workload, two.address, deadline=3), agents.log_tails()
    assert agents.lab.ping(two.workload, one.address, deadline=3), agents.log_tails()
    assert two.key == f"{two.port}:{two.tap}"
    assert two.key in tap_keys(agents, two.host)

    # The VM goes away: Nova deletes its tap. The endpoint is unwired, never released.
    ip("-n", two.host.ns, "link", "del", two.tap)
    assert _until(lambda: two.key not in tap_keys(agents, two.host)), agents.log_tails()
    assert two.address not in ip("-n", two.host.ns, "route", "show", "proto", "82")
    assert agents.api.get_allocation(two.key)["addresses"] == [two.address]
    assert not agents.lab.ping(one.workload, two.address, deadline=1)
