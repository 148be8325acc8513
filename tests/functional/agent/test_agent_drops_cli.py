"""Acceptance: ``romana drops`` shows, cluster-wide, the packets the hosts' firewalls dropped.

On both firewall backends, in the shared cluster (see conftest): the agents forward their
drop events to romanad, and the real CLI, run as a process in the control namespace
(``romana drops --follow -o json``, one event a line) prints a denied probe within one
second of its sending, naming the isolation default or the policy and rule that dropped it;
an allowed probe never appears. A tenant user's ``romana drops`` shows only events with a
side in its tenant, the other side a bare address, and another tenant's is refused.
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from probes import CONVERGE, converge, deny_own_segment_port, pick, tcp, within
from typer.testing import CliRunner

from romana.cli.main import app
from romana.lab import Cluster, Endpoint
from support import env

pytestmark = pytest.mark.root

SHOWN = 1.0  # seconds from sending a denied probe to its line in `romana drops --follow`
POLICY = "drops-cli-deny"
ROMANA = str(Path(sys.executable).with_name("romana"))
MARKER = "192.0.2.77"  # an address of no network: what the test's marker events carry


def cli_env(agents: Cluster, config: str, token: str | None) -> dict[str, str]:
    environ = {
        "ROMANA_URL": agents.url,
        "ROMANA_CONFIG": str(agents.workdir / config),
        "ROMANA_RETRIES": "1",
        "ROMANA_OUTPUT": "table",
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
    }
    if token is not None:
        environ["ROMANA_TOKEN"] = token
    return environ


class Follower:
    """``romana drops --follow -o json`` running in ``ctl``: each line it prints, parsed,
    with the time it arrived."""

    def __init__(self, agents: Cluster, *args: str) -> None:
        environ = cli_env(agents, "drops-follow.toml", agents.api.client.token)
        self.proc = agents.lab.popen_in(
            agents.ctl,
            [ROMANA, "drops", "--follow", "-o", "json", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environ,
        )
        self.lines: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        self._agents = agents
        self._markers = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for text in self.proc.stdout:
            self.lines.put((time.time(), json.loads(text)))

    def skip_recent(self) -> list[dict[str, Any]]:
        """Wait until it follows, and forget what it printed so far: an admin sends a marker
        event (an address of no network), and every line up to the marker's is dropped (and
        returned)."""
        self._markers += 1
        marker = {
            "time": time.time(),
            "src": MARKER,
            "dst": MARKER,
            "proto": "udp",
            "sport": self._markers,
            "reason": {"id": "000000000000", "default": "marker"},
        }
        self._agents.api.report_drops(self._agents.hosts[0].name, [marker])
        deadline = time.monotonic() + 15.0
        skipped: list[dict[str, Any]] = []
        while (left := deadline - time.monotonic()) > 0:
            try:
                _, event = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if event["src"]["address"] == MARKER and event.get("sport") == self._markers:
                return skipped
            skipped.append(event)
        raise AssertionError("romana drops --follow did not print the marker event")

    def find(self, src: Endpoint, dst: Endpoint, within: float) -> tuple[float, dict[str, Any]]:
        """The first line about a probe from ``src`` to ``dst``'s port, and when it came."""
        deadline = time.monotonic() + within
        while (left := deadline - time.monotonic()) > 0:
            try:
                at, event = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if self.about(event, src, dst):
                return at, event
        raise AssertionError(f"romana drops printed nothing about {src.name} → {dst.name}")

    @staticmethod
    def about(event: dict[str, Any], src: Endpoint, dst: Endpoint) -> bool:
        return (event["src"]["address"], event["dst"]["address"], event.get("dport")) == (
            src.address,
            dst.address,
            dst.port,
        )

    def stop(self) -> str:
        self.proc.terminate()
        _, err = self.proc.communicate(timeout=5)
        return err


@pytest.fixture
def follower(agents: Cluster) -> Iterator[Follower]:
    env.need_binary(ROMANA)
    made = Follower(agents)
    made.skip_recent()
    try:
        yield made
    finally:
        err = made.stop()
        assert made.proc.returncode in (0, -15), err


def denied_line(
    agents: Cluster, follower: Follower, src: Endpoint, dst: Endpoint
) -> dict[str, Any]:
    sent = time.time()
    assert not tcp(agents, src, dst), f"{src.name} reached {dst.name}"
    at, event = follower.find(src, dst, 3 * SHOWN)
    read = float(event["time"]) - sent
    assert at - sent <= SHOWN, (
        f"shown {at - sent:.2f} s after sending, read by the agent after {read:.2f} s\n"
        f"{agents.log_tails()}"
    )
    assert event["host"] == dst.host.name
    assert event["proto"] == "tcp"
    for side, endpoint in (("src", src), ("dst", dst)):
        assert event[side]["tenant"] == endpoint.tenant
        assert event[side]["segment"] == endpoint.segment
        assert event[side]["endpoint"] == f"{endpoint.container_id}:eth0", event[side]
    return event


