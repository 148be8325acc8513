"""Docker endpoints: the agent makes the pair in the host namespace, dockerd takes one end.

The Docker plugin's IPAM allocates an endpoint's address under the key
``docker-<24 hex>:rdk<11 hex>`` before libnetwork's Join; here the admin client does the same.
The local API's ADD with ``"attachment": "docker"`` and the sandbox's path then makes the veth
pair with both ends in the host namespace, and the test does what dockerd does with the
``rdk…`` end: moves it into the sandbox, renames it ``eth0``, puts the ``/32`` address on it,
the connected route to the gateway and the default route via it, and sets it up. Real agents
and romanad (the shared cluster of this directory, both firewall backends), real packets.
"""

from __future__ import annotations

import contextlib
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from probes import pick

from romana.core import endpoint, hostplan
from romana.core.errors import NotFound
from romana.lab import Cluster, Host, Workload
from support.wait import eventually

pytestmark = pytest.mark.root

SETTLE = 5.0


@dataclass(frozen=True)
class Container:
    """A sandbox joined to a docker endpoint of its host."""

    container_id: str
    ifname: str
    address: str
    sandbox: Workload

    @property
    def key(self) -> str:
        return endpoint.endpoint_key(self.container_id, self.ifname)

    @property
    def host(self) -> Host:
        return self.sandbox.host

    @property
    def host_end(self) -> str:
        return hostplan.host_ifname(self.key)


def ip(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *argv], capture_output=True, text=True, check=check, timeout=10)


def link_exists(ns: str, name: str) -> bool:
    return ip("-n", ns, "link", "show", "dev", name, check=False).returncode == 0


def join(agents: Cluster, host: Host, tenant: str) -> Container:
    """The plugin's RequestAddress and Join, and dockerd's configuration of the sandbox."""
    container_id = f"{endpoint.DOCKER_ID_PREFIX}{secrets.token_hex(12)}"
    ifname = endpoint.docker_ifname(container_id)
    key = endpoint.endpoint_key(container_id, ifname)
    agents.api.allocate(key, host.name, tenant)
    sandbox = agents.lab.add_workload(host, f"dk-{container_id[7:11]}")
    answer = agents.agent(host).api.add_endpoint(
        {
            "container_id": container_id,
            "ifname": ifname,
            "netns": sandbox.path,
            "tenant": tenant,
            "attachment": "docker",
        }
    )
    (address,) = answer["addresses"]
    cidr, gateway = address["address"], address["gateway"]
    assert cidr.endswith("/32") and gateway, answer
    assert link_exists(host.ns, ifname), "the container end waits in the host namespace"
    made = Container(container_id, ifname, cidr.split("/")[0], sandbox)
    assert answer["host_interface"]["name"] == made.host_end
    ip("-n", host.ns, "link", "set", ifname, "netns", sandbox.ns)
    for argv in (
        ("link", "set", ifname, "name", "eth0"),
        ("addr", "add", cidr, "dev", "eth0"),
        ("link", "set", "eth0", "up"),
        ("route", "add", f"{gateway}/32", "dev", "eth0", "scope", "link"),
        ("route", "add", "default", "via", gateway, "dev", "eth0"),
    ):
        ip("-n", sandbox.ns, *argv)
    return made


def host_routes(container: Container) -> str:
    done = ip("-n", container.host.ns, "-4", "route", "show", "proto", "82", check=False)
    return done.stdout


@pytest.fixture
def container(agents: Cluster) -> Iterator[Container]:
    made = join(agents, agents.hosts[0], "t1")
    try:
        yield made
    finally:
        agents.agent(made.host).api.delete_endpoint(made.container_id, made.ifname)
        if made.sandbox.ns in ip("netns", "list").stdout:
            agents.lab.remove_namespace(made.sandbox)
        with contextlib.suppress(NotFound):  # a GC released it already
            agents.api.release(made.key)


def full_reconciles(agents: Cluster, host: Host) -> None:
    """Wait long enough for two full reconciles of the agent of ``host``."""
    time.sleep(agents.agent(host).interval * 2 + 0.5)


def test_a_docker_container_reaches_its_tenant_on_another_host_and_no_other_tenant(
    agents: Cluster, container: Container
) -> None:
    friend, stranger = pick(agents, 1, "t1", "default"), pick(agents, 1, "t2", "default")
    listening = agents.lab.listen(container.sandbox)
    lab, agent = agents.lab, agents.agent(container.host)
    assert lab.tcp_probe(container.sandbox, friend.address, friend.port), agents.log_tails()
    assert lab.tcp_probe(friend.workload, container.address, listening.port)
    assert not lab.tcp_probe(container.sandbox, stranger.address, stranger.port, timeout=0.5)
    assert not lab.tcp_probe(stranger.workload, container.address, listening.port, timeout=0.5)

    repairs = agent.metric("romana_agent_drift_repairs_total")
    full_reconciles(agents, container.host)
    last = agent.state()["last_reconcile"]
    assert last["ok"] and not any(container.key in s for s in last["skipped"]), last
    assert agent.metric("romana_agent_drift_repairs_total") == repairs, agents.log_tails()
    assert not link_exists(container.host.ns, container.ifname)
    assert link_exists(container.sandbox.ns, "eth0")
    assert f"{container.address} dev {container.host_end}" in host_routes(container)
    checked = agent.api.get_endpoint(container.container_id, container.ifname)
    assert checked["problems"] == [], checked
    assert lab.tcp_probe(container.sandbox, friend.address, friend.port)
    assert not lab.tcp_probe(container.sandbox, stranger.address, stranger.port, timeout=0.5)

    # Leave: the pair goes (both ends, wherever they are), the allocation stays.
    assert agent.api.delete_endpoint(container.container_id, container.ifname) is True
    assert not link_exists(container.host.ns, container.host_end)
    assert container.address not in host_routes(container)
    assert not link_exists(container.sandbox.ns, "eth0")
    assert agents.api.get_allocation(container.key)["addresses"] == [container.address]
    assert not lab.tcp_probe(friend.workload, container.address, listening.port, timeout=0.5)


def test_a_docker_endpoint_whose_sandbox_went_is_not_made_again_and_gc_reclaims_it(
    agents: Cluster, container: Container
) -> None:
    agent = agents.agent(container.host)
    agents.lab.remove_namespace(container.sandbox)  # dockerd died; the sandbox went
    assert eventually(lambda: not link_exists(container.host.ns, container.host_end), SETTLE)
    full_reconciles(agents, container.host)
    assert not link_exists(container.host.ns, container.host_end)
    assert not link_exists(container.host.ns, container.ifname)
    assert container.address not in host_routes(container)
    assert container.key in agent.state()["endpoints"]  # until a GC, or the plugin's Leave

    answer = agent.api.gc("", [])
    assert [container.container_id, container.ifname] in [
        [a["container_id"], a["ifname"]] for a in answer["released"]
    ], answer
    assert container.key not in agent.state()["endpoints"]
    with pytest.raises(NotFound):  # GC answers once the release is made
        agents.api.get_allocation(container.key)
