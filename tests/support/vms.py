"""VMs as Nova plugs them, for the tests: a namespace behind a tap-named veth on its host.

Nova creates a VM's tap in the host namespace, named ``tap`` + the first 11 characters of the
Neutron port id; here the tap is the host end of a veth whose other end is the VM's ``eth0``.
Inside, busybox ``udhcpc`` configures what the agent's DHCP server offers, and ISC
``dhclient -6`` asks for its IPv6 address by stateful DHCPv6, as a guest's DHCP clients
would. Moving a VM (a migration) is plugging the same namespace into a tap on another host
after its old tap went.

:func:`allocate_and_plug` boots a VM without Neutron: it allocates the port's addresses under
the key the IPAM driver uses (``mapping.allocation_key``) with the admin client, then plugs
the VM. Whatever it made is taken away again if a later step fails; after it returned, the
caller takes the VM away (:func:`take_away`: unplug, wait until the agent unwired the tap,
remove the namespace, release the allocation).
"""

from __future__ import annotations

import functools
import os
import subprocess
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from romana.integrations.openstack import mapping
from romana.lab import Cluster, Host, Workload
from support.wait import eventually

UDHCPC_SCRIPT = """#!/bin/sh
# busybox udhcpc calls this with the lease in its environment.
case "$1" in
  bound|renew)
    ip -4 addr flush dev "$interface"
    ip addr add "$ip/$subnet" dev "$interface"
    ip route replace default via "$router" dev "$interface"
    echo "$ip $subnet $router $lease" > "$LEASE_FILE"
    ;;
esac
exit 0
"""

DHCLIENT_SCRIPT = """#!/bin/sh
# dhclient -6 calls this with the binding in its environment.
case "$reason" in
  BOUND6|RENEW6|REBIND6|REBOOT6)
    ip -6 addr replace "$new_ip6_address/$new_ip6_prefixlen" dev "$interface"
    echo "$new_ip6_address $new_ip6_prefixlen" > "$LEASE_FILE"
    ;;
esac
exit 0
"""


def _no_logs() -> str:
    return ""


@dataclass(frozen=True)
class Vm:
    """A VM booted by :func:`allocate_and_plug`: its port, allocation and tap on its host."""

    port: str
    key: str
    """The allocation key, ``<port>:<tap>``."""
    tap: str
    addresses: tuple[str, ...]
    workload: Workload

    @property
    def host(self) -> Host:
        return self.workload.host

    @property
    def address(self) -> str:
        """The port's IPv4 address."""
        return next(a for a in self.addresses if ":" not in a)

    @property
    def address6(self) -> str:
        """The port's IPv6 address (a tenant pinned to an IPv6 network as well)."""
        return next(a for a in self.addresses if ":" in a)


def ip(*argv: str) -> str:
    done = subprocess.run(["ip", *argv], capture_output=True, text=True, check=True, timeout=10)
    return done.stdout


def tap_name(port_id: str) -> str:
    """The tap Nova makes for a port (``tap`` + 11 characters of its id)."""
    return f"tap{port_id[:11]}"


def prepare_for_ra(vm: Workload) -> None:
    """The VM is a host, not a router: its ``eth0`` takes router advertisements.

    Set before the link comes up, so that the kernel solicits a router as the link goes up.
    """
    for setting in ("forwarding=0", "accept_ra=1"):
        ip("netns", "exec", vm.ns, "sysctl", "-qw", f"net.ipv6.conf.eth0.{setting}")


def plug(host: Host, tap: str, vm: Workload, *, accept_ra: bool = False) -> None:
    """Nova's plug: the tap on ``host``, its other end the VM's ``eth0``, up.

    ``accept_ra``: the VM's kernel takes router advertisements (:func:`prepare_for_ra`).
    """
    ip("-n", host.ns, "link", "add", tap, "type", "veth", "peer", "eth0", "netns", vm.ns)
    if accept_ra:
        prepare_for_ra(vm)
    ip("-n", vm.ns, "link", "set", "eth0", "up")


def unplug(host: Host, tap: str) -> None:
    """Nova's unplug (the VM stopped or left the host): the tap goes; gone already is fine."""
    subprocess.run(["ip", "-n", host.ns, "link", "del", tap], capture_output=True, check=False)


def allocate_and_plug(
    cluster: Cluster, host: Host, tenant: str, name: str, *, accept_ra: bool = False
) -> Vm:
    """A new port's addresses allocated for ``host`` in ``tenant``, its VM plugged there.

    The VM's namespace is named ``<name>-`` + the first four characters of the port id.
    """
    port = str(uuid.uuid4())
    key = mapping.allocation_key(port)
    addresses = tuple(cluster.api.allocate(key, host.name, tenant)["addresses"])
    try:
        workload = cluster.lab.add_workload(host, f"{name}-{port[:4]}")
    except BaseException:
        cluster.api.release(key)
        raise
    vm = Vm(port, key, key.rpartition(":")[2], addresses, workload)
    try:
        plug(host, vm.tap, workload, accept_ra=accept_ra)
    except BaseException:
        unplug(host, vm.tap)
        discard(cluster, vm)
        raise
    return vm


