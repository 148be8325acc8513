"""Every error maps to its documented status and problem JSON; bad input is never a 5xx."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator

import pytest

from romana.api import errors
from romana.api.app import create_app
from romana.api.settings import RomanadSettings
from romana.core import errors as core
from romana.core import problems
from romana.store.memory import MemoryStore
from unit.api.conftest import TOPOLOGY

with warnings.catch_warnings():
    # Starlette asks for its httpx fork for the test client; plain httpx still works.
    warnings.filterwarnings("ignore", message=".*httpx2")
    from fastapi.testclient import TestClient

DOCUMENTED = [
    (core.InvalidInput([core.Issue("name", "must be short")]), 422),
    (core.Unsupported("no"), 422),
    (core.NotFound("gone"), 404),
    (core.AlreadyExists("twice"), 409),
    (core.Conflict("race", retry_after=2.5), 409),
    (core.Exhausted("full"), 507),
    (core.Unauthorized("who"), 401),
    (core.Forbidden("no"), 403),
    (core.QuotaExceeded("acme", "policies", 10, 10), 403),
    (core.Unavailable("down"), 503),
    (core.Compacted("old"), 503),
    (core.Throttled("slow down", retry_after=4), 429),
]


@pytest.mark.parametrize(("error", "status"), DOCUMENTED, ids=lambda v: type(v).__name__)
def test_every_error_class_has_its_documented_status(error: core.RomanaError, status: int) -> None:
    response = errors.from_error(error)
    body = json.loads(bytes(response.body))
    assert response.status_code == status
    assert response.media_type == "application/problem+json"
    assert body["status"] == status and body["detail"] == error.message
    assert ("issues" in body) is isinstance(error, core.InvalidInput)
    assert ("retry-after" in response.headers) is error.temporary
    if isinstance(error, core.Conflict):
        assert response.headers["retry-after"] == "3"


def test_every_error_class_is_in_the_table() -> None:
    classes = {type(e) for e, _ in DOCUMENTED}
    assert set(problems.TABLE) - {core.RomanaError} <= classes
    assert {
        c for c in vars(core).values() if isinstance(c, type) and issubclass(c, core.RomanaError)
    } - {core.RomanaError} <= classes


@pytest.fixture
def client() -> Iterator[TestClient]:
    store = MemoryStore()
    settings = RomanadSettings(store="memory://", insecure=True)
    with TestClient(create_app(settings, store)) as c:
        assert c.put("/v1/topology", json=TOPOLOGY).status_code == 200
        assert (
            c.post(
                "/v1/hosts", json={"name": "h1", "ip": "192.0.2.1", "labels": {"rack": "a"}}
            ).status_code
            == 201
        )
        yield c


def test_service_errors_through_http(client: TestClient) -> None:
    assert client.get("/v1/tenants/none").status_code == 404
    assert client.post("/v1/tenants", json={"name": "web"}).status_code == 201
    dup = client.post("/v1/tenants", json={"name": "web"})
    assert dup.status_code == 409 and "retry-after" not in dup.headers
    alloc = client.post("/v1/allocations", json={"key": "k", "host": "h1", "tenant": "web"})
    assert alloc.status_code == 201
    again = client.post("/v1/allocations", json={"key": "k", "host": "h1", "tenant": "web"})
    assert again.status_code == 200 and again.json() == alloc.json()
    busy = client.delete("/v1/tenants/web")
    assert busy.status_code == 409 and busy.headers["retry-after"]
    bad = client.post("/v1/tenants", json={"name": "-bad-"})
    assert bad.status_code == 422
    assert [i["field"] for i in bad.json()["issues"]] == ["name"]
    for i in range(15):
        client.post("/v1/tenants", json={"name": f"t{i}"})
    full = client.post("/v1/tenants", json={"name": "one-too-many"})
    assert full.status_code == 507, full.text


def test_malformed_json_is_400_naming_the_body(client: TestClient) -> None:
    r = client.post(
        "/v1/tenants", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["issues"] == [{"field": "body", "rule": "must be valid JSON"}]


def test_wrong_shape_is_422_naming_every_field(client: TestClient) -> None:
    r = client.post("/v1/allocations", json={"key": 5, "host": "h1", "colour": "red"})
    assert r.status_code == 422
    fields = {i["field"] for i in r.json()["issues"]}
    assert fields == {"key", "tenant", "colour"}
    r = client.get("/v1/hosts/h1/view", params={"after": "soon"})
    assert r.status_code == 422
    assert [i["field"] for i in r.json()["issues"]] == ["query.after"]
    r = client.patch("/v1/hosts/h1", json={"labels": {"rack": 1}})
    assert r.status_code == 422 and r.json()["issues"][0]["field"] == "labels.rack"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/v1/topology", {"networks": "nope"}),
        ("PUT", "/v1/topology", {"networks": [{"name": 1, "cidr": "10.0.0.0/33"}], "x": 1}),
        ("POST", "/v1/policies", [1, "two", None]),
        ("POST", "/v1/policies", []),
        ("POST", "/v1/policies", {"ingress": [{"rules": [{"protocol": 7}]}]}),
        ("POST", "/v1/hosts", {"name": "h9", "ip": "not-an-ip"}),
        ("PUT", "/v1/networks/pods/blackouts", {"cidrs": ["zzz", "11.0.0.0/8"]}),
        ("GET", "/v1/decode/not-an-address", None),
        ("GET", "/v1/decode/8.8.8.8", None),
        ("DELETE", "/v1/addresses/bogus", None),
        ("POST", "/v1/users", {"username": "x", "password": "y", "role": "king"}),
        ("PUT", "/v1/services/nope/-x", {"url": "gopher://", "ttl": -1}),
    ],
)
def test_bad_input_is_a_4xx_problem(
    client: TestClient, method: str, path: str, body: object
) -> None:
    r = client.request(method, path, json=body)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"] == "application/problem+json"


def test_unserved_service_is_404_naming_it() -> None:
    store = MemoryStore()
    settings = RomanadSettings(store="memory://", insecure=True, services=("root", "tenant"))
    with TestClient(create_app(settings, store)) as c:
        assert c.get("/healthz").json()["services"] == ["root", "tenant"]
        assert c.get("/v1/tenants").status_code == 200
        r = c.get("/v1/allocations")
        assert r.status_code == 404
        assert "'ipam' service" in r.json()["detail"]
        assert "/v1/services" in r.json()["detail"]
        assert "'agent-view' service" in c.get("/v1/hosts/h1/view").json()["detail"]
        assert "no such resource" in c.get("/v1/nothing").json()["detail"]
        assert c.put("/v1/tenants").status_code == 405


@pytest.mark.parametrize(
    "body",
    [b"[" * 100_000, b'{"a":' * 50_000 + b"1" + b"}" * 50_000, b"\xff\xfe", b"{}}"],
    ids=["deep-list", "deep-object", "not-utf8", "trailing"],
)
def test_unparseable_bodies_are_400_naming_the_body(client: TestClient, body: bytes) -> None:
    r = client.post("/v1/policies", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["issues"] == [{"field": "body", "rule": "must be valid JSON"}]
