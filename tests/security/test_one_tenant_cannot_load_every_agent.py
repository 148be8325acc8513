"""One tenant cannot load every agent.

Issue 8: a tenant posted 5,000 policies in one request, and every host received all of them
(a 7 MB view for a host with none of that tenant's endpoints), compiling for 3.9 s. Now each
tenant has quotas of policies, allocations and segments (admin-set defaults, per-tenant
overrides); a refusal names tenant, quota, limit and usage and changes nothing. And a host's
view carries a tenant's own policies only while the host has an endpoint of that tenant.

A real romanad over SQLite; the agents' side is ``tests/functional/agent/
test_agent_first_endpoint_of_a_tenant.py``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from romana.cli.main import app
from romana.client import Client, ClientSettings
from romana.core.errors import QuotaExceeded
from unit.api.conftest import Api, start

TENANT = "greedy"
QUOTA_TYPE = "https://romana.io/problems/quota-exceeded"


def _policy(i: int) -> dict[str, Any]:
    return {
        "name": f"greedy-{i}",
        "applied_to": [{"tenant": TENANT}],
        "ingress": [{"peers": [{"tenant": TENANT}], "rules": [{"protocol": "tcp", "ports": [i]}]}],
    }


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    daemon = start(tmp_path_factory.mktemp("quotas"))
    try:
        a = Api(daemon)
        for name, rack, ip in (("h1", "a", "192.0.2.1"), ("h2", "b", "192.0.2.2")):
            body = {"name": name, "ip": ip, "labels": {"rack": rack}}
            assert a.admin.post("/v1/hosts", json=body).status_code == 201
        yield a
    finally:
        daemon.stop()


@pytest.fixture(scope="module")
def tenant(api: Api) -> httpx.Client:
    return api.user("greedy-user", "tenant", tenant=TENANT)


def _refused(response: httpx.Response, quota: str, limit: int, usage: int) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["type"] == QUOTA_TYPE
    assert (body["tenant"], body["quota"], body["limit"], body["usage"]) == (
        TENANT,
        quota,
        limit,
        usage,
    )
    assert f"romana quota set --tenant {TENANT} --{quota}" in body["detail"]
    assert "retry-after" not in response.headers


def test_quotas_refuse_clearly_change_nothing_and_an_admin_raises_them(
    api: Api, tenant: httpx.Client
) -> None:
    quota = {"policies": 3, "allocations": 2, "segments": 2}
    assert tenant.put(f"/v1/tenants/{TENANT}/quota", json={"policies": 10**6}).status_code == 403
    assert api.admin.put(f"/v1/tenants/{TENANT}/quota", json=quota).is_success

    # Policies: a request past the quota stores none of its policies.
    _refused(tenant.post("/v1/policies", json=[_policy(i) for i in range(1, 6)]), "policies", 3, 0)
    assert tenant.get("/v1/policies").json() == []
    assert tenant.post("/v1/policies", json=[_policy(i) for i in range(1, 4)]).is_success
    _refused(tenant.post("/v1/policies", json=_policy(4)), "policies", 3, 3)

    # Allocations.
    for key in ("g1", "g2"):
        body = {"key": key, "host": "h1", "tenant": TENANT}
        assert tenant.post("/v1/allocations", json=body).status_code == 201
    _refused(
        tenant.post("/v1/allocations", json={"key": "g3", "host": "h1", "tenant": TENANT}),
        "allocations",
        2,
        2,
    )
    assert tenant.get("/v1/allocations/g3").status_code == 404

    # Segments (default included).
    segments = f"/v1/tenants/{TENANT}/segments"
    assert tenant.post(segments, json={"name": "web"}).status_code == 201
    _refused(tenant.post(segments, json={"name": "db"}), "segments", 2, 2)
    assert set(tenant.get(f"/v1/tenants/{TENANT}").json()["segments"]) == {"default", "web"}

    report = tenant.get(f"/v1/tenants/{TENANT}/quota").json()
    assert report["usage"] == {"policies": 3, "allocations": 2, "segments": 2}
    assert report["limits"] == quota and report["override"] == quota

    # The client raises QuotaExceeded, not Forbidden; the CLI says so with its own code.
    token = tenant.headers["Authorization"].split()[1]
    settings = ClientSettings(url=(api.url,), token=token, retries=0)
    with Client(settings) as client, pytest.raises(QuotaExceeded) as caught:
        client.allocate("g3", "h1", TENANT)
    assert (caught.value.quota, caught.value.limit, caught.value.usage) == ("allocations", 2, 2)
    environ = {"ROMANA_URL": api.url, "ROMANA_TOKEN": token, "ROMANA_CONFIG": "/nonexistent"}
    result = CliRunner().invoke(app, ["segment", "add", TENANT, "db"], env=environ)
    assert result.exit_code == 12, result.output

    # An admin raises them, with the CLI; then the same requests succeed.
    admin_env = {**environ, "ROMANA_TOKEN": api.admin.headers["Authorization"].split()[1]}
    argv = ["quota", "set", "--tenant", TENANT, "--policies", "300", "--allocations", "3"]
    result = CliRunner().invoke(app, [*argv, "--segments", "3", "-o", "json"], env=admin_env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["limits"] == {
        "policies": 300,
        "allocations": 3,
        "segments": 3,
    }
    assert tenant.post("/v1/policies", json=_policy(4)).is_success
    body = {"key": "g3", "host": "h1", "tenant": TENANT}
    assert tenant.post("/v1/allocations", json=body).status_code == 201
    assert tenant.post(segments, json={"name": "db"}).status_code == 201


def test_defaults_are_admin_set_and_shown(api: Api, tenant: httpx.Client) -> None:
    defaults = api.admin.get("/v1/quotas").json()
    assert defaults == {"policies": 1000, "allocations": 65536, "segments": 256}
    assert tenant.put("/v1/quotas", json={"policies": 10**6}).status_code == 403
    assert api.admin.put("/v1/quotas", json={"segments": 64}).json()["segments"] == 64
    assert api.admin.get("/v1/quotas").json() == {**defaults, "segments": 64}
    assert api.admin.put("/v1/quotas", json=defaults).is_success


def test_a_host_without_the_tenants_endpoints_gets_none_of_its_policies(
    api: Api, tenant: httpx.Client
) -> None:
    """After the test above: ``greedy`` holds 4 policies and endpoints on h1 only."""
    assert api.admin.put(f"/v1/tenants/{TENANT}/quota", json={"policies": 300}).is_success
    assert tenant.post("/v1/policies", json=[_policy(i) for i in range(100, 390)]).is_success
    loaded = api.admin.get("/v1/hosts/h1/view").json()
    quiet = api.admin.get("/v1/hosts/h2/view").json()
    assert loaded["policy_tenants"] == [TENANT] and len(loaded["policies"]) == 294
    assert quiet["policy_tenants"] == [] and quiet["policies"] == []
    assert len(json.dumps(quiet)) * 20 < len(json.dumps(loaded))

    # h2's long poll sleeps through the tenant's policy changes ...
    revision = quiet["revision"]
    polled: dict[str, float] = {}

    def poll() -> None:
        started = time.monotonic()
        api.admin.get("/v1/hosts/h2/view", params={"after": revision, "wait": 2})
        polled["elapsed"] = time.monotonic() - started

    thread = threading.Thread(target=poll)
    thread.start()
    time.sleep(0.3)
    assert tenant.delete(f"/v1/policies/{TENANT}/greedy-100").is_success
    assert tenant.post("/v1/policies", json=_policy(999)).is_success
    thread.join()
    assert polled["elapsed"] >= 1.9

    # ... and its first endpoint of the tenant brings them.
    assert api.admin.put(f"/v1/tenants/{TENANT}/quota", json={"allocations": 4}).is_success
    body = {"key": "g-h2", "host": "h2", "tenant": TENANT}
    assert tenant.post("/v1/allocations", json=body).status_code == 201
    params = {"after": revision, "wait": 10}
    view = api.admin.get("/v1/hosts/h2/view", params=params).json()
    assert view["policy_tenants"] == [TENANT] and len(view["policies"]) == 294
