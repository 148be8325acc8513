"""``POST /v1/hosts/{name}/drops`` and ``GET /v1/drops`` over a real romanad process (hosts
h1 and h2): only a host's own agent sends its drops; romanad decodes each side itself; a
tenant user reads only its tenant's events, the other side bare, and is refused another
tenant's; the long poll answers as soon as an event comes."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import pytest

from romana.client import Client, ClientSettings
from unit.api.conftest import Api


@pytest.fixture(scope="module")
def placed(api: Api) -> dict[str, str]:
    """Tenants ``dra`` and ``drb``, one endpoint each on h1 and h2: name → address."""
    found: dict[str, str] = {}
    for tenant in ("dra", "drb"):
        created = api.admin.post("/v1/tenants", json={"name": tenant})
        assert created.status_code == 201, created.text
        for host in ("h1", "h2"):
            key = f"{tenant}-{host}"
            body = {"key": key, "host": host, "tenant": tenant}
            made = api.admin.post("/v1/allocations", json=body)
            assert made.status_code in (200, 201), made.text
            found[key] = made.json()["addresses"][0]
    named = api.admin.put("/v1/allocations/dra-h2/workload", json={"workload": "vm:db-0"})
    assert named.status_code == 200, named.text
    return found


def event(src: str, dst: str, **reason: str) -> dict[str, Any]:
    why = reason or {"default": "isolation: other tenants"}
    return {
        "time": time.time(),
        "src": src,
        "dst": dst,
        "proto": "tcp",
        "sport": 40000,
        "dport": 8080,
        "reason": {"id": "0123456789ab", **why},
    }


def post(client: httpx.Client, host: str, *events: dict[str, Any]) -> httpx.Response:
    return client.post(f"/v1/hosts/{host}/drops", json={"events": list(events)})


def read(client: httpx.Client, **params: Any) -> dict[str, Any]:
    answer = client.get("/v1/drops", params=params)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_an_agent_sends_the_drops_of_its_own_host_only(api: Api, placed: dict[str, str]) -> None:
    h1 = api.user("drops-agent-h1", "agent", host="h1")
    refused = post(h1, "h2", event(placed["drb-h1"], placed["dra-h2"]))
    assert refused.status_code == 403, refused.text
    assert "report-drops" in refused.json()["detail"]
    for who in (
        api.user("drops-tenant", "tenant", tenant="dra"),
        api.user("drops-service", "service"),
    ):
        assert post(who, "h1", event(placed["drb-h1"], placed["dra-h1"])).status_code == 403
    sent = post(h1, "h1", event(placed["drb-h2"], placed["dra-h1"]))
    assert sent.status_code == 200, sent.text
    assert sent.json() == {"accepted": 1}
    assert post(api.admin, "nope", event(placed["drb-h2"], placed["dra-h1"])).status_code == 404


def test_romanad_decodes_both_sides_and_names_endpoints(api: Api, placed: dict[str, str]) -> None:
    last = read(api.admin)["last"]
    sent = post(
        api.admin,
        "h2",
        event(placed["drb-h1"], placed["dra-h2"]),
        event("192.0.2.9", placed["dra-h2"]),
    )
    assert sent.status_code == 200, sent.text
    first, outside = read(api.admin, after=last)["events"]
    assert first["host"] == "h2" and first["seq"] == last + 1
    assert first["src"] == {
        "address": placed["drb-h1"],
        "network": "pods",
        "tenant": "drb",
        "segment": "default",
        "endpoint": "drb-h1",
    }
    assert first["dst"]["endpoint"] == "vm:db-0", "the workload an integration named"
    assert first["reason"] == {
        "id": "0123456789ab",
        "default": "isolation: other tenants",
        "policy": "",
        "rule": "",
    }
    assert first["dport"] == 8080 and first["proto"] == "tcp"
    assert outside["src"] == {
        "address": "192.0.2.9",
        "network": None,
        "tenant": None,
        "segment": None,
        "endpoint": None,
    }


def test_bad_events_name_their_field(api: Api) -> None:
    bad = {**event("10.0.0.1", "10.0.0.2"), "dport": 70000, "color": "red"}
    answer = post(api.admin, "h1", bad)
    assert answer.status_code == 422, answer.text
    fields = {i["field"] for i in answer.json()["issues"]}
    assert fields == {"events[0].dport", "events[0].color"}


def test_a_tenant_user_reads_only_its_own_tenant(api: Api, placed: dict[str, str]) -> None:
    mine = api.user("drops-reader-dra", "tenant", tenant="dra")
    start = read(api.admin)["last"]
    policy = {"policy": "drb/lockdown", "rule": "ingress[0].peers[0].rules[0]"}
    assert (
        post(
            api.admin,
            "h1",
            event(placed["dra-h1"], placed["drb-h1"], **policy),  # dra → drb, drb's policy
            event(placed["drb-h2"], placed["drb-h1"]),  # drb only: not for dra's eyes
            event(placed["drb-h2"], placed["dra-h1"], policy="dra/web", rule="ingress[1]"),
        ).status_code
        == 200
    )
    events = read(mine, after=start)["events"]
    assert len(events) == 2
    out, into = events
    assert out["src"]["tenant"] == "dra" and out["src"]["endpoint"] == "dra-h1"
    assert out["dst"] == {
        "address": placed["drb-h1"],
        "network": None,
        "tenant": None,
        "segment": None,
        "endpoint": None,
    }
    assert out["reason"]["default"] == "policy of another tenant" and out["reason"]["policy"] == ""
    assert into["reason"]["policy"] == "dra/web"
    assert into["src"]["tenant"] is None and into["dst"]["tenant"] == "dra"
    assert len(read(api.admin, after=start, tenant="drb")["events"]) == 3
    assert len(read(api.admin, after=start, host="h2")["events"]) == 0
    other = mine.get("/v1/drops", params={"tenant": "drb"})
    assert other.status_code == 403, other.text


def test_the_long_poll_answers_as_an_event_comes(api: Api, placed: dict[str, str]) -> None:
    last = read(api.admin)["last"]
    timer = threading.Timer(
        0.3, lambda: post(api.admin, "h1", event(placed["drb-h1"], placed["dra-h1"]))
    )
    started = time.monotonic()
    timer.start()
    try:
        body = read(api.admin, after=last, wait=10)
    finally:
        timer.join()
    took = time.monotonic() - started
    assert [e["seq"] for e in body["events"]] == [last + 1] and body["last"] == last + 1
    assert 0.25 < took < 2.0, took
    quiet = time.monotonic()
    assert read(api.admin, after=last + 1, wait=0.5)["events"] == []
    assert time.monotonic() - quiet >= 0.45
    restarted = read(api.admin, after=last + 1_000_000)
    assert restarted["events"], "an after beyond the last event (romanad restarted) reads all"


def test_the_client_sends_and_reads(api: Api, placed: dict[str, str]) -> None:
    token = api.login(*api.daemon.admin())
    with Client(ClientSettings(url=(api.url,), token=token, discover=False, retries=0)) as client:
        last = client.drops()["last"]
        assert client.report_drops("h2", [event(placed["dra-h1"], placed["drb-h2"])]) == {
            "accepted": 1
        }
        (got,) = client.drops(last, 1.0, host="h2", tenant="drb")["events"]
        assert got["dst"]["tenant"] == "drb"
