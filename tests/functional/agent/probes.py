"""Probes between the endpoints of the agent acceptance cluster (see conftest).

Probes are real: TCP connects to listeners inside the workload namespaces and ICMP echo from
``ping``; a matrix probes every ordered pair of endpoints in parallel.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from typing import Any

from romana.lab import Cluster, Endpoint
from romana.lab.agents import Agent

PROBE_TIMEOUT = 0.5
CONVERGE = 1.0  # a policy change must be enforced within this many seconds


def tcp(agents: Cluster, src: Endpoint, dst: Endpoint, timeout: float = PROBE_TIMEOUT) -> bool:
    return agents.lab.tcp_probe(src.workload, dst.address, dst.port, timeout=timeout)


def icmp(agents: Cluster, src: Endpoint, dst: Endpoint) -> bool:
    return agents.lab.ping(src.workload, dst.address, deadline=1)


def matrix(
    agents: Cluster, probe: Callable[[Cluster, Endpoint, Endpoint], bool]
) -> dict[tuple[str, str], bool]:
    pairs = [(s, d) for s in agents.endpoints for d in agents.endpoints if s is not d]
    with concurrent.futures.ThreadPoolExecutor(48) as pool:
        results = pool.map(lambda p: probe(agents, *p), pairs)
        return {(s.address, d.address): ok for (s, d), ok in zip(pairs, results, strict=True)}


def expected_isolation(agents: Cluster) -> dict[tuple[str, str], bool]:
    """Romana isolation with no policy: same tenant and same segment only."""
    return {
        (s.address, d.address): (s.tenant, s.segment) == (d.tenant, d.segment)
        for s in agents.endpoints
        for d in agents.endpoints
        if s is not d
    }


def pick(agents: Cluster, host: int, tenant: str, segment: str) -> Endpoint:
    name = agents.hosts[host].name
    return next(
        e
        for e in agents.endpoints
        if e.host.name == name and e.tenant == tenant and e.segment == segment
    )


def group(agents: Cluster, tenant: str, segment: str) -> list[Endpoint]:
    return [e for e in agents.endpoints if e.tenant == tenant and e.segment == segment]


def converge(
    agents: Cluster, pairs: list[tuple[Endpoint, Endpoint]], allowed: bool, limit: float
) -> dict[str, float | None]:
    """Per pair, the seconds until TCP first gave ``allowed`` (when that probe started).

    Pairs are probed in parallel, so each destination host is timed on its own; a pair that
    has not converged ``limit + 2`` seconds after the start is reported as None.
    """
    started = time.monotonic()

    def one(pair: tuple[Endpoint, Endpoint]) -> float | None:
        while time.monotonic() - started < limit + 2.0:
            at = time.monotonic()
            if tcp(agents, *pair, timeout=0.2) == allowed:
                return at - started
        return None

    with concurrent.futures.ThreadPoolExecutor(len(pairs)) as pool:
        took = list(pool.map(one, pairs))
    return {
        f"{s.name}@{s.host.name}→{d.name}@{d.host.name}": t
        for (s, d), t in zip(pairs, took, strict=True)
    }


def deny_own_segment_port(name: str, tenant: str, port: int) -> dict[str, Any]:
    """A policy denying TCP ``port`` to ``tenant``'s default segment from that segment itself
    (open by default), so that a probe is dropped by a named policy rule."""
    own = {"tenant": tenant, "segment": "default"}
    rules = [{"protocol": "tcp", "ports": [port]}]
    return {
        "name": name,
        "action": "deny",
        "applied_to": [own],
        "ingress": [{"peers": [own], "rules": rules}],
    }


def within(took: dict[str, float | None], limit: float) -> bool:
    return all(t is not None and t <= limit for t in took.values())


class ProbeLoop:
    """Probes ``pairs`` continuously in a thread; records the longest outage per pair."""

    def __init__(self, agents: Cluster, pairs: list[tuple[Endpoint, Endpoint]]) -> None:
        self._agents = agents
        self._pairs = pairs
        self._stop = threading.Event()
        self.failures: dict[str, list[float]] = {f"{s.name}→{d.name}": [] for s, d in pairs}
        self.probes = 0
        self.longest = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        down_since: dict[str, float] = {}
        while not self._stop.is_set():
            for src, dst in self._pairs:
                name = f"{src.name}→{dst.name}"
                now = time.monotonic()
                ok = self._agents.lab.tcp_probe(src.workload, dst.address, dst.port, timeout=0.3)
                self.probes += 1
                if ok:
                    if name in down_since:
                        self.longest = max(self.longest, now - down_since.pop(name))
                else:
                    self.failures[name].append(now)
                    down_since.setdefault(name, now)
            time.sleep(0.05)
        end = time.monotonic()
        for since in down_since.values():
            self.longest = max(self.longest, end - since)

    def __enter__(self) -> ProbeLoop:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def restart_under_probes(
    agents: Cluster, agent: Agent, pairs: list[tuple[Endpoint, Endpoint]]
) -> ProbeLoop:
    """Stop ``agent`` (SIGTERM) and start it again a second later while ``pairs`` are
    probed every 50 ms; the finished loop."""
    with ProbeLoop(agents, pairs) as loop:
        time.sleep(0.3)
        assert agent.stop() == 0
        time.sleep(1.0)
        agent.start()
        time.sleep(0.5)
    return loop
