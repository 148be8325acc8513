"""When the agents enforced a change, read from their own metrics (never from romanad's API).

Each agent reports in ``romana_agent_policy_enforced_timestamp_seconds`` the Unix time at
which its firewall came to enforce the policy input it holds; the gauge moves only when that
input changes. A change made at Unix time *t0* is enforced on a host once the gauge moved past
its value before the change, and the host's latency is the gauge minus *t0*: the agents and the
benchmark share the machine's clock, and the scrape interval does not enter the figure.
``romana_agent_policy_programming_seconds`` tells how much of it the agent spent from
receiving the view that carried the change to enforcing it.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from romana.lab import Cluster

ENFORCED = "romana_agent_policy_enforced_timestamp_seconds"
PROGRAMMING = "romana_agent_policy_programming_seconds_sum"
RULES = "romana_agent_firewall_rules"
REFUSED = "romana_agent_policies_refused"
READ = (ENFORCED, PROGRAMMING, RULES, REFUSED)
SCRAPE = 0.05
"""Seconds between two scrapes of an agent whose gauge has not moved yet."""
SCRAPE_ATTEMPTS = 5
STILL = 0.5
"""Seconds without any agent enforcing anything new before the next change is made."""


def values(text: str, names: Collection[str]) -> dict[str, float]:
    """The unlabelled samples of ``names`` in the exposition ``text`` (those it holds)."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in names and not sample.labels:
                found[sample.name] = float(sample.value)
    return found


Scrape = Mapping[str, float]
"""One agent's :data:`READ` values."""


@dataclass(frozen=True, slots=True)
class Converged:
    """One change, as the agents' metrics tell it (seconds)."""

    hosts: dict[str, float]
    """Each host's latency: from the change to its agent's enforcement time."""
    last: str
    """The host that enforced last: when the cluster converged."""
    in_agent: float
    """Of the last host's latency, the time its agent counts from receiving the view that
    carried the change to enforcing it (``romana_agent_policy_programming_seconds``)."""
    answered: float = 0.0
    """Until romanad answered the request that made the change (for an endpoint: the ADD
    and the address-set write)."""

    @property
    def worst(self) -> float:
        return self.hosts[self.last]


def converged(
    started: float, before: Mapping[str, Scrape], after: Mapping[str, Scrape]
) -> Converged:
    """A change made at Unix time ``started``, from each host's scrape before and after."""
    hosts = {h: s[ENFORCED] - started for h, s in after.items()}
    last = max(hosts, key=lambda h: hosts[h])
    in_agent = after[last][PROGRAMMING] - before[last][PROGRAMMING]
    return Converged(hosts, last, in_agent)


class Agents:
    """The agents of some hosts of a cluster, read from their metrics endpoints."""

    def __init__(self, c: Cluster, hosts: Sequence[str]) -> None:
        self._c = c
        self.hosts = list(hosts)

    def read(self, host: str) -> Scrape:
        agent = self._c.agents[host]
        for attempt in range(SCRAPE_ATTEMPTS):
            try:
                text = agent.metrics()
                break
            except OSError:  # an agent busy compiling may answer a scrape late
                if attempt == SCRAPE_ATTEMPTS - 1:
                    raise
        found = values(text, READ)
        missing = sorted(set(READ) - set(found))
        if missing:
            raise RuntimeError(f"agent {host} exports no {', '.join(missing)}")
        return found

    def now(self) -> dict[str, Scrape]:
        return {h: self.read(h) for h in self.hosts}

    def after(self, before: Mapping[str, Scrape], timeout: float) -> dict[str, Scrape]:
        """Each host's scrape once its enforcement time moved past the one in ``before``."""
        deadline = time.monotonic() + timeout
        found: dict[str, Scrape] = {}
        while True:
            for host in self.hosts:
                if host in found:
                    continue
                scrape = self.read(host)
                if scrape[ENFORCED] > before[host][ENFORCED]:
                    found[host] = scrape
            if len(found) == len(self.hosts):
                return found
            if time.monotonic() > deadline:
                late = sorted(set(self.hosts) - set(found))
                tails = "\n".join(self._c.agents[h].log_tail(20) for h in late[:2])
                raise RuntimeError(f"not enforced within {timeout:g} s on {late}:\n{tails}")
            time.sleep(SCRAPE)

    def settle(self, timeout: float = 300.0) -> dict[str, Scrape]:
        """Wait until no agent enforced anything new for :data:`STILL` seconds; the scrapes."""
        deadline = time.monotonic() + timeout
        last, since = self.now(), time.monotonic()
        while time.monotonic() - since < STILL and time.monotonic() < deadline:
            time.sleep(0.1)
            current = self.now()
            if any(current[h][ENFORCED] != last[h][ENFORCED] for h in self.hosts):
                since = time.monotonic()
            last = current
        return last