def discard(cluster: Cluster, vm: Vm) -> None:
    """The rest of a VM after its tap went: its namespace, and its allocation (as Neutron
    releases it with the port)."""
    cluster.lab.remove_namespace(vm.workload)
    cluster.api.release(vm.key)


def take_away(cluster: Cluster, made: Sequence[Vm], *, within: float) -> None:
    """Nova's unplug of every VM in ``made``, then each VM's rest (:func:`discard`) once the
    agent unwired its tap, or after ``within`` seconds."""
    for vm in made:
        unplug(vm.host, vm.tap)
    for vm in made:
        eventually(functools.partial(unwired, cluster, vm.host, vm.tap), within)
        discard(cluster, vm)


def tap_keys(cluster: Cluster, host: Host) -> list[str]:
    """The endpoints the agent of ``host`` wired for taps."""
    return [k for k in cluster.agent(host).state()["endpoints"] if ":tap" in k]


def unwired(cluster: Cluster, host: Host, tap: str) -> bool:
    """Whether the agent of ``host`` holds no endpoint for ``tap``."""
    return not any(k.endswith(f":{tap}") for k in cluster.agent(host).state()["endpoints"])


def routes_via(host: Host, tap: str, *, ipv6: bool = False) -> str:
    """Our routes (protocol 82) through the tap; empty when it is gone."""
    done = subprocess.run(
        ["ip", "-n", host.ns, "-6" if ipv6 else "-4", "route", "show", "proto", "82", "dev", tap],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    )
    return done.stdout if done.returncode == 0 else ""


def routed(vm: Vm, *, ipv6: bool = False) -> bool:
    """Whether the host routes the VM's address (IPv4, or IPv6) through its tap."""
    address = vm.address6 if ipv6 else vm.address
    return f"{address} " in routes_via(vm.host, vm.tap, ipv6=ipv6)


def _script(workdir: Path, name: str, text: str) -> Path:
    """``text`` as the executable ``workdir/name``; written whole before it appears there,
    so clients of VMs configured at once never run a partly written script."""
    script = workdir / name
    if not script.exists():
        partial = workdir / f".{name}.{uuid.uuid4().hex}"
        partial.write_text(text)
        partial.chmod(0o755)
        os.replace(partial, script)
    return script


def dhcp4(vm: Workload, workdir: Path, *, logs: Callable[[], str] = _no_logs) -> list[str]:
    """Run busybox ``udhcpc`` in the VM once; the lease's address, netmask, router, seconds.

    ``logs``: what a failure shows besides udhcpc's output (the agents' log tails).
    """
    script = _script(workdir, "udhcpc.sh", UDHCPC_SCRIPT)
    lease = workdir / f"{vm.ns}.lease"
    done = subprocess.run(
        ["ip", "netns", "exec", vm.ns, "env", f"LEASE_FILE={lease}", "busybox",
         "udhcpc", "-f", "-q", "-n", "-t", "8", "-T", "1", "-i", "eth0", "-s", str(script)],
        capture_output=True,
        text=True,
        timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, f"udhcpc in {vm.ns}: {done.stdout}{done.stderr}\n{logs()}"
    return lease.read_text().split()


def dhcp6(
    vm: Workload, workdir: Path, *, within: float, logs: Callable[[], str] = _no_logs
) -> tuple[list[str], subprocess.Popen[str]]:
    """Start ISC ``dhclient -6`` in the VM; its binding (address, prefix length) and itself.

    The client keeps running after it bound, as a guest's does: the caller stops it (kill,
    then wait) before unplugging the VM. Without a binding within ``within`` seconds the test
    fails with what dhclient said, and the client is stopped here.
    """
    script = _script(workdir, "dhclient6.sh", DHCLIENT_SCRIPT)
    lease = workdir / f"{vm.ns}.lease6"
    argv = ["ip", "netns", "exec", vm.ns, "dhclient", "-6", "-d", "-1", "-v", "-sf",
            str(script), "-e", f"LEASE_FILE={lease}", "-lf", str(workdir / f"{vm.ns}.db"),
            "-pf", str(workdir / f"{vm.ns}.pid"), "eth0"]  # fmt: skip
    client = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        bound = eventually(lambda: lease.exists() and bool(lease.read_text().strip()), within)
    except BaseException:
        client.kill()
        client.wait(timeout=10)
        raise
    if not bound:
        client.kill()
        said, _ = client.communicate(timeout=10)
        pytest.fail(f"no DHCPv6 binding in {vm.ns}; dhclient said:\n{said}\n{logs()}")
    return lease.read_text().split(), client
