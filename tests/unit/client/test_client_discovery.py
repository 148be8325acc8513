"""Discovery: each call goes to an instance of its service, found through the root."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from romana.core import errors
from support import wire

ROOT = "http://root.test:9600"
IPAM_A = "http://ipam-a.test:9601"
IPAM_B = "http://ipam-b.test:9602"
TENANT = "http://tenant.test:9603"


def ok(body: Any) -> Any:
    return lambda request: httpx.Response(200, json=body)


def alloc(instance: str) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            201,
            json={
                "key": "k",
                "host": "h",
                "tenant": "t",
                "segment": "default",
                "addresses": ["10.1.0.2"],
                # Not a field of the API: the client keeps it, and it says who answered.
                "served_by": instance,
            },
        )

    return handler


@pytest.fixture
def split(cluster: Any) -> Any:
    cluster.register("root", ROOT)
    cluster.register("ipam", IPAM_A, alloc(IPAM_A))
    cluster.register("ipam", IPAM_B, alloc(IPAM_B))
    cluster.register("tenant", TENANT, ok([]))
    return cluster


def test_each_call_goes_to_an_instance_of_its_service(split: Any) -> None:
    with split.client() as client:
        client.list_tenants()
        client.allocate("k", "h", "t")
    bases = {path: base for base, _, path in split.sent()}
    assert bases["/v1/tenants"] == TENANT
    assert bases["/v1/allocations"] in (IPAM_A, IPAM_B)
    assert all(base == ROOT for base, _, path in split.log if path == "/v1/services")


def test_calls_spread_over_the_instances_of_a_service(split: Any) -> None:
    with split.client() as client:
        served = {client.allocate(f"k{i}", "h", "t")["served_by"] for i in range(20)}
    assert served == {IPAM_A, IPAM_B}


def test_the_directory_is_cached_for_its_ttl_then_fetched_again(split: Any) -> None:
    with split.client(directory_ttl=5.0) as client:
        for _ in range(10):
            client.list_tenants()
        assert sum(1 for e in split.log if e[2] == "/v1/services") == 1
        split.now += 5.0
        client.list_tenants()
    assert sum(1 for e in split.log if e[2] == "/v1/services") == 2


def test_a_dead_instance_fails_over_at_once_and_is_then_avoided(split: Any) -> None:
    split.down.add(IPAM_A)
    with split.client() as client:
        served = [client.allocate(f"k{i}", "h", "t")["served_by"] for i in range(10)]
    assert served == [IPAM_B] * 10
    hits_on_dead = [e for e in split.sent("/v1/allocations") if e[0] == IPAM_A]
    assert len(hits_on_dead) <= 1
    assert split.sleeps == []


def test_the_registry_is_fetched_again_after_a_failure(split: Any) -> None:
    with split.client(directory_ttl=60.0) as client:
        client.list_tenants()
        split.down.add(TENANT)
        split.registry = [r for r in split.registry if r["url"] != TENANT]
        split.register("tenant", "http://tenant2.test:9604", ok([wire.tenant("moved")]))
        assert client.list_tenants() == [wire.tenant("moved")]


def test_a_service_with_no_live_instance_is_unavailable_not_sent_to_the_root(
    split: Any,
) -> None:
    split.registry = [r for r in split.registry if r["name"] != "ipam"]
    with (
        split.client(retries=2) as client,
        pytest.raises(errors.Unavailable, match="no instance of service 'ipam'"),
    ):
        client.allocate("k", "h", "t")
    assert split.sent("/v1/allocations") == []
    assert len(split.sleeps) == 2


def test_an_empty_registry_means_the_root_serves_everything(cluster: Any) -> None:
    cluster.add(ROOT, ok([]))
    with cluster.client() as client:
        client.list_tenants()
        client.list_allocations()
    assert {base for base, _, _ in cluster.sent()} == {ROOT}


def test_a_second_root_is_used_when_the_first_is_down(cluster: Any) -> None:
    other = "http://root2.test:9600"
    cluster.down.add(ROOT)
    cluster.add(other, ok([]))
    with cluster.client(url=(ROOT, other)) as client:
        client.list_tenants()
    assert cluster.sent("/v1/tenants") == [(other, "GET", "/v1/tenants")]


def test_no_root_answering_is_unavailable_naming_the_roots(cluster: Any) -> None:
    cluster.down.add(ROOT)
    with (
        cluster.client(retries=1) as client,
        pytest.raises(errors.Unavailable, match="no root answered") as info,
    ):
        client.list_tenants()
    assert ROOT in str(info.value)


def test_without_discovery_every_call_goes_to_the_roots(split: Any) -> None:
    split.add(ROOT, ok([]))
    with split.client(discover=False) as client:
        client.list_tenants()
    assert not any(e[2] == "/v1/services" for e in split.log)
    assert split.sent() == [(ROOT, "GET", "/v1/tenants")]
