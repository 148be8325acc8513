"""OpenStack end to end: a real neutron-server with romana's drivers, real agents, real packets.

Two hosts (``compute-1``, ``compute-2``) run ``romana-agent``; romanad and neutron-server
run in the lab's control namespace, where the agents reach romanad (neutron-server is
configured as docs/openstack.md says, its drivers signed in as an ``openstack`` user).
Projects ``red`` and ``blue`` have two networks each (``red-a``, ``red-b``, ``blue-a``,
``blue-b``), each network an IPv4 and an IPv6 subnet. Nova's part is played here: it creates
each port bound to a host (``binding:host_id``), plugs the VM, a namespace behind a tap named
as Nova names it (``tests/support/vms.py``), and moves it in cold and live migrations;
inside, busybox ``udhcpc`` and ISC ``dhclient -6`` (after the agent's router advertisement)
ask for the addresses as a guest would. Runs once per firewall backend.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openstack import rig
from romana.client import reach as client_reach
from romana.core.policy import reach
from romana.integrations.openstack import mapping
from romana.lab import Cluster, Host, Workload, cluster, topologies
from romana.lab.neutron_server import RomanaSection
from support import env, vms
from support.wait import eventually

pytestmark = pytest.mark.root

HOSTS = [("compute-1", "rack=1"), ("compute-2", "rack=1")]
TOPOLOGY = topologies.dual_stack(racks=("1",))
RED, BLUE = "e2e0red0" + "0" * 24, "e2e0blue" + "0" * 24
"""Project ids (Keystone's are 32 hex-like characters)."""
WITHIN = 1.0
"""Seconds from a Neutron API answer to the dataplane enforcing it (issue: within 1 s)."""


@dataclasses.dataclass
class Vm:
    name: str
    port: dict[str, Any]
    host: Host
    ns: Workload

    @property
    def tap(self) -> str:
        return vms.tap_name(self.port["id"])

    @property
    def ipv4(self) -> str:
        return next(f["ip_address"] for f in self.port["fixed_ips"] if ":" not in f["ip_address"])

    @property
    def ipv6(self) -> str:
        return next(f["ip_address"] for f in self.port["fixed_ips"] if ":" in f["ip_address"])


@dataclasses.dataclass
class World:
    made: Cluster
    neutron: rig.Rig
    workdir: Path
    networks: dict[str, dict[str, Any]]
    vms: dict[str, Vm] = dataclasses.field(default_factory=dict)
    dhclients: dict[str, subprocess.Popen[str]] = dataclasses.field(default_factory=dict)

    def host(self, name: str) -> Host:
        return self.made.host(name)

    def boot(self, name: str, network: str, host: str) -> Vm:
        """Nova's boot: a port bound to ``host``, the VM plugged into its tap, DHCP inside."""
        net = self.networks[network]
        port = self.neutron.nova.create_port(
            network_id=net["id"],
            project_id=net["project_id"],
            binding_host_id=host,
            device_owner="compute:nova",
        )
        vm = Vm(
            name, dict(port), self.host(host), self.made.lab.add_workload(self.host(host), name)
        )
        self.vms[name] = vm
        vms.plug(vm.host, vm.tap, vm.ns, accept_ra=True)
        return vm

    def configure(self, vm: Vm) -> None:
        """Once its host's agent wired it, the VM asks for its addresses as a guest does:
        DHCPv4, then DHCPv6 after the router advertisement; each must be the port's."""
        self.wait_wired(vm)
        lease = vms.dhcp4(vm.ns, self.workdir, logs=self.made.log_tails)
        assert lease[:2] == [vm.ipv4, "255.0.0.0"], lease
        self.stop_dhcp6(vm)
        advertised = eventually(lambda: _ra_default(vm), within=15.0)
        assert advertised, f"{vm.name}: no router advertisement\n{self.made.log_tails()}"
        binding, self.dhclients[vm.name] = vms.dhcp6(
            vm.ns, self.workdir, within=15.0, logs=self.made.log_tails
        )
        assert binding == [vm.ipv6, "128"], binding

    def stop_dhcp6(self, vm: Vm) -> None:
        client = self.dhclients.pop(vm.name, None)
        if client is not None:
            client.kill()
            client.wait(timeout=10)

    def move(self, vm: Vm, host: str) -> None:
        """Nova's part of a move once the VM stopped on its host: its tap goes there and
        the same VM is plugged into a tap on ``host``."""
        self.stop_dhcp6(vm)
        vms.unplug(vm.host, vm.tap)
        vm.host = self.host(host)
        vms.plug(vm.host, vm.tap, vm.ns, accept_ra=True)

    def wait_wired(self, vm: Vm) -> None:
        """Until the agent of the VM's host routes its address to its tap."""
        wired = eventually(lambda: vm.ipv4 in vms.routes_via(vm.host, vm.tap))
        assert wired, f"{vm.name}: not wired on {vm.host.name}\n{self.made.log_tails()}"


def _ra_default(vm: Vm) -> bool:
    """Whether the VM took its default route from the host's router advertisement (its
    link-local address, which DHCPv6 needs, is then usable too)."""
    default = vms.ip("-n", vm.ns.ns, "-6", "route", "show", "default")
    return default.startswith("default via fe80:")


def _network(neutron: rig.Rig, color: str, name: str) -> dict[str, Any]:
    project = {"red": RED, "blue": BLUE}[color]
    sdk = neutron.project(project)
    network = dict(sdk.create_network(name=name))
    for cidr in ("10.0.0.0/8", "fd00:10::/56"):
        sdk.create_subnet(network_id=network["id"], ip_version=6 if ":" in cidr else 4, cidr=cidr)
    return network


@pytest.fixture(scope="module", params=["nftables", "iptables"])
def world(
    request: pytest.FixtureRequest,
    openstack_python: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    env.need_agent_lab("busybox", "dhclient")
    firewall = str(request.param)
    work = tmp_path_factory.mktemp(f"os-e2e-{firewall}")
    with cluster(work, firewall, HOSTS, topology=TOPOLOGY) as made:
        try:
            password = secrets.token_urlsafe(18)
            made.api.create_user("neutron", password, "openstack")
            password_file = work / "romana.password"
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
            section = RomanaSection(made.url, "neutron", password_file)
            config = rig.romana_config(section, extra=rig.binding_policy(work))
            with rig.running(openstack_python, work / "neutron", config, made.ctl.ns) as neutron:
                networks = {
                    name: _network(neutron, name.partition("-")[0], name)
                    for name in ("red-a", "red-b", "blue-a", "blue-b")
                }
                world = World(made, neutron, work, networks)
                try:
                    world.boot("vm1", "red-a", "compute-1")
                    world.boot("vm2", "red-a", "compute-2")
                    world.boot("vm3", "red-b", "compute-2")
                    world.boot("vm4", "blue-a", "compute-1")
                    world.boot("vm5", "blue-b", "compute-2")
                    # Booted together, the VMs ask for their addresses at the same time.
                    with concurrent.futures.ThreadPoolExecutor(len(world.vms)) as pool:
                        for asked in [pool.submit(world.configure, v) for v in world.vms.values()]:
                            asked.result()
                    yield world
                finally:
                    for vm in world.vms.values():
                        world.stop_dhcp6(vm)
        except BaseException:
            print(made.log_tails())
            raise


def _why(world: World, source: Vm, target: Vm, probe: str = "icmp") -> str:
    """romanad's explanation of ``source`` → ``target``, for a failure message."""
    model = world.made.call(client_reach.model)
    return str(reach.explain(model, source.ipv4, target.ipv4, probe))


def _listening(world: World, vm: Vm, port: int) -> None:
    world.made.lab.listen(vm.ns, "tcp", port)


def _admit_tcp(
    sdk: rig.Sdk, group: str, port: int, last: int | None = None, **remote: str
) -> dict[str, Any]:
    """An IPv4 ingress rule of the security group ``group`` for TCP ``port`` (to ``last``)
    from ``remote`` (``remote_ip_prefix`` or ``remote_group_id``)."""
    return dict(
        sdk.create_security_group_rule(
            security_group_id=group,
            direction="ingress",
            ethertype="IPv4",
            protocol="tcp",
            port_range_min=port,
            port_range_max=port if last is None else last,
            **remote,
        )
    )


def test_every_vm_holds_its_port_address_which_encodes_host_project_and_network(
    world: World,
) -> None:
    api = world.made.api
    for vm in world.vms.values():
        inside = vms.ip("-n", vm.ns.ns, "-4", "-o", "addr", "show", "dev", "eth0")
        assert inside.count(" inet ") == 1 and f"inet {vm.ipv4}/8" in inside
        inside6 = vms.ip(
            "-n", vm.ns.ns, "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global"
        )
        assert inside6.count(" inet6 ") == 1 and f"inet6 {vm.ipv6}/128" in inside6
        default6 = vms.ip("-n", vm.ns.ns, "-6", "route", "show", "default")
        assert default6.startswith("default via fe80:") and "dev eth0" in default6, default6
        network = next(n for n in world.networks.values() if n["id"] == vm.port["network_id"])
        for address in (vm.ipv4, vm.ipv6):
            decoded = api.decode(address)
            assert decoded["host"] == vm.host.name, decoded
            assert decoded["tenant"] == mapping.tenant_name(network["project_id"]), decoded
            assert decoded["segment"] == mapping.segment_name(network["id"]), decoded


def test_a_port_created_before_its_host_is_addressed_for_the_host_it_is_bound_to(
    world: World,
) -> None:
    nova = world.neutron.nova
    net = world.networks["red-a"]
    port = dict(nova.create_port(network_id=net["id"], project_id=RED))
    try:
        assert port["fixed_ips"] == []  # deferred: Nova has not picked a host yet
        bound = dict(nova.update_port(port["id"], binding_host_id="compute-2"))
        assert len(bound["fixed_ips"]) == 2
        for fixed in bound["fixed_ips"]:
            assert world.made.api.decode(fixed["ip_address"])["host"] == "compute-2"
    finally:
        nova.delete_port(port["id"])


def test_vms_of_one_network_reach_each_other_across_hosts(world: World) -> None:
    lab, one, two = world.made.lab, world.vms["vm1"], world.vms["vm2"]
    assert lab.ping(one.ns, two.ipv4), world.made.log_tails()
    assert lab.ping(two.ns, one.ipv4), world.made.log_tails()


def test_vms_of_one_network_reach_each_other_over_ipv6(world: World) -> None:
    lab, one, two = world.made.lab, world.vms["vm1"], world.vms["vm2"]
    assert lab.ping(one.ns, two.ipv6), world.made.log_tails()
    assert lab.ping(two.ns, one.ipv6), world.made.log_tails()


def test_other_projects_and_other_networks_of_the_project_are_denied(world: World) -> None:
    lab, vm1, vm4, vm5 = world.made.lab, world.vms["vm1"], world.vms["vm4"], world.vms["vm5"]
    assert lab.silent(vm4.ns, vm5.ipv4) and lab.silent(vm5.ns, vm4.ipv4)  # blue's two networks
    for other in (world.vms["vm3"], vm4, vm5):  # red-b; project blue
        assert lab.silent(other.ns, vm1.ipv4), f"{other.name} reaches vm1"
        assert lab.silent(vm1.ns, other.ipv4), f"vm1 reaches {other.name}"


def test_a_security_group_rule_opens_exactly_its_port_range_within_a_second(
    world: World,
) -> None:
    lab, vm1, vm4 = world.made.lab, world.vms["vm1"], world.vms["vm4"]
    red = world.neutron.project(RED)
    default = next(g for g in red.security_groups(project_id=RED) if g["name"] == "default")
    port = 7101
    for listening in (port, port + 1, port + 2):
        _listening(world, vm1, listening)
    assert not lab.tcp_probe(vm4.ns, vm1.ipv4, port, timeout=0.5)
    rule = _admit_tcp(red, default["id"], port, port + 1, remote_ip_prefix=f"{vm4.ipv4}/32")
    asked = time.monotonic()
    opened = eventually(lambda: lab.tcp_probe(vm4.ns, vm1.ipv4, port, timeout=0.2), within=3.0)
    took = time.monotonic() - asked
    try:
        assert opened, world.made.log_tails()
        assert took <= WITHIN, f"enforced after {took:.2f} s"
        assert lab.tcp_probe(vm4.ns, vm1.ipv4, port + 1)  # the range's last port
        assert not lab.tcp_probe(vm4.ns, vm1.ipv4, port + 2, timeout=0.5)
        assert not lab.tcp_probe(vm4.ns, vm1.ipv6, port, timeout=0.5)  # an IPv4 rule
    finally:
        red.delete_security_group_rule(rule["id"])
    asked = time.monotonic()
    closed = eventually(lambda: not lab.tcp_probe(vm4.ns, vm1.ipv4, port, timeout=0.2), within=3.0)
    assert closed and time.monotonic() - asked <= WITHIN + 0.2


def _default_group(world: World, project: str) -> dict[str, Any]:
    sdk = world.neutron.project(project)
    return dict(next(iter(sdk.security_groups(name="default", project_id=project))))


def test_a_second_group_with_a_remote_group_rule_admits_that_groups_ports(world: World) -> None:
    lab, vm1, vm2, vm4 = world.made.lab, world.vms["vm1"], world.vms["vm2"], world.vms["vm4"]
    blue = world.neutron.project(BLUE)
    port = 7201
    _listening(world, vm4, port)
    db = dict(blue.create_security_group(name="db", project_id=BLUE))
    _admit_tcp(blue, db["id"], port, remote_group_id=_default_group(world, RED)["id"])
    groups = [_default_group(world, BLUE)["id"]]
    assert not lab.tcp_probe(vm1.ns, vm4.ipv4, port, timeout=0.5)
    world.neutron.nova.update_port(vm4.port["id"], security_group_ids=[*groups, db["id"]])
    asked = time.monotonic()
    try:
        opened = eventually(lambda: lab.tcp_probe(vm1.ns, vm4.ipv4, port, timeout=0.2), 3.0)
        took = time.monotonic() - asked
        assert opened and took <= WITHIN, f"opened: {opened} after {took:.2f} s"
        assert lab.tcp_probe(vm2.ns, vm4.ipv4, port)  # every port of red's default group
        assert lab.silent(vm1.ns, vm4.ipv4)  # only that TCP port: no ping
    finally:
        world.neutron.nova.update_port(vm4.port["id"], security_group_ids=groups)
        blue.delete_security_group(db["id"])
    assert eventually(lambda: not lab.tcp_probe(vm1.ns, vm4.ipv4, port, timeout=0.2), 3.0)


def test_a_port_without_port_security_accepts_its_network_and_nothing_else(
    world: World,
) -> None:
    lab, vm1, vm2, vm4 = world.made.lab, world.vms["vm1"], world.vms["vm2"], world.vms["vm4"]
    nova, port = world.neutron.nova, 7301
    _listening(world, vm2, port)
    assert lab.tcp_probe(vm1.ns, vm2.ipv4, port)  # red's default group admits its members
    groups = [g for g in vm2.port["security_group_ids"]]
    nova.update_port(vm2.port["id"], security_group_ids=[])
    try:
        # Port security on and no group: nothing in, nothing out.
        assert eventually(lambda: not lab.tcp_probe(vm1.ns, vm2.ipv4, port, timeout=0.2), 3.0)
        nova.update_port(vm2.port["id"], is_port_security_enabled=False)
        assert eventually(lambda: lab.tcp_probe(vm1.ns, vm2.ipv4, port, timeout=0.2), 3.0)
        # another project still does not reach it
        assert lab.silent(vm4.ns, vm2.ipv4), _why(world, vm4, vm2)
    finally:
        nova.update_port(vm2.port["id"], is_port_security_enabled=True, security_group_ids=groups)
    assert eventually(lambda: lab.tcp_probe(vm1.ns, vm2.ipv4, port, timeout=0.2), 3.0)


def _dataplane(world: World) -> list[str]:
    """What the agents hold in the kernel: their rules and their routes, per host (without
    counters and iptables-save's dated comments)."""
    rules = (
        ["nft", "list", "table", "inet", "romana"]
        if world.made.firewall == "nftables"
        else ["iptables-save"]
    )
    seen = []
    for host in world.made.hosts:
        for argv in (rules, ["ip", "route", "show", "proto", "82"]):
            text = world.made.lab.run(host, argv).stdout
            text = re.sub(r"counter packets \d+ bytes \d+|\[\d+:\d+\]|^#.*$", "", text, flags=re.M)
            seen.append(text)
    return seen


def _settled(world: World) -> list[str]:
    """The dataplane once two readings a second apart agree (the writes of earlier tests have
    reached every agent)."""
    seen = _dataplane(world)
    for _ in range(10):
        time.sleep(1.0)
        now, seen = seen, _dataplane(world)
        if now == seen:
            return seen
    raise AssertionError("the dataplane did not settle in 10 s")


def test_a_neutron_server_restart_changes_nothing_in_the_dataplane(world: World) -> None:
    before = _settled(world)
    world.neutron.server.stop()
    world.neutron.server.start()
    time.sleep(2.0)
    assert _dataplane(world) == before
    lab, vm1, vm2 = world.made.lab, world.vms["vm1"], world.vms["vm2"]
    assert lab.ping(vm1.ns, vm2.ipv4)


def test_an_agent_restart_loses_no_packet_of_a_running_vm(world: World) -> None:
    made, one, two = world.made, world.vms["vm1"], world.vms["vm2"]
    pinger = subprocess.Popen(
        ["ip", "netns", "exec", one.ns.ns, "ping", "-n", "-q", "-i", "0.05", "-w", "4",
         two.ipv4],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        agent = made.agent(two.host)
        agent.stop()
        agent.start()
        out, _ = pinger.communicate(timeout=15)
    finally:
        if pinger.poll() is None:
            pinger.kill()
            pinger.wait()
    assert " 0% packet loss" in out, out


def test_cold_migration_keeps_the_address_and_traffic_follows_the_vm(world: World) -> None:
    made, nova, vm2, vm4 = world.made, world.neutron.nova, world.vms["vm2"], world.vms["vm4"]
    vm1 = world.vms["vm1"]
    # Nova moves vm1 from compute-1 to compute-2: it stops it (the tap goes), updates the
    # binding, and plugs the same VM into a tap on the new host.
    origin = vm1.host
    world.move(vm1, "compute-2")
    moved = dict(nova.update_port(vm1.port["id"], binding_host_id="compute-2"))
    assert moved["fixed_ips"] == vm1.port["fixed_ips"]
    world.configure(vm1)
    for address in (vm1.ipv4, vm1.ipv6):
        decoded = made.api.decode(address)
        assert (decoded["host"], decoded["lives_on"]) == (origin.name, "compute-2"), decoded
    assert made.lab.ping(vm2.ns, vm1.ipv4), made.log_tails()
    assert made.lab.ping(vm2.ns, vm1.ipv6), made.log_tails()
    assert made.lab.silent(vm4.ns, vm1.ipv4)
    # ...and back home.
    world.move(vm1, origin.name)
    nova.update_port(vm1.port["id"], binding_host_id=origin.name)
    world.configure(vm1)
    assert made.api.decode(vm1.ipv4).get("lives_on") in (None, origin.name)
    assert made.lab.ping(vm2.ns, vm1.ipv4), made.log_tails()


def test_live_migration_keeps_the_address_and_traffic_follows_the_vm(world: World) -> None:
    made, nova, vm1, vm2, vm4 = (
        world.made, world.neutron.nova, world.vms["vm1"], world.vms["vm2"], world.vms["vm4"]
    )  # fmt: skip
    assert made.lab.ping(vm1.ns, vm2.ipv4)
    origin = vm2.host
    # Nova's multiple port bindings: an inactive binding on the destination first, where
    # the tap is plugged; the agent there does not wire it while the port lives on origin.
    inactive = rig.create_inactive_binding(nova, vm2.port["id"], "compute-1", RED)
    assert inactive["status"] == "INACTIVE"
    world.move(vm2, "compute-1")
    assert made.api.decode(vm2.ipv4).get("lives_on") is None
    time.sleep(1.0)
    assert vm2.ipv4 not in vms.routes_via(vm2.host, vm2.tap)
    nova.activate_port_binding(vm2.port["id"], "compute-1")
    nova.delete_port_binding(vm2.port["id"], origin.name)
    world.configure(vm2)
    decoded = made.api.decode(vm2.ipv4)
    assert (decoded["host"], decoded["lives_on"]) == (origin.name, "compute-1"), decoded
    assert made.lab.ping(vm1.ns, vm2.ipv4), made.log_tails()
    assert made.lab.ping(vm1.ns, vm2.ipv6), made.log_tails()
    assert made.lab.silent(vm4.ns, vm2.ipv4)


def test_deleting_a_port_unwires_its_tap_and_releases_its_addresses(world: World) -> None:
    made, vm3 = world.made, world.vms["vm3"]
    key = f"{vm3.port['id']}:{vm3.tap}"
    world.stop_dhcp6(vm3)
    world.neutron.nova.delete_port(vm3.port["id"])
    vms.unplug(vm3.host, vm3.tap)
    assert eventually(lambda: vms.routes_via(vm3.host, vm3.tap) == ""), made.log_tails()
    for address in (vm3.ipv4, vm3.ipv6):
        assert made.api.decode(address).get("allocation") is None
    agent = made.agent(vm3.host)
    assert eventually(lambda: key not in agent.state()["endpoints"]), made.log_tails()
    assert eventually(lambda: not any(vm3.tap in text for text in _dataplane(world)))
    del world.vms["vm3"]
