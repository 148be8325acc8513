"""What an agent reports as free text is printable ASCII: no terminal escapes, no newlines.

Found probing a fresh install: an agent user (one host's credential) could put escape
sequences and newlines into its routing report (BGP session names, states, BIRD's error,
its own version, its errors) and into the reasons of the drops it sends. ``romana status``,
``romana route show`` and ``romana drops`` print these to an admin's (or a tenant user's)
terminal as they are, so one host could clear the screen, retitle the terminal, or forge
lines such as ``FAKE: all good`` under another host's entry. Now each such field must follow
``romana.core.names.TEXT_RULE``: a report breaking it is refused whole with 422 naming the
field and the rule, and the stored report (and the drop feed) stays as it was.

A real romanad over SQLite, called as the agent user of host h1.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from romana.core import names
from romana.lab.romanad import Romanad
from support.romanad import AdminCalls
from unit.api.conftest import start

HOSTILE = ("\x1b[2J\x1b]0;owned\x07", "Established\nFAKE: all good", "a\u202eb", "tab\there")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AdminCalls, str]]:
    with start(tmp_path_factory.mktemp("printable")) as daemon:
        calls = AdminCalls(daemon)
        yield calls, calls.agent_of("h1", "192.0.2.1")


def _report(**session: Any) -> dict[str, Any]:
    return {
        "agent": {"version": "0.1.0"},
        "mode": "bgp",
        "reported_at": time.time(),
        "sessions": [
            {
                "name": "romana_p0_tor",
                "peer": "192.0.2.254",
                "peer_as": 65000,
                "peer_name": "tor",
                "state": "Established",
                "info": "",
                "since": "10:00:00.000",
                **session,
            }
        ],
        "routes": [
            {"dst": "10.128.0.0/16", "via": "192.0.2.254", "source": "bgp", "protocol": "bgp1"}
        ],
        "errors": [],
    }


def _refused(r: Any, field: str) -> None:
    assert r.status_code == 422, r.text
    issues = r.json()["issues"]
    assert [i["field"] for i in issues] == [field], issues
    assert names.TEXT_RULE in issues[0]["rule"]


def test_a_plain_report_is_kept(world: tuple[AdminCalls, str]) -> None:
    calls, agent = world
    r = calls.call(agent, "PUT", "/v1/hosts/h1/routing", _report(info="Hold timer expired"))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("text", HOSTILE)
def test_escapes_in_a_routing_report_are_refused(world: tuple[AdminCalls, str], text: str) -> None:
    calls, agent = world
    before = calls.ok("GET", "/v1/hosts/h1/routing")
    for field in ("name", "peer_name", "state", "info", "since"):
        r = calls.call(agent, "PUT", "/v1/hosts/h1/routing", _report(**{field: text}))
        _refused(r, f"sessions[0].{field}")
    errors = {**_report(), "errors": [f"bird: {text}"]}
    _refused(calls.call(agent, "PUT", "/v1/hosts/h1/routing", errors), "errors[0]")
    version = {**_report(), "agent": {"version": text}}
    _refused(calls.call(agent, "PUT", "/v1/hosts/h1/routing", version), "agent.version")
    route = _report()
    route["routes"][0]["protocol"] = text
    _refused(calls.call(agent, "PUT", "/v1/hosts/h1/routing", route), "routes[0].protocol")
    after = calls.ok("GET", "/v1/hosts/h1/routing")
    assert after["sessions"] == before["sessions"]
    assert after["reported_at"] == before["reported_at"]


def _drop(**reason: str) -> dict[str, Any]:
    event = {
        "time": time.time(),
        "src": "10.0.16.1",
        "dst": "10.0.16.2",
        "proto": "tcp",
        "dport": 80,
        "reason": {"id": "0123456789ab", "default": "isolation: other tenants", **reason},
    }
    return {"events": [event]}


@pytest.mark.parametrize("text", HOSTILE)
def test_escapes_in_drop_reasons_are_refused(world: tuple[AdminCalls, str], text: str) -> None:
    calls, agent = world
    last = calls.ok("GET", "/v1/drops")["last"]
    for field in ("id", "policy", "rule", "default"):
        r = calls.call(agent, "POST", "/v1/hosts/h1/drops", _drop(**{field: text}))
        _refused(r, f"events[0].reason.{field}")
    bad_proto = _drop()
    bad_proto["events"][0]["proto"] = text[:16]
    _refused(calls.call(agent, "POST", "/v1/hosts/h1/drops", bad_proto), "events[0].proto")
    assert calls.ok("GET", f"/v1/drops?after={last}")["events"] == []


def test_a_plain_drop_is_kept(world: tuple[AdminCalls, str]) -> None:
    calls, agent = world
    r = calls.call(agent, "POST", "/v1/hosts/h1/drops", _drop(policy="ta/allow-web"))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 1


def test_the_agent_makes_what_it_reads_printable() -> None:
    """The agent's side: what BIRD or the kernel says is made printable before it is sent,
    so a report is never refused for one odd byte."""
    assert names.printable("Established\nFAKE\x1b[2J", 64) == "Established?FAKE?[2J"
    assert names.printable("x" * 300, 256) == "x" * 256


def test_romanad_still_serves(world: tuple[AdminCalls, str]) -> None:
    calls, _ = world
    daemon: Romanad = calls.daemon
    with daemon.http() as http:
        assert http.get(f"{daemon.url}/healthz").status_code == 200
