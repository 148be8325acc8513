"""Retries: only when safe, bounded, jittered, and backing off only after every instance failed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from romana.client import transport
from romana.core import errors

ROOT = "http://root.test:9600"
ALLOC = {"key": "k1", "host": "h1", "tenant": "t", "segment": "default", "addresses": ["10.1.17.1"]}
TENANT = {
    "name": "t",
    "external_id": "",
    "ids": {},
    "segments": {},
    "requested_networks": [],
    "isolation": {"mode": "romana", "segments": "isolated"},
}


def scripted(cluster: Any, *steps: Any) -> None:
    """ROOT answers with each step in turn: a Response, or an exception class to raise."""
    it: Iterator[Any] = iter(steps)

    def handler(request: httpx.Request) -> httpx.Response:
        step = next(it)
        if isinstance(step, type):
            raise step("scripted failure", request=request)
        return step

    cluster.add(ROOT, handler)


def test_an_idempotent_call_is_retried_until_the_service_answers(cluster: Any) -> None:
    unavailable = cluster.problem(503, "store down")
    scripted(cluster, unavailable, unavailable, httpx.Response(200, json=ALLOC))
    with cluster.client(retries=4, backoff=0.1, backoff_max=2.0) as client:
        assert client.get_allocation("k1") == ALLOC
    assert len(cluster.sent()) == 3
    assert len(cluster.sleeps) == 2
    assert 0 <= cluster.sleeps[0] <= 0.1
    assert 0 <= cluster.sleeps[1] <= 0.2


def test_backoff_is_capped_and_the_budget_bounds_the_attempts(cluster: Any) -> None:
    cluster.add(ROOT, lambda r: cluster.problem(503, "store down"))
    with (
        cluster.client(retries=6, backoff=0.5, backoff_max=1.0) as client,
        pytest.raises(errors.Unavailable, match="store down") as info,
    ):
        client.list_tenants()
    assert len(cluster.sent()) == 7
    assert len(cluster.sleeps) == 6
    assert all(0 <= s <= 1.0 for s in cluster.sleeps)
    assert isinstance(info.value.__cause__, transport.HTTPStatusError)


def test_retry_after_is_honoured_up_to_the_cap(cluster: Any) -> None:
    busy = cluster.problem(503, "leader election", headers={"Retry-After": "0.7"})
    scripted(cluster, busy, httpx.Response(200, json=[]))
    with cluster.client(backoff=0.01, backoff_max=5.0) as client:
        client.list_tenants()
    assert cluster.sleeps == [pytest.approx(0.7)]


@pytest.mark.parametrize("failure", [httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_allocation_is_retried_after_a_lost_response_because_it_is_idempotent_by_key(
    cluster: Any, failure: type[Exception]
) -> None:
    scripted(cluster, failure, httpx.Response(200, json=ALLOC))
    with cluster.client() as client:
        assert client.allocate("k1", "h1", "t")["addresses"] == ["10.1.17.1"]
    assert [e[2] for e in cluster.sent()] == ["/v1/allocations"] * 2


@pytest.mark.parametrize(
    "failure", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.WriteError]
)
def test_a_non_idempotent_call_that_may_have_reached_the_server_is_not_repeated(
    cluster: Any, failure: type[Exception]
) -> None:
    scripted(cluster, failure, httpx.Response(201, json=TENANT))
    with cluster.client() as client, pytest.raises(errors.Unavailable) as info:
        client.create_tenant("t")
    assert len(cluster.sent()) == 1
    assert isinstance(info.value.__cause__, transport.TransportError)
    assert isinstance(info.value.__cause__.__cause__, failure)


def test_a_non_idempotent_call_is_not_repeated_after_a_5xx(cluster: Any) -> None:
    scripted(cluster, cluster.problem(503, "store down"), httpx.Response(201, json=TENANT))
    with cluster.client() as client, pytest.raises(errors.Unavailable):
        client.create_tenant("t")
    assert len(cluster.sent()) == 1


def test_a_non_idempotent_call_is_retried_when_no_connection_was_made(cluster: Any) -> None:
    scripted(cluster, httpx.ConnectError, httpx.ConnectTimeout, httpx.Response(201, json=TENANT))
    with cluster.client() as client:
        assert client.create_tenant("t")["name"] == "t"
    assert len(cluster.sent()) == 3


@pytest.mark.parametrize(
    "response",
    [
        (404, "no allocation with key 'k1'"),
        (409, "key is held by another host"),
        (401, "token expired"),
    ],
)
def test_permanent_errors_are_raised_at_once(cluster: Any, response: tuple[int, str]) -> None:
    cluster.add(ROOT, lambda r: cluster.problem(*response))
    with cluster.client() as client, pytest.raises(errors.RomanaError, match=response[1]):
        client.release("k1")
    assert len(cluster.sent()) == 1
    assert cluster.sleeps == []
