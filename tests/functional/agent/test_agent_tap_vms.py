"""VMs on taps: the agent wires each tap Nova would make and serves its VM DHCPv4.

The Neutron IPAM driver allocates a port's addresses for its bound host under the key
``<port id>:tap<11 characters>`` (``mapping.allocation_key``); here the admin client does the
same. A "VM" is a network namespace joined to its host by a veth whose host end is named as
Nova names a tap; busybox ``udhcpc`` inside configures what the agent's DHCP server offers.
Real agents and romanad (the shared cluster of this directory, both firewall backends),
real packets. Deleting a tap unwires it (its routes go) and leaves the allocation, which
Neutron releases with the port.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from romana.integrations.openstack import mapping
from romana.lab import Cluster, Host, Workload
from support.wait import eventually

pytestmark = pytest.mark.root

SETTLE = 5.0

UDHCPC_SCRIPT = """#!/bin/sh
# busybox udhcpc calls this with the lease in its environment.
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$subnet" dev "$interface"
    ip route replace default via "$router" dev "$interface"
    echo "$ip $subnet $router $lease" > "$LEASE_FILE"
    ;;
esac
exit 0
"""


@dataclass
class Vm:
    port: str
    host: Host
    workload: Workload
    tap: str
    address: str


def _until(check: Callable[[], bool]) -> bool:
    return eventually(check, within=SETTLE)


def _ip(*argv: str) -> str:
    done = subprocess.run(["ip", *argv], capture_output=True, text=True, check=True, timeout=10)
    return done.stdout


def _routes_via(host: Host, tap: str) -> str:
    done = subprocess.run(
        ["ip", "-n", host.ns, "route", "show", "proto", "82", "dev", tap],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    return done.stdout if done.returncode == 0 else ""


def _tap_keys(agents: Cluster, host: Host) -> list[str]:
    return [k for k in agents.agent(host).state()["endpoints"] if ":tap" in k]


def _no_tap_keys(agents: Cluster, host: Host) -> bool:
    return not _tap_keys(agents, host)


def _routed(vm: Vm) -> bool:
    return f"{vm.address} " in _routes_via(vm.host, vm.tap)


@pytest.fixture
def vms(agents: Cluster, tmp_path: Path) -> Iterator[list[Vm]]:
    if shutil.which("busybox") is None:
        pytest.skip("busybox is not installed")
    h1, h2 = agents.hosts[0], agents.hosts[1]
    made: list[Vm] = []
    try:
        for host in (h1, h2):
            port = str(uuid.uuid4())
            key = mapping.allocation_key(port)
            address = agents.api.allocate(key, host.name, "t1")["addresses"][0]
            workload = agents.lab.add_workload(host, f"vm-{port[:4]}")
            tap = key.rpartition(":")[2]
            vm = Vm(port, host, workload, tap, address)
            made.append(vm)
            _ip(
                "-n",
                host.ns,
                "link",
                "add",
                tap,
                "type",
                "veth",
                "peer",
                "eth0",
                "netns",
                workload.ns,
            )
            _ip("-n", workload.ns, "link", "set", "eth0", "up")
        yield made
    finally:
        for vm in made:
            subprocess.run(["ip", "-n", vm.host.ns, "link", "del", vm.tap], capture_output=True)
        for vm in made:
            _until(functools.partial(_no_tap_keys, agents, vm.host))
            agents.lab.remove_namespace(vm.workload)
            agents.api.release(mapping.allocation_key(vm.port))


def _dhcp(agents: Cluster, vm: Vm, tmp_path: Path) -> str:
    script = tmp_path / "udhcpc.sh"
    script.write_text(UDHCPC_SCRIPT)
    script.chmod(0o755)
    lease = tmp_path / f"{vm.tap}.lease"
    done = subprocess.run(
        ["ip", "netns", "exec", vm.workload.ns, "env", f"LEASE_FILE={lease}", "busybox",
         "udhcpc", "-f", "-q", "-n", "-t", "8", "-T", "1", "-i", "eth0", "-s", str(script)],
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, f"{done.stdout}{done.stderr}\n{agents.log_tails()}"
    return lease.read_text()


def test_a_vm_on_a_tap_gets_its_address_by_dhcp_and_reaches_another_host(
    agents: Cluster, vms: list[Vm], tmp_path: Path
) -> None:
    one, two = vms
    for vm in vms:
        assert _until(functools.partial(_routed, vm)), (
            f"{vm.host.name}: no route to {vm.address} via {vm.tap}\n{agents.log_tails()}"
        )
        got = _dhcp(agents, vm, tmp_path).split()
        gateway = agents.api.decode(vm.address)
        assert got[0] == vm.address, gateway
        assert got[1] == "255.0.0.0"  # the romana network's prefix (10.0.0.0/8)
        addresses = _ip("-n", vm.workload.ns, "-4", "-o", "addr", "show", "dev", "eth0")
        assert addresses.count(" inet ") == 1 and f"inet {vm.address}/8" in addresses
    assert agents.lab.ping(one.workload, two.address, deadline=3), agents.log_tails()
    assert agents.lab.ping(two.workload, one.address, deadline=3), agents.log_tails()
    key = f"{two.port}:{two.tap}"
    assert key in _tap_keys(agents, two.host)

    # The VM goes away: Nova deletes its tap. The endpoint is unwired, never released.
    _ip("-n", two.host.ns, "link", "del", two.tap)
    assert _until(lambda: key not in _tap_keys(agents, two.host)), agents.log_tails()
    assert two.address not in _ip("-n", two.host.ns, "route", "show", "proto", "82")
    assert agents.api.get_allocation(key)["addresses"] == [two.address]
    assert not agents.lab.ping(one.workload, two.address, deadline=1)
