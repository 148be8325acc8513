"""The times in an agent's reports are finite numbers: one host cannot blind every reader.

Found probing a fresh install: Python's JSON reads ``NaN``, ``Infinity`` and ``1e999``, and
romanad kept them in a routing report's ``reported_at`` (or ``agent.reconciled_at``) and a
drop's ``time``, answering them as ``null``. Every client validates answers against the API
models, so after one agent sent ``{"mode": "direct", "reported_at": NaN}``, ``romana route
show`` refused the host's report, ``romana status`` showed no BGP session of any host, and
``romana drops`` failed for every reader until the event left romanad's ring. Now such a
report is refused with 422 naming the field, and what was stored before stays readable.

A real romanad over SQLite, called as the agent user of host h1; answers are read with the
client's own validation (``romana.wire.validate.parse``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from romana.lab.romanad import Romanad
from romana.wire import rest_drops, rest_routing, validate
from support.romanad import AdminCalls
from unit.api.conftest import start

NOT_FINITE = ("NaN", "Infinity", "-Infinity", "1e999")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AdminCalls, str]]:
    with start(tmp_path_factory.mktemp("finite")) as daemon:
        calls = AdminCalls(daemon)
        token = calls.agent_of("h1", "192.0.2.1")
        first = {"mode": "direct", "reported_at": time.time()}
        assert calls.call(token, "PUT", "/v1/hosts/h1/routing", first).status_code == 200
        yield calls, token


def _raw(calls: AdminCalls, token: str, method: str, path: str, body: str) -> tuple[int, list[str]]:
    r = httpx.request(
        method,
        f"{calls.daemon.url}{path}",
        content=body.encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        trust_env=False,
        timeout=30,
    )
    fields = [i["field"] for i in r.json().get("issues", [])] if r.status_code == 422 else []
    return r.status_code, fields


@pytest.mark.parametrize("number", NOT_FINITE)
def test_a_report_with_a_time_that_is_no_number_is_refused(
    world: tuple[AdminCalls, str], number: str
) -> None:
    calls, agent = world
    path = "/v1/hosts/h1/routing"
    assert _raw(calls, agent, "PUT", path, f'{{"mode": "bgp", "reported_at": {number}}}') == (
        422,
        ["reported_at"],
    )
    agent_state = f'{{"version": "1", "reconciled_at": {number}}}'
    state = f'{{"mode": "bgp", "reported_at": 1.0, "agent": {agent_state}}}'
    assert _raw(calls, agent, "PUT", path, state) == (422, ["agent.reconciled_at"])
    event = (
        f'{{"events": [{{"time": {number}, "src": "10.0.0.1", "dst": "10.0.0.2", '
        '"proto": "tcp", "reason": {"id": "0123456789ab"}}]}'
    )
    assert _raw(calls, agent, "POST", "/v1/hosts/h1/drops", event) == (422, ["events[0].time"])
    # What readers get still passes the client's validation: nothing was stored.
    report = validate.parse(
        rest_routing.RoutingReport, calls.ok("GET", path), "GET /v1/hosts/h1/routing"
    )
    assert report.mode == "direct"
    validate.parse(rest_drops.DropEvents, calls.ok("GET", "/v1/drops"), "GET /v1/drops")


def test_romanad_still_serves(world: tuple[AdminCalls, str]) -> None:
    daemon: Romanad = world[0].daemon
    with daemon.http() as http:
        assert http.get(f"{daemon.url}/healthz").status_code == 200
