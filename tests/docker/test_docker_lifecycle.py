"""Docker containers of romana through their life: stop, start, restart, agent and dockerd
restarts, a killed dockerd, and romana policy (issue 15).

After each step every Docker allocation romanad holds for a host belongs to a container its
dockerd runs, and every running container's address is allocated (``World.leaks``); the
containers that run reach each other. Restarting the agent changes no address; a ``docker
stop`` and ``start`` or a ``--restart always`` container whose process exits gets an address
afresh (docker releases the old one when the container stops and asks for one when it
starts). Containers of a dockerd killed with SIGKILL, of which docker never tells the plugin,
are released by the plugin's sweep (agent setting ``docker_gc_interval``, 1 s in the lab,
``gc_grace`` 1 s). A romana policy changes what the containers reach within a second, and
the matrix measured with TCP and UDP equals what ``romana explain`` says for every pair.
``docker network connect`` of a running container to a second segment gives it an address
there that only that segment reaches, through a ``docker restart`` and until ``docker network
disconnect``.

One rig per firewall backend (:func:`support.dockerworld.started`); the tests run in order
and each leaves the containers of :data:`CONTAINERS` running for the next.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from romana.client import reach as client_reach
from romana.core.policy import reach
from romana.lab.docker import Dockerd
from support.dockerworld import PORT, UDP_PORT, World, run, started, udp_servers
from support.wait import eventually

pytestmark = [pytest.mark.root, pytest.mark.slow]

WEB = "web"
DB = "db"
RED = "red"
RED_DB = "red-db"
NETWORKS = {
    WEB: ("h1", "blue", "web"),
    DB: ("h2", "blue", "db"),
    RED: ("h1", "red", "default"),
    RED_DB: ("h2", "red", "db"),
}
"""Docker network → (the host that creates it, its tenant, its segment)."""
CONTAINERS = {
    "w1": ("h1", WEB),
    "w2": ("h2", WEB),
    "w3": ("h1", WEB),
    "d1": ("h2", DB),
    "r1": ("h1", RED),
    "r2": ("h2", RED_DB),
}
"""Container → (its host, its Docker network)."""
ALWAYS = ["--restart", "always"]
SETTLE = 15.0
"""Seconds docker and the agents get to finish what a stop or a restart set going."""
Cell = tuple[str, str, str]
"""A source container, a target container and a protocol (tcp or udp)."""
SWEEP = 10.0
"""Seconds within which the sweep releases a gone container's endpoint: the lab's agents
sweep every second with a grace of 1 s."""
CONVERGE = 1.0
"""A policy change must be enforced within this many seconds."""


@pytest.fixture(scope="module", params=["nftables", "iptables"])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The rig with the containers of :data:`CONTAINERS` running."""
    segments = {"blue": ["web", "db"], "red": ["db"]}
    with started(request, tmp_path_factory, segments, NETWORKS) as made:
        for name, (host, network) in CONTAINERS.items():
            run(made, name, host, network)
        yield made


def no_leaks(world: World) -> None:
    assert eventually(lambda: not world.leaks(), SETTLE), f"{world.leaks()}\n{world.logs()}"


def reaches(world: World, source: str, target: str) -> bool:
    return world.probe(source, target, "tcp") == world.containers[target].hostname


def connected(world: World, a: str, b: str) -> bool:
    """Whether ``a`` and ``b`` reach each other within a few seconds (a container that
    just started may not serve yet)."""
    return eventually(lambda: reaches(world, a, b) and reaches(world, b, a), 5)


def running(world: World, name: str) -> bool:
    host = world.containers[name].host
    state = world.dockerd[host].docker("inspect", "-f", "{{.State.Running}}", name)
    return state.stdout.strip() == "true"