def test_a_probe_denied_by_isolation_is_shown_within_a_second(
    agents: Cluster, follower: Follower
) -> None:
    src, dst = pick(agents, 0, "t2", "default"), pick(agents, 1, "t1", "default")
    event = denied_line(agents, follower, src, dst)
    assert event["reason"]["default"] == "isolation: other tenants"


def test_a_probe_denied_by_a_policy_names_its_rule(agents: Cluster, follower: Follower) -> None:
    src, dst = pick(agents, 2, "t1", "default"), pick(agents, 0, "t1", "default")
    agents.api.add_policies(deny_own_segment_port(POLICY, "t1", dst.port))
    try:
        took = converge(agents, [(src, dst)], False, CONVERGE)
        assert within(took, CONVERGE), f"closed after {took} s\n{agents.log_tails()}"
        # The agent knows a ruleset's drop reasons before it hands the ruleset to the kernel:
        # the probes that found the port closed, dropped while the apply may still have been
        # running, are named too, and a probe right after needs no wait.
        rule = "ingress[0].peers[0].rules[0]"
        closing = [e for e in follower.skip_recent() if Follower.about(e, src, dst)]
        assert all(e["reason"].get("rule") == rule for e in closing), closing
        event = denied_line(agents, follower, src, dst)
        assert event["reason"] | {"id": ""} == {
            "id": "",
            "policy": f"t1/{POLICY}",
            "rule": rule,
            "default": "",
        }
    finally:
        agents.api.remove_policy(POLICY)
    took = converge(agents, [(src, dst)], True, CONVERGE)
    assert within(took, CONVERGE), f"reopened after {took} s\n{agents.log_tails()}"


def test_an_allowed_probe_is_never_shown(agents: Cluster, follower: Follower) -> None:
    src, dst = pick(agents, 0, "t2", "blue"), pick(agents, 2, "t2", "blue")
    for _ in range(3):
        assert tcp(agents, src, dst)
        assert tcp(agents, dst, src)
    time.sleep(2 * SHOWN)
    shown = []
    while not follower.lines.empty():
        _, event = follower.lines.get_nowait()
        if {event["src"]["address"], event["dst"]["address"]} == {src.address, dst.address}:
            shown.append(event)
    assert not shown, shown


def run_cli(agents: Cluster, environ: dict[str, str], *args: str, stdin: str = "") -> Any:
    return agents.api.call(lambda: CliRunner().invoke(app, list(args), input=stdin, env=environ))


def test_a_tenant_user_sees_only_its_own_tenant(agents: Cluster, follower: Follower) -> None:
    into = (pick(agents, 0, "t2", "default"), pick(agents, 1, "t1", "blue"))
    elsewhere = (pick(agents, 0, "t2", "default"), pick(agents, 1, "t2", "blue"))
    for src, dst in (into, elsewhere):
        denied_line(agents, follower, src, dst)
    agents.api.create_user("drops-t1", "drops-t1-password", "tenant", tenant="t1")
    environ = cli_env(agents, "drops-t1.toml", None)
    login = run_cli(agents, environ, "login", "-u", "drops-t1", "--password-stdin",
                    stdin="drops-t1-password\n")  # fmt: skip
    assert login.exit_code == 0, login.output
    shown = run_cli(agents, environ, "drops", "-o", "json")
    assert shown.exit_code == 0, (shown.output, shown.stderr)
    events = json.loads(shown.stdout)
    assert events, "the tenant user sees the drops into its tenant"
    assert all("t1" in (e["src"]["tenant"], e["dst"]["tenant"]) for e in events), events
    assert not [e for e in events if Follower.about(e, *elsewhere)]
    about_into = [e for e in events if Follower.about(e, *into)]
    assert about_into, "the probe into its tenant"
    seen = about_into[-1]
    assert seen["src"] == {"address": into[0].address, "network": None, "tenant": None,
                           "segment": None, "endpoint": None}  # fmt: skip
    assert seen["dst"]["endpoint"] == f"{into[1].container_id}:eth0"
    other = run_cli(agents, environ, "drops", "--tenant", "t2")
    assert other.exit_code != 0
    assert "forbidden" in other.stderr and "t2" in other.stderr
