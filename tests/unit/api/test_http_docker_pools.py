"""``/v1/docker-pools``: who may bind, read and delete a Docker network's pool binding, and
what a refusal leaves behind, over a real romanad process."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from romana.agent.romanad import Romanad
from romana.client import Client, ClientSettings
from romana.core.dockerpools import DockerPool
from romana.core.errors import AlreadyExists, Forbidden, NotFound
from unit.api.conftest import Api

NETWORK_ID = "cd" * 32


def _pool(n: int) -> str:
    return f"romana-{n:024x}"


def _body(**changes: str) -> dict[str, Any]:
    body = {
        "tenant": "docker-blue",
        "segment": "web",
        "network": "pods",
        "docker_network": NETWORK_ID,
        "host": "h1",
    }
    return body | changes


def _tenant(api: Api) -> None:
    created = api.admin.post("/v1/tenants", json={"name": "docker-blue"})
    assert created.status_code in (201, 409), created.text
    segment = api.admin.post("/v1/tenants/docker-blue/segments", json={"name": "web"})
    assert segment.status_code in (201, 409), segment.text


def _issues(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    return {i["field"] for i in response.json()["issues"]}


def test_an_agent_binds_only_as_its_own_host_and_uses_every_binding(api: Api) -> None:
    _tenant(api)
    h1 = api.user("docker-agent-h1", "agent", host="h1")
    h2 = api.user("docker-agent-h2", "agent", host="h2")
    refused = h1.put(f"/v1/docker-pools/{_pool(1)}", json=_body(host="h2"))
    assert refused.status_code == 403, refused.text
    assert "bind-docker-pool" in refused.json()["detail"]
    assert api.admin.get(f"/v1/docker-pools/{_pool(1)}").status_code == 404
    bound = h1.put(f"/v1/docker-pools/{_pool(1)}", json=_body())
    assert bound.status_code == 200, bound.text
    assert bound.json() == {"pool": _pool(1), "pair": "", **_body()}
    again = h1.put(f"/v1/docker-pools/{_pool(1)}", json=_body())
    assert again.status_code == 200 and again.json() == bound.json()
    # Another host of the Docker cluster reads it, lists it and removes it.
    assert h2.get(f"/v1/docker-pools/{_pool(1)}").json() == bound.json()
    assert bound.json() in h2.get("/v1/docker-pools").json()
    blue = h2.get("/v1/docker-pools", params={"tenant": "docker-blue"}).json()
    assert bound.json() in blue and {b["tenant"] for b in blue} == {"docker-blue"}
    assert h2.get("/v1/docker-pools", params={"tenant": "nobody"}).json() == []
    deleted = h2.delete(f"/v1/docker-pools/{_pool(1)}")
    assert deleted.status_code == 200 and deleted.json() == bound.json()
    gone = h2.get(f"/v1/docker-pools/{_pool(1)}")
    assert gone.status_code == 404
    assert gone.json()["detail"] == (
        f"docker pool {_pool(1)} is not bound: its network was not created through romana"
    )
    assert h2.delete(f"/v1/docker-pools/{_pool(1)}").status_code == 404


def test_a_second_bind_with_other_content_is_409_and_leaves_the_first(api: Api) -> None:
    _tenant(api)
    service = api.user("docker-service", "service")
    first = service.put(f"/v1/docker-pools/{_pool(2)}", json=_body(host="h2"))
    assert first.status_code == 200, first.text
    other = service.put(f"/v1/docker-pools/{_pool(2)}", json=_body(segment="default", host="h2"))
    assert other.status_code == 409, other.text
    assert "segment 'web' (not 'default')" in other.json()["detail"]
    assert api.admin.get(f"/v1/docker-pools/{_pool(2)}").json() == first.json()


def test_tenant_and_openstack_users_may_do_nothing_with_bindings(api: Api) -> None:
    _tenant(api)
    assert api.admin.put(f"/v1/docker-pools/{_pool(3)}", json=_body()).status_code == 200
    tenant = api.user("docker-tenant-user", "tenant", tenant="docker-blue")
    openstack = api.user("docker-neutron", "openstack")
    for caller in (tenant, openstack):
        calls = (
            caller.put(f"/v1/docker-pools/{_pool(4)}", json=_body()),
            caller.get(f"/v1/docker-pools/{_pool(3)}"),
            caller.get("/v1/docker-pools"),
            caller.delete(f"/v1/docker-pools/{_pool(3)}"),
        )
        assert [r.status_code for r in calls] == [403] * 4, [r.text for r in calls]
    assert api.admin.get(f"/v1/docker-pools/{_pool(4)}").status_code == 404
    assert api.admin.get(f"/v1/docker-pools/{_pool(3)}").status_code == 200


def test_bad_input_names_its_field_and_leaves_nothing_behind(api: Api) -> None:
    _tenant(api)
    c = api.admin
    pool = _pool(5)
    assert _issues(c.put("/v1/docker-pools/romana-short", json=_body())) == {"pool"}
    assert _issues(c.put(f"/v1/docker-pools/{pool}", json=_body(docker_network="XYZ"))) == {
        "docker_network"
    }
    assert _issues(c.put(f"/v1/docker-pools/{pool}", json=_body(network="nope"))) == {"network"}
    assert _issues(c.put(f"/v1/docker-pools/{pool}", json={**_body(), "extra": 1})) == {"extra"}
    assert _issues(c.put(f"/v1/docker-pools/{pool}", json=_body(pair="romana-x"))) == {"pair"}
    assert _issues(c.put(f"/v1/docker-pools/{pool}", json=_body(pair=pool))) == {"pair"}
    tenant = c.put(f"/v1/docker-pools/{pool}", json=_body(tenant="nobody"))
    assert tenant.status_code == 404 and "tenant 'nobody'" in tenant.json()["detail"]
    segment = c.put(f"/v1/docker-pools/{pool}", json=_body(segment="db"))
    assert segment.status_code == 404, segment.text
    assert "no segment 'db' (its segments: default, web)" in segment.json()["detail"]
    host = c.put(f"/v1/docker-pools/{pool}", json=_body(host="h9"))
    assert host.status_code == 404 and "host 'h9'" in host.json()["detail"]
    assert c.get(f"/v1/docker-pools/{pool}").status_code == 404
    assert all(b["pool"] != pool for b in c.get("/v1/docker-pools").json())


def test_the_agents_client_binds_reads_and_deletes_with_the_errors_romanad_answers(
    api: Api,
) -> None:
    _tenant(api)
    api.user("docker-agent-client", "agent", host="h2")
    settings = ClientSettings(url=(api.url,), discover=False, retries=0)
    agent = Romanad(Client(settings), ("docker-agent-client", "docker-agent-client-password"))
    pool = _pool(6)
    body = _body(host="h2")
    del body["host"]

    def binding(pool: str, host: str, **changes: str) -> DockerPool:
        return DockerPool.from_dict({"pool": pool, "host": host, **body, **changes})

    async def calls() -> None:
        bound = await agent.bind_docker_pool(binding(pool, "h2"))
        assert bound == {"pool": pool, "host": "h2", "pair": "", **body}
        assert await agent.bind_docker_pool(binding(pool, "h2")) == bound
        with pytest.raises(AlreadyExists, match="segment 'web' \\(not 'default'\\)"):
            await agent.bind_docker_pool(binding(pool, "h2", segment="default"))
        with pytest.raises(Forbidden):
            await agent.bind_docker_pool(binding(_pool(7), "h1"))
        assert await agent.get_docker_pool(pool) == bound
        blue = await agent.list_docker_pools("docker-blue")
        assert bound in blue and {b["tenant"] for b in blue} == {"docker-blue"}
        assert bound in await agent.list_docker_pools()
        assert await agent.delete_docker_pool(pool) == bound
        with pytest.raises(NotFound, match="is not bound"):
            await agent.get_docker_pool(pool)
        with pytest.raises(NotFound):
            await agent.delete_docker_pool(pool)

    try:
        asyncio.run(calls())
    finally:
        agent.close()
