"""The client maps every problem response and transport failure to the project's errors."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from romana.client import transport
from romana.core import errors

ROOT = "http://root.test:9600"


@pytest.mark.parametrize(
    ("status", "extra", "expected"),
    [
        (400, {}, errors.InvalidInput),
        (401, {}, errors.Unauthorized),
        (403, {}, errors.Forbidden),
        (404, {}, errors.NotFound),
        (405, {}, errors.Unsupported),
        (409, {}, errors.AlreadyExists),
        (409, {"headers": {"Retry-After": "2"}}, errors.Conflict),
        (422, {"issues": [{"field": "name", "rule": "must not be empty"}]}, errors.InvalidInput),
        (422, {}, errors.Unsupported),
        (418, {}, errors.InvalidInput),
        (500, {}, errors.Unavailable),
        (503, {"headers": {"Retry-After": "1"}}, errors.Unavailable),
        (507, {}, errors.Exhausted),
    ],
)
def test_each_status_becomes_its_error_with_the_servers_detail(
    cluster: Any, status: int, extra: dict[str, Any], expected: type[errors.RomanaError]
) -> None:
    cluster.add(ROOT, lambda r: cluster.problem(status, "tenant 'x' is unhappy", **dict(extra)))
    with cluster.client(retries=0) as client, pytest.raises(errors.RomanaError) as info:
        client.get_tenant("x")
    assert type(info.value) is expected
    assert str(info.value) == "tenant 'x' is unhappy"
    cause = info.value.__cause__
    assert isinstance(cause, transport.HTTPStatusError)
    assert cause.response.status_code == status


def test_conflict_and_unavailable_carry_retry_after(cluster: Any) -> None:
    cluster.add(ROOT, lambda r: cluster.problem(409, "busy", headers={"Retry-After": "2.5"}))
    with cluster.client() as client, pytest.raises(errors.Conflict) as info:
        client.delete_tenant("acme")
    assert info.value.retry_after == 2.5
    assert errors.is_temporary(info.value)


def test_validation_issues_survive_the_trip(cluster: Any) -> None:
    issues = [
        {"field": "name", "rule": "must match [a-z0-9-]+"},
        {"field": "networks[0]", "rule": "no network 'nope'"},
    ]
    cluster.add(ROOT, lambda r: cluster.problem(422, "2 problems", issues=issues))
    with cluster.client() as client, pytest.raises(errors.InvalidInput) as info:
        client.create_tenant("Bad Name", networks=["nope"])
    assert info.value.issues == (
        errors.Issue("name", "must match [a-z0-9-]+"),
        errors.Issue("networks[0]", "no network 'nope'"),
    )
    assert str(info.value) == "2 problems"


def test_a_non_json_error_body_still_gives_a_readable_message(cluster: Any) -> None:
    cluster.add(ROOT, lambda r: httpx.Response(404, text="no such route\nmore"))
    with cluster.client() as client, pytest.raises(errors.NotFound, match=r"^no such route$"):
        client.list_hosts()


def test_a_refused_connection_is_unavailable_chained_to_the_transport_failure(
    cluster: Any,
) -> None:
    cluster.down.add(ROOT)
    with cluster.client(retries=0) as client, pytest.raises(errors.Unavailable) as info:
        client.health(ROOT)
    assert isinstance(info.value.__cause__, transport.ConnectError)
    assert isinstance(info.value.__cause__.__cause__, httpx.ConnectError)
    assert ROOT in str(info.value)


def test_the_token_is_sent_as_a_bearer_header_and_login_replaces_it(cluster: Any) -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        if request.url.path == "/v1/auth/token":
            assert cluster.body_of(request) == {"username": "admin", "password": "pw"}
            return httpx.Response(
                200, json={"token": "fresh", "expires_at": 1.0, "role": "admin", "tenant": None}
            )
        return httpx.Response(200, json=[])

    cluster.add(ROOT, handler)
    with cluster.client(token="old") as client:
        client.list_tenants()
        token = client.login("admin", "pw")
        client.list_tenants()
    assert token["role"] == "admin"
    assert seen == ["Bearer old", "Bearer old", "Bearer fresh"]


def test_no_authorization_header_without_a_token(cluster: Any) -> None:
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"status": "ok", "services": [], "store": "sqlite"})

    cluster.add(ROOT, handler)
    with cluster.client(token="") as client:
        assert client.health()["store"] == "sqlite"
    assert seen == [None]


def test_names_are_quoted_into_paths_and_empty_bodies_are_none(cluster: Any) -> None:
    paths: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.raw_path.decode())
        return httpx.Response(200, json=[]) if request.method == "GET" else httpx.Response(204)

    cluster.add(ROOT, handler)
    with cluster.client() as client:
        client.delete_user("x y")
        client.delete_user("a/b")
        client.list_allocations(host="h1")
    assert paths == [
        "/v1/users/x%20y",
        "/v1/users/a%2Fb",
        "/v1/allocations?host=h1",
    ]
