"""The firewall at a VM's tap: tenants isolated and policies enforced as at a veth.

A "VM" is a network namespace behind a veth whose host end is named as Nova names a tap; its
port's addresses are allocated as Neutron's IPAM driver does (key ``<port id>:<tap>``), the
agent's tap watcher wires it, and busybox ``udhcpc`` inside takes the address the agent's
DHCP server offers (through the firewall: DHCP from a wired tap reaches the host); all as
``tests/support/vms.py`` does them. Real agents and romanad (the shared cluster of this
directory, both firewall backends), real TCP.

The ruleset names exactly the taps the agent wired: each by its name in the set
``romana-devices`` (nftables) or in rules of its own (iptables); a tap of something else on
the same host is named by no rule.
"""

from __future__ import annotations

import concurrent.futures
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from probes import pick

from romana.core.errors import Conflict
from romana.lab import Cluster, Endpoint, Host, Workload
from support import env
from support.vms import Vm as Plugged
from support.vms import allocate_and_plug, dhcp4, discard, ip, unplug
from support.wait import eventually

pytestmark = pytest.mark.root

SETTLE = 5.0
PROBE = 2.0
"""A first connection to a VM waits for the tap's proxy ARP answer, which Linux delays by up
to ``proxy_delay`` (0.8 s by default): probes give it more than that, in parallel."""
KUBE_TENANT = "tapkube"


@dataclass(frozen=True)
class Vm:
    """A VM of :meth:`Vms.boot`: plugged, addressed by DHCP, listening on TCP ``ports``."""

    plugged: Plugged
    ports: tuple[int, ...]

    @property
    def workload(self) -> Workload:
        return self.plugged.workload

    @property
    def address(self) -> str:
        return self.plugged.address


def _run(argv: list[str], check: bool = True) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=check, timeout=15)
    return done.stdout


def ruleset_text(agents: Cluster, host: Host) -> str:
    """Our rules in ``host`` as the kernel lists them, for the cluster's backend."""
    if agents.firewall == "iptables":
        return "".join(
            _run(["ip", "netns", "exec", host.ns, save], check=False)
            for save in ("iptables-save", "ip6tables-save")
        )
    return _run(["ip", "netns", "exec", host.ns, "nft", "list", "table", "inet", "romana"])


def names(agents: Cluster, host: Host, tap: str) -> bool:
    """Whether the ruleset of ``host`` names the device ``tap``, by its exact name."""
    text = ruleset_text(agents, host)
    if agents.firewall == "iptables":
        return f"-i {tap} " in text
    return f'"{tap}"' in text


@dataclass
class Vms:
    """VMs made by one test, taken away again (taps, namespaces, allocations) at its end."""

    agents: Cluster
    workdir: Path
    made: list[Plugged] = field(default_factory=list)

    def boot(self, host: Host, tenant: str, listen: int = 1) -> Vm:
        plugged = allocate_and_plug(self.agents, host, tenant, "fw")
        self.made.append(plugged)
        assert eventually(lambda: names(self.agents, host, plugged.tap), within=SETTLE), (
            f"{host.name}: {plugged.tap} is not in the firewall\n{self.agents.log_tails()}"
        )
        dhcp4(plugged.workload, self.workdir, logs=self.agents.log_tails)
        shown = ip("-n", plugged.workload.ns, "-4", "-o", "addr", "show", "dev", "eth0")
        assert f"inet {plugged.address}/" in shown, shown
        ports = [self.agents.lab.listen(plugged.workload, "tcp").port for _ in range(listen)]
        return Vm(plugged, tuple(ports))

    def remove(self, vm: Vm) -> None:
        """Nova deletes the tap; the agent unwires it and takes its name out of the rules."""
        self._take_away(vm.plugged)

    def _take_away(self, vm: Plugged) -> None:
        unplug(vm.host, vm.tap)
        gone = eventually(lambda: not names(self.agents, vm.host, vm.tap), within=SETTLE)
        discard(self.agents, vm)
        self.made.remove(vm)
        assert gone, f"{vm.tap} is still in the firewall of {vm.host.name}"

    def close(self) -> None:
        for vm in list(self.made):
            self._take_away(vm)


@pytest.fixture
def vms(agents: Cluster, tmp_path: Path) -> Iterator[Vms]:
    env.need_binary("busybox")
    made = Vms(agents, tmp_path)
    try:
        yield made
    finally:
        made.close()


def tcp(agents: Cluster, src: Workload, dst: str, port: int) -> bool:
    return agents.lab.tcp_probe(src, dst, port, timeout=PROBE)


def _port(dst: Vm | Endpoint) -> int:
    return dst.ports[0] if isinstance(dst, Vm) else dst.port