class Prober:
    """TCP probes from one container to another, as fast as they answer, on a thread."""

    def __init__(self, world: World, source: str, target: str) -> None:
        self.results: list[bool] = []
        self.times: list[float] = []
        """Wall-clock time each probe started (to compare with the daemons' logs)."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(world, source, target))

    def _run(self, world: World, source: str, target: str) -> None:
        while not self._stop.is_set():
            self.times.append(time.time())
            self.results.append(reaches(world, source, target))
            time.sleep(0.05)

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def inspected(world: World, host: str, network: str) -> dict[str, str]:
    """Container name → address as ``docker network inspect`` on ``host`` lists them."""
    out = world.docker(
        host, "network", "inspect", "-f",
        "{{range .Containers}}{{.Name}}={{.IPv4Address}} {{end}}", network,
    )  # fmt: skip
    return dict(item.split("=") for item in out.split())


def test_docker_network_inspect_lists_every_container_with_its_romana_address(
    world: World,
) -> None:
    for network in NETWORKS:
        want = {
            c.name: f"{c.address}/32" for c in world.containers.values() if c.network == network
        }
        for host in world.dockerd:
            # A global network: each dockerd lists the other hosts' containers too.
            def lists(host: str = host, network: str = network, want: Any = want) -> bool:
                return inspected(world, host, network) == want

            assert eventually(lists, 5), (host, network, inspected(world, host, network), want)
    for container in world.containers.values():
        assert world.made.api.decode(container.address)["allocation"] is not None, container


def test_stop_and_start_give_a_working_container_and_leak_nothing(world: World) -> None:
    before = world.containers["w3"]
    world.docker("h1", "stop", "-t", "1", "w3")
    no_leaks(world)
    assert not world.allocated(before.address), "a stopped container keeps its allocation"
    world.docker("h1", "start", "w3")
    after = world.refresh("w3")
    assert world.made.api.decode(after.address)["host"] == "h1"
    assert connected(world, "w2", "w3")
    no_leaks(world)


def test_a_restart_always_container_whose_process_exits_keeps_working(world: World) -> None:
    first = run(world, "once", "h1", WEB, ALWAYS)
    try:
        assert eventually(lambda: reaches(world, "w2", "once"), 5)
        os.kill(world.pid("once"), signal.SIGKILL)  # its first process exits, killed

        def restarted() -> bool:
            count = world.docker("h1", "inspect", "-f", "{{.RestartCount}}", "once")
            return (
                int(count) >= 1 and running(world, "once") and bool(world.refresh("once").address)
            )

        assert eventually(restarted, SETTLE), world.logs()
        again = world.containers["once"]
        # docker gave the container up with its endpoint and asked for an address again.
        decoded = world.made.api.decode(again.address)
        assert (decoded["host"], decoded["tenant"], decoded["segment"]) == ("h1", "blue", "web")
        assert eventually(lambda: reaches(world, "w2", "once"), 5), (first, again)
        no_leaks(world)
    finally:
        world.docker("h1", "rm", "-f", "once")
        del world.containers["once"]
    no_leaks(world)


def test_docker_restart_of_a_container_keeps_its_address_and_the_others_connected(
    world: World,
) -> None:
    before = world.containers["w1"].address
    with Prober(world, "w2", "w3") as probes:
        time.sleep(0.3)
        world.docker("h1", "restart", "-t", "1", "w1")
        time.sleep(0.3)
    assert probes.results and all(probes.results), probes.results
    # docker gives the address back before it asks for one: the lowest free is the same.
    assert world.refresh("w1").address == before
    assert connected(world, "w1", "w2")
    no_leaks(world)


def test_restarting_the_agent_keeps_addresses_and_connectivity(world: World) -> None:
    agent = world.made.agents["h1"]
    before = {n: c.address for n, c in world.containers.items() if c.host == "h1"}
    with Prober(world, "w2", "w1") as probes:
        assert agent.stop() == 0
        agent.start()
    assert all(probes.results), list(zip(probes.times, probes.results, strict=True))
    for name, address in before.items():
        assert world.refresh(name).address == address, name
    assert reaches(world, "w1", "w2") and reaches(world, "w3", "w2")
    no_leaks(world)
    fresh = run(world, "late", "h1", WEB)
    try:
        assert connected(world, "late", "w2"), fresh
    finally:
        world.docker("h1", "rm", "-f", "late")
        del world.containers["late"]
    no_leaks(world)


def restart_dockerd(world: World, host: str, how: signal.Signals) -> None:
    """Stop ``host``'s dockerd by PID with ``how`` (SIGKILL: with its containers), then start
    it again on the same directories."""
    stop_dockerd(world, host, how)
    start_dockerd(world, host)


def stop_dockerd(world: World, host: str, how: signal.Signals) -> None:
    daemon = world.dockerd[host]
    assert daemon.process is not None
    if how == signal.SIGKILL:
        daemon.kill()
    else:
        daemon.stop()


def start_dockerd(world: World, host: str) -> None:
    daemon = world.dockerd[host]
    world.dockerd[host] = Dockerd(daemon.host, daemon.directory, daemon.cluster_store).start()


def test_restarting_dockerd_keeps_restart_always_containers_and_leaks_nothing(
    world: World,
) -> None:
    run(world, "keep", "h2", WEB, ALWAYS)
    before = world.containers["keep"].address
    restart_dockerd(world, "h2", signal.SIGTERM)
    assert eventually(lambda: running(world, "keep"), SETTLE), world.logs()
    after = world.refresh("keep")
    assert connected(world, "w1", "keep"), (before, after)
    # The others, with no restart policy, stayed stopped; started again they work.
    world.docker("h2", "start", "w2", "d1")
    world.refresh("w2")
    world.refresh("d1")
    assert connected(world, "w1", "w2")
    no_leaks(world)


def test_a_killed_dockerds_containers_are_released_by_the_sweep(world: World) -> None:
    gone = {n: c.address for n, c in world.containers.items() if c.host == "h2"}
    stop_dockerd(world, "h2", signal.SIGKILL)
    # docker tells the plugin nothing: the agent's sweep finds the containers gone.
    assert eventually(lambda: not world.docker_allocations("h2"), SWEEP), world.logs()

    def routed() -> list[str]:
        return [a for a in gone.values() if world.routed("h2", a)]

    assert eventually(lambda: not routed(), SWEEP), routed()
    start_dockerd(world, "h2")
    # The restarted dockerd starts "keep" again and cleans up after the others, releasing
    # their addresses late: none of it may release the address of a container that runs.
    assert eventually(lambda: running(world, "keep"), SETTLE), world.logs()
    world.refresh("keep")
    for name in (n for n, (host, _) in CONTAINERS.items() if host == "h2"):
        world.docker("h2", "start", name)
        world.refresh(name)
    no_leaks(world)
    still = {a for a in gone.values() if a in world.running_addresses("h2")}
    for address in set(gone.values()) - still:
        assert not world.allocated(address), address
    assert connected(world, "w1", "w2") and connected(world, "w1", "keep")


def explained(world: World, cells: Iterable[tuple[str, str, str]]) -> dict[Cell, bool]:
    """What ``romana explain`` says of each (source, target, protocol), from one model."""
    model = world.made.call(client_reach.model)
    ports = {"tcp": f"tcp/{PORT}", "udp": f"udp/{UDP_PORT}"}
    address = {n: c.address for n, c in world.containers.items()}
    return {
        (s, d, p): reach.explain(model, address[s], address[d], ports[p]).allowed
        for s, d, p in cells
    }


def measured(world: World) -> dict[Cell, bool]:
    """Every ordered pair of containers, by TCP and UDP, probed in parallel."""
    names = list(world.containers)
    cells = [(s, d, p) for s in names for d in names if s != d for p in ("tcp", "udp")]
    pids = {name: world.pid(name) for name in names}

    def one(cell: Cell) -> bool:
        source, target, proto = cell
        answer = world.probe(source, target, proto, pid=pids[source])
        return answer == world.containers[target].hostname

    with concurrent.futures.ThreadPoolExecutor(len(cells)) as pool:
        return dict(zip(cells, pool.map(one, cells), strict=True))


def assert_matrix_is_explained(world: World) -> None:
    with udp_servers(world):
        got = measured(world)
    want = explained(world, got)
    wrong = sorted(cell for cell in got if got[cell] != want[cell])
    assert not wrong, f"measured differs from romana explain at {wrong}"


def test_a_policy_changes_reachability_within_a_second_as_explain_says(world: World) -> None:
    assert_matrix_is_explained(world)
    assert not reaches(world, "w1", "d1"), "segments of blue are isolated without policy"
    policy = {
        "name": "web-to-db",
        "applied_to": [{"tenant": "blue", "segment": "db"}],
        "ingress": [
            {
                "peers": [{"tenant": "blue", "segment": "web"}],
                "rules": [{"protocol": "tcp", "ports": [PORT]}],
            }
        ],
    }
    started_at = time.monotonic()
    world.made.api.add_policies(policy)
    try:
        opened = eventually(lambda: reaches(world, "w1", "d1"), CONVERGE + 2)
        took = time.monotonic() - started_at
        assert opened and took <= CONVERGE, f"opened after {took:.2f} s"
        assert not reaches(world, "d1", "w1"), "the policy opened the reverse direction"
        assert not reaches(world, "r1", "d1"), "the policy opened another tenant"
        assert_matrix_is_explained(world)
    finally:
        world.made.api.remove_policy("web-to-db")
    assert eventually(lambda: not reaches(world, "w1", "d1"), CONVERGE + 2)
    assert_matrix_is_explained(world)


def at(world: World, source: str, target: str, address: str) -> bool:
    """Whether ``target``'s TCP server answers ``source`` at ``address``."""
    return world.probe(source, target, "tcp", at=address) == world.containers[target].hostname


