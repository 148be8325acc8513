"""The API end to end over a real process: allocation, decode, routes, the agent's long poll,
and a split deployment (a process running a subset of services, registered with the root)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx

from unit.api.conftest import Api, start


def test_allocate_decode_release(api: Api) -> None:
    c = api.admin
    assert c.post("/v1/tenants", json={"name": "web"}).status_code == 201
    assert c.post("/v1/tenants/web/segments", json={"name": "db"}).status_code == 201
    first = c.post(
        "/v1/allocations", json={"key": "c1", "host": "h2", "tenant": "web", "segment": "db"}
    )
    assert first.status_code == 201
    addr = first.json()["addresses"][0]
    # h2 is the first host of rack-b (topology value 128), tenant 1, segment 1, endpoint 1.
    assert addr == "10.128.17.1"
    again = c.post(
        "/v1/allocations", json={"key": "c1", "host": "h2", "tenant": "web", "segment": "db"}
    )
    assert again.status_code == 200 and again.json() == first.json()
    decoded = c.get(f"/v1/decode/{addr}").json()
    assert decoded == {
        "address": addr,
        "network": "pods",
        "host_index": 128,
        "host": "h2",
        "tenant_id": 1,
        "tenant": "web",
        "segment_id": 1,
        "segment": "db",
        "ordinal": 1,
        "host_prefix": "10.128.0.0/16",
        "is_gateway": False,
        "allocation": first.json(),
        "lives_on": None,
    }
    assert c.get("/v1/decode/10.128.0.1").json()["is_gateway"] is True
    assert c.delete(f"/v1/addresses/{addr}").json()["key"] == "c1"
    assert c.get("/v1/allocations/c1").status_code == 404


def test_routes_of_a_host(api: Api) -> None:
    plan = api.admin.get("/v1/hosts/h1/routes").json()
    assert plan["host"] == "h1"
    assert plan["prefixes"] == {"pods": "10.0.0.0/16"}
    assert plan["gateways"] == {"pods": "10.0.0.1"}
    assert [(r["dst"], r["via"]) for r in plan["routes"]] == [("10.128.0.0/9", "192.0.2.2")]
    assert plan["aggregate"] is True


def test_dual_stack_hosts_route_ipv6_via_their_ipv6_underlay(tmp_path: Path) -> None:
    api = Api(start(tmp_path))
    try:
        c = api.admin
        document = c.get("/v1/topology").json()
        document["networks"].append(
            {
                "name": "pods6",
                "cidr": "fd00:10::/56",
                "tenant_bits": 16,
                "segment_bits": 16,
                "endpoint_bits": 32,
            }
        )
        document["topologies"][0]["networks"].append("pods6")
        assert c.put("/v1/topology", json=document).status_code == 200
        hosts = [
            {"name": "h1", "ip": "192.0.2.1", "ip6": "2001:db8::1", "labels": {"rack": "a"}},
            {"name": "h2", "ip": "192.0.2.2", "ip6": "2001:db8::2", "labels": {"rack": "b"}},
            {"name": "h3", "ip": "192.0.2.3", "labels": {"rack": "b"}},
        ]
        for host in hosts:
            r = c.post("/v1/hosts", json=host)
            assert r.status_code == 201, r.text
            assert r.json()["ip6"] == host.get("ip6")
        assert c.get("/v1/hosts/h1").json()["ip6"] == "2001:db8::1"
        plan = c.get("/v1/hosts/h2/routes").json()
        assert [(r["dst"], r["via"]) for r in plan["routes"]] == [
            ("10.129.0.0/16", "192.0.2.3"),
            ("10.0.0.0/9", "192.0.2.1"),
            ("fd00:10::/57", "2001:db8::1"),
        ]
        assert plan["skipped"] == [
            {"dst": "fd00:10:0:81::/64", "reason": "host h3 has no IPv6 underlay address"}
        ]
        view = c.get("/v1/hosts/h2/view").json()
        assert view["host"]["ip6"] == "2001:db8::2"
        assert view["skipped_routes"] == plan["skipped"]

        clash = c.post("/v1/hosts", json={"name": "h4", "ip": "192.0.2.4", "ip6": "2001:db8::1"})
        assert clash.status_code == 409 and "2001:db8::1" in clash.json()["detail"]
        bad = c.post("/v1/hosts", json={"name": "h4", "ip": "192.0.2.4", "ip6": "192.0.2.5"})
        assert bad.status_code == 422
        assert [i["field"] for i in bad.json()["issues"]] == ["ip6"]
        assert c.get("/v1/hosts/h4").status_code == 404
    finally:
        api.daemon.stop()


def _poll(client: httpx.Client, after: int, wait: float, out: dict[str, Any]) -> None:
    started = time.monotonic()
    response = client.get("/v1/hosts/h1/view", params={"after": after, "wait": wait})
    out["elapsed"] = time.monotonic() - started
    out["view"] = response.json()


def test_long_poll_wakes_on_a_relevant_change_only(api: Api) -> None:
    agent = api.user("agent-h1", "agent", host="h1")
    api.admin.post("/v1/tenants", json={"name": "poll"})
    view = agent.get("/v1/hosts/h1/view").json()
    assert view["host"]["name"] == "h1"

    # Another host's allocation is not relevant: the poll runs to its timeout.
    out: dict[str, Any] = {}
    thread = threading.Thread(target=_poll, args=(agent, view["revision"], 1.5, out))
    thread.start()
    time.sleep(0.3)
    api.admin.post("/v1/allocations", json={"key": "other", "host": "h2", "tenant": "poll"})
    thread.join()
    assert out["elapsed"] >= 1.4
    assert out["view"]["endpoints"] == []

    # An allocation on h1 wakes it at once.
    after = out["view"]["revision"]
    thread = threading.Thread(target=_poll, args=(agent, after, 20, out))
    thread.start()
    time.sleep(0.3)
    api.admin.post("/v1/allocations", json={"key": "mine", "host": "h1", "tenant": "poll"})
    thread.join()
    assert out["elapsed"] < 5
    assert out["view"]["revision"] > after
    assert [e["key"] for e in out["view"]["endpoints"]] == ["mine"]

    # A further allocation of a tenant already on h1 changes no rule: the poll runs on.
    after = out["view"]["revision"]
    thread = threading.Thread(target=_poll, args=(agent, after, 1.5, out))
    thread.start()
    time.sleep(0.3)
    api.admin.post("/v1/allocations", json={"key": "mine-2", "host": "h1", "tenant": "poll"})
    thread.join()
    assert out["elapsed"] >= 1.4
    assert sorted(e["key"] for e in out["view"]["endpoints"]) == ["mine", "mine-2"]


def test_a_process_running_some_services_registers_with_the_root(tmp_path: Path) -> None:
    root = start(tmp_path, services=["root", "auth", "tenant", "topology"], registration_ttl=3)
    ipam = None
    try:
        ipam = start(
            tmp_path,
            name="ipam",
            services=["ipam"],
            root=root.url,
            registration_ttl=3,
            credentials=root.credentials,
        )
        deadline = time.monotonic() + 10
        listed: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            listed = httpx.get(f"{root.url}/v1/services", trust_env=False).json()
            if any(r["name"] == "ipam" for r in listed):
                break
            time.sleep(0.1)
        assert [r["url"] for r in listed if r["name"] == "ipam"] == [ipam.url]
        assert {r["name"] for r in listed if r["url"] == root.url} == {
            "root",
            "auth",
            "tenant",
            "topology",
        }
        # The ipam process serves ipam only, and says where the rest lives.
        r = httpx.get(f"{ipam.url}/v1/tenants", trust_env=False)
        assert r.status_code == 404 and "'tenant' service" in r.json()["detail"]
        assert root.url in r.json()["detail"]
        # Tokens from the root's auth service work on the ipam process (shared store).
        user, password = root.admin()
        token = httpx.post(
            f"{root.url}/v1/auth/token",
            json={"username": user, "password": password},
            trust_env=False,
        ).json()["token"]
        r = httpx.get(
            f"{ipam.url}/v1/allocations",
            headers={"Authorization": f"Bearer {token}"},
            trust_env=False,
        )
        assert r.status_code == 200
        ipam.stop()
        listed = httpx.get(f"{root.url}/v1/services", trust_env=False).json()
        assert not any(r["name"] == "ipam" for r in listed)
    finally:
        if ipam is not None:
            ipam.stop()
        root.stop()


def test_sigterm_releases_long_polls_and_exits_cleanly(tmp_path: Path) -> None:
    daemon = start(tmp_path)
    try:
        api = Api(daemon)
        api.admin.post("/v1/hosts", json={"name": "h1", "ip": "192.0.2.1", "labels": {"rack": "a"}})
        revision = api.admin.get("/v1/hosts/h1/view").json()["revision"]
        out: dict[str, Any] = {}
        thread = threading.Thread(target=_poll, args=(api.admin, revision + 1000, 60, out))
        thread.start()
        time.sleep(0.5)
        started = time.monotonic()
        daemon.stop()
        thread.join(10)
        assert daemon.process is not None and daemon.process.returncode == 0
        assert time.monotonic() - started < 4
        assert out["view"]["host"]["name"] == "h1"
    finally:
        daemon.stop()
