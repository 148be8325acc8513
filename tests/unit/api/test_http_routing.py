"""``/v1/hosts/{name}/routing`` and ``/v1/routing``: who may report a host's routing and who
may read it, over a real romanad process (hosts h1 and h2)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from romana.client import Client, ClientSettings
from romana.core.errors import Forbidden, InvalidInput, NotFound
from unit.api.conftest import Api

REPORT: dict[str, Any] = {
    "agent": {"version": "0.1.0", "reconciled_at": 1_799_999_990.0, "revision": 42, "errors": 0},
    "mode": "bgp",
    "reported_at": 1_800_000_000.0,
    "sessions": [
        {"name": "romana_peer0", "peer": "192.0.2.2", "peer_as": 65002, "peer_name": "",
         "state": "Established", "info": "", "since": "02:11:55.873"},
    ],
    "routes": [
        {"dst": "10.0.0.0/16", "via": "", "source": "direct"},
        {"dst": "10.128.0.0/16", "via": "192.0.2.2", "source": "bgp",
         "protocol": "romana_peer0", "peer": "192.0.2.2", "best": True},
    ],
    "errors": [],
}  # fmt: skip


def _put(client: httpx.Client, host: str, body: dict[str, Any] = REPORT) -> httpx.Response:
    return client.put(f"/v1/hosts/{host}/routing", json=body)


def test_an_agent_reports_and_reads_its_own_host_only(api: Api) -> None:
    h1 = api.user("routing-agent-h1", "agent", host="h1")
    refused = _put(h1, "h2")
    assert refused.status_code == 403, refused.text
    assert "report-routing" in refused.json()["detail"]
    stored = _put(h1, "h1")
    assert stored.status_code == 200, stored.text
    body = stored.json()
    assert body["host"] == "h1" and body["sessions"] == REPORT["sessions"]
    assert body["routes"] == [{"protocol": "", "peer": "", "best": True, **REPORT["routes"][0]},
                              REPORT["routes"][1]]  # fmt: skip
    assert 0 <= body["age"] < 5 and body["received_at"] > 0
    assert body["agent"] == REPORT["agent"]
    earlier = {k: v for k, v in REPORT.items() if k != "agent"}
    assert _put(h1, "h1", earlier).json()["agent"] is None, "an earlier agent sends none"
    assert _put(h1, "h1").status_code == 200
    assert h1.get("/v1/hosts/h1/routing").json()["reported_at"] == REPORT["reported_at"]
    assert h1.get("/v1/hosts/h2/routing").status_code == 403
    assert h1.get("/v1/routing").status_code == 403, "a list of every host is not one host's"
    listed = api.admin.get("/v1/routing")
    assert listed.status_code == 200 and "h1" in [r["host"] for r in listed.json()]


def test_tenant_openstack_and_service_users_may_not_report(api: Api) -> None:
    tenant = api.user("routing-tenant", "tenant", tenant="routing-t")
    openstack = api.user("routing-openstack", "openstack")
    service = api.user("routing-service", "service")
    _put(api.admin, "h2")
    for who in (tenant, openstack, service):
        assert _put(who, "h2").status_code == 403
    for who in (tenant, openstack):
        assert who.get("/v1/hosts/h2/routing").status_code == 403
        assert who.get("/v1/routing").status_code == 403
    assert service.get("/v1/hosts/h2/routing").status_code == 200


def test_bad_reports_name_their_field_and_unknown_hosts_are_404(api: Api) -> None:
    bad = {**REPORT, "routes": [{"dst": "10.0.0.0/33", "via": "x", "source": "ospf"}]}
    answer = _put(api.admin, "h2", bad)
    assert answer.status_code == 422, answer.text
    fields = {i["field"] for i in answer.json()["issues"]}
    assert fields == {"routes[0].dst", "routes[0].via", "routes[0].source"}
    unknown = _put(api.admin, "nope")
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    assert api.admin.get("/v1/hosts/nope/routing").status_code == 404


def test_the_client_reports_reads_and_lists(api: Api) -> None:
    token = api.login(*api.daemon.admin())
    with Client(ClientSettings(url=(api.url,), token=token, discover=False, retries=0)) as client:
        client.report_routing("h2", REPORT)
        got = client.routing("h2")
        assert got["host"] == "h2" and got["mode"] == "bgp"
        assert "h2" in [r["host"] for r in client.list_routing()]
        with pytest.raises(InvalidInput, match="mode"):
            client.report_routing("h2", {**REPORT, "mode": "rip"})
        with pytest.raises(NotFound):
            client.routing("nope")
    agent = api.login("routing-agent-h1", "routing-agent-h1-password")
    settings = ClientSettings(url=(api.url,), token=agent, discover=False, retries=0)
    with Client(settings) as client, pytest.raises(Forbidden):
        client.report_routing("h2", REPORT)