def answers_per_address(world: World, name: str, web: str, db: str) -> None:
    """Each of the addresses of ``name`` (on blue's web and db) is reached by its own
    segment only: isolation holds per address."""
    assert eventually(lambda: at(world, "d1", name, db), 5), world.logs()
    assert eventually(lambda: at(world, "w2", name, web), 5)
    assert at(world, "w1", name, web)
    assert not at(world, "w2", name, db), "web reached the db address"
    assert not at(world, "d1", name, web), "db reached the web address"
    assert not at(world, "r1", name, web) and not at(world, "r1", name, db), "another tenant"


def test_network_connect_adds_a_second_segment_that_answers_on_its_own_address(
    world: World,
) -> None:
    """``docker network connect`` of a running container to a second romana network (another
    segment of its tenant): the container gets a second interface and address of that
    segment, each address is reached by its own segment only (the agent routes replies by
    source inside the container), a ``docker restart`` joins both again, and ``docker
    network disconnect`` takes the second away with its allocation and host veth."""
    world.docker("h1", "network", "connect", DB, "w3")
    web, db = world.address("h1", "w3", WEB), world.address("h1", "w3", DB)
    decoded = world.made.api.decode(db)
    assert (decoded["host"], decoded["tenant"], decoded["segment"]) == ("h1", "blue", "db")
    assert world.made.api.decode(web)["segment"] == "web"
    _, links = world.exec("w3", "ip", "-o", "-4", "addr", "show")
    assert sorted(line.split()[1] for line in links.splitlines()) == ["eth0", "eth1", "lo"]
    _, default = world.exec("w3", "ip", "route", "show", "default")
    assert "dev eth0" in default, "the first network keeps the default route"
    answers_per_address(world, "w3", web, db)
    no_leaks(world)

    world.docker("h1", "restart", "-t", "1", "w3")
    web, db = world.address("h1", "w3", WEB), world.address("h1", "w3", DB)
    world.refresh("w3")
    answers_per_address(world, "w3", web, db)
    no_leaks(world)

    veths = world.veths("h1")
    world.docker("h1", "network", "disconnect", DB, "w3")
    assert eventually(lambda: not world.allocated(db), SETTLE)
    assert world.routed("h1", db) == []

    def one_veth_less() -> bool:
        now = world.veths("h1")
        return now < veths and len(veths - now) == 1

    assert eventually(one_veth_less, SETTLE), world.veths("h1") ^ veths
    assert eventually(lambda: at(world, "w2", "w3", web), 5)
    assert not at(world, "d1", "w3", db)
    no_leaks(world)