def test_vms_of_one_tenant_and_segment_reach_each_other_and_other_tenants_do_not(
    agents: Cluster, vms: Vms
) -> None:
    h1, h2 = agents.hosts[0], agents.hosts[1]
    a, b = vms.boot(h1, "t1"), vms.boot(h2, "t1")
    c = vms.boot(h1, "t2")  # beside a on the same host: tap to tap
    t1_pod, t2_pod = pick(agents, 1, "t1", "default"), pick(agents, 0, "t2", "default")
    cases = [
        ("a→b", a.workload, a.address, b, True),
        ("b→a", b.workload, b.address, a, True),
        ("a→c", a.workload, a.address, c, False),
        ("c→a", c.workload, c.address, a, False),
        ("c→b", c.workload, c.address, b, False),
        ("t1 pod→a", t1_pod.workload, t1_pod.address, a, True),
        ("t2 pod→a", t2_pod.workload, t2_pod.address, a, False),
        ("t2 pod→c", t2_pod.workload, t2_pod.address, c, True),
    ]
    # Leaving a tap too: from the VMs to the veth endpoints.
    cases += [
        ("a→t1 pod", a.workload, a.address, t1_pod, True),
        ("a→t2 pod", a.workload, a.address, t2_pod, False),
        ("c→t2 pod", c.workload, c.address, t2_pod, True),
    ]
    probes = [(src, dst.address, _port(dst)) for _, src, _, dst, _ in cases]
    with concurrent.futures.ThreadPoolExecutor(len(probes)) as pool:
        results = list(pool.map(lambda p: tcp(agents, *p), probes))
    got = {name: ok for (name, *_), ok in zip(cases, results, strict=True)}
    assert got == {name: ok for name, *_, ok in cases}, agents.log_tails()


@pytest.fixture
def kube_tenant(agents: Cluster) -> Iterator[str]:
    agents.api.create_tenant(KUBE_TENANT, isolation={"mode": "kubernetes"})
    policies: list[str] = []
    try:
        yield KUBE_TENANT
    finally:
        for stored in agents.api.list_policies():
            if KUBE_TENANT in str(stored.get("applied_to")):
                policies.append(str(stored["id"]))
        for pid in policies:
            agents.api.remove_policy(pid)
        # The tests' VMs are gone (their fixture is torn down first); releases may lag.
        deleted = eventually(lambda: _delete_tenant(agents, KUBE_TENANT), within=SETTLE)
        assert deleted, f"tenant {KUBE_TENANT} could not be deleted"


def _delete_tenant(agents: Cluster, name: str) -> bool:
    try:
        agents.api.delete_tenant(name)
    except Conflict:
        return False
    return True


def test_a_policy_on_a_kubernetes_tenant_admits_exactly_its_port_to_a_vm(
    agents: Cluster, kube_tenant: str, vms: Vms
) -> None:
    h1, h2 = agents.hosts[0], agents.hosts[1]
    vm = vms.boot(h1, kube_tenant, listen=2)
    admitted, refused = vm.ports
    clients = [vms.boot(h2, "t1").workload, pick(agents, 0, "t2", "default").workload]

    def reach() -> dict[tuple[str, int], bool]:
        probes = [(c, p) for c in clients for p in vm.ports]
        with concurrent.futures.ThreadPoolExecutor(len(probes)) as pool:
            got = pool.map(lambda cp: tcp(agents, cp[0], vm.address, cp[1]), probes)
            return {(c.ns, p): ok for (c, p), ok in zip(probes, got, strict=True)}

    # No policy selects the VM yet: in kubernetes mode it is open to everyone.
    assert all(reach().values()), agents.log_tails()
    rule = {"protocol": "tcp", "ports": [admitted]}
    agents.api.add_policies(
        {
            "name": "tap-web",
            "applied_to": [{"tenant": kube_tenant}],
            "ingress": [{"peers": [{"peer": "any"}], "rules": [rule]}],
        }
    )
    want = {(c.ns, p): p == admitted for c in clients for p in (admitted, refused)}
    assert eventually(lambda: reach() == want, within=SETTLE), (reach(), agents.log_tails())


def test_a_tap_the_agent_did_not_wire_is_named_by_no_rule(agents: Cluster, vms: Vms) -> None:
    h1 = agents.hosts[0]
    foreign = f"tap{uuid.uuid4().hex[:11]}"  # another SDN's VM: no allocation of ours
    peer = "x" + foreign[3:]
    _run(["ip", "-n", h1.ns, "link", "add", foreign, "type", "veth", "peer", "name", peer])
    try:
        # The watcher's scan that wired the VM's tap listed the foreign one too.
        vm = vms.boot(h1, "t1")
        text = ruleset_text(agents, h1)
        assert names(agents, h1, vm.plugged.tap)
        assert foreign not in text
        assert "tap+" not in text and '"tap*"' not in text  # no wildcard over taps
        vms.remove(vm)
        text = ruleset_text(agents, h1)  # no tap left: no rule or set names one
        assert "-i tap" not in text and "romana-devices" not in text, text
    finally:
        unplug(h1, foreign)
