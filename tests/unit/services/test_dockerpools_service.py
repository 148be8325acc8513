"""Docker pool bindings: written once, checked field by field, and invisible to agents' waits."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from romana.core.dockerpools import DockerPool
from romana.core.errors import AlreadyExists, InvalidInput, NotFound
from romana.core.identifiers import HostName, NetworkName, SegmentName, TenantName
from romana.services.dockerpools import DockerPoolService
from romana.services.hostview import HostViewService
from unit.services.conftest import Services

POOL = "romana-0123456789abcdef01234567"
BLUE = TenantName("blue")
NETWORK_ID = "ab" * 32


def _pools(svc: Services) -> DockerPoolService:
    svc.tenants.create(BLUE)
    svc.tenants.add_segment(BLUE, SegmentName("web"))
    return DockerPoolService(svc.store, svc.tenants, svc.topology)


def _binding(**changes: str) -> DockerPool:
    binding = DockerPool(
        POOL, BLUE, SegmentName("web"), NetworkName("net4"), NETWORK_ID, HostName("h1")
    )
    return dataclasses.replace(binding, **changes)  # type: ignore[arg-type]


def test_a_binding_is_stored_read_listed_and_deleted(svc: Services) -> None:
    pools = _pools(svc)
    bound = pools.bind(_binding())
    assert bound.to_dict() == {
        "pool": POOL,
        "tenant": "blue",
        "segment": "web",
        "network": "net4",
        "docker_network": NETWORK_ID,
        "host": "h1",
        "pair": "",
    }
    assert pools.get(POOL) == bound
    assert pools.list() == [bound]
    assert pools.list(BLUE) == [bound]
    assert pools.list(TenantName("other")) == []
    assert pools.delete(POOL) == bound
    assert pools.list() == []
    with pytest.raises(NotFound, match="not bound: its network was not created through romana"):
        pools.get(POOL)
    with pytest.raises(NotFound, match=POOL):
        pools.delete(POOL)


def test_binding_again_is_idempotent_and_other_content_is_refused(svc: Services) -> None:
    pools = _pools(svc)
    first = pools.bind(_binding())
    revision = svc.store.revision()
    assert pools.bind(_binding()) == first
    assert svc.store.revision() == revision  # the same binding writes nothing
    with pytest.raises(AlreadyExists) as refused:
        pools.bind(_binding(segment="default", host="h2"))
    assert "segment 'web' (not 'default')" in str(refused.value)
    assert "host 'h1' (not 'h2')" in str(refused.value)
    assert "tenant" not in str(refused.value).split("with", 1)[1]
    assert pools.get(POOL) == first


def test_bad_syntax_names_every_field_and_stores_nothing(svc: Services) -> None:
    pools = _pools(svc)
    with pytest.raises(InvalidInput) as refused:
        pools.bind(_binding(pool="romana-XYZ", docker_network="NotHex", host="-h"))
    assert {i.field for i in refused.value.issues} == {"pool", "docker_network", "host"}
    with pytest.raises(InvalidInput) as long_id:
        pools.bind(_binding(docker_network="a" * 129))
    assert [i.field for i in long_id.value.issues] == ["docker_network"]
    for pair in ("romana-XYZ", POOL):
        with pytest.raises(InvalidInput) as bad_pair:
            pools.bind(_binding(pair=pair))
        assert [i.field for i in bad_pair.value.issues] == ["pair"], pair
    assert pools.list() == []


def test_a_dual_stack_networks_binding_names_its_other_pool(svc: Services) -> None:
    pools = _pools(svc)
    other = "romana-" + "f" * 24
    bound = pools.bind(_binding(pair=other))
    assert pools.get(POOL).pair == other == bound.pair
    with pytest.raises(AlreadyExists, match="pair"):
        pools.bind(_binding())


@pytest.mark.parametrize(
    ("changes", "error", "says"),
    [
        ({"tenant": "nobody"}, NotFound, "tenant 'nobody' does not exist"),
        ({"segment": "db"}, NotFound, "has no segment 'db' (its segments: default, web)"),
        ({"network": "nope"}, InvalidInput, "network: network 'nope' does not exist"),
        ({"network": "net6"}, InvalidInput, "does not allocate in network 'net6'"),
        ({"host": "h9"}, NotFound, "host 'h9' does not exist"),
    ],
)
def test_what_a_binding_names_must_exist_and_a_refusal_stores_nothing(
    svc: Services, changes: dict[str, str], error: type[Exception], says: str
) -> None:
    pools = _pools(svc)
    with pytest.raises(error) as refused:
        pools.bind(_binding(**changes))
    assert says in str(refused.value)
    if isinstance(refused.value, InvalidInput):
        assert [i.field for i in refused.value.issues] == ["network"]
    assert pools.list() == []
    with pytest.raises(NotFound):
        pools.get(POOL)


def test_a_binding_does_not_wake_an_agents_wait(svc: Services) -> None:
    pools = _pools(svc)
    hv = HostViewService(svc.store, svc.topology, svc.tenants, svc.ipam)
    start = hv.view("h1")["revision"]

    def bind_later() -> None:
        time.sleep(0.1)
        pools.bind(_binding())

    thread = threading.Thread(target=bind_later)
    thread.start()
    started = time.monotonic()
    hv.wait("h1", start, timeout=0.8)
    thread.join()
    assert time.monotonic() - started >= 0.75
    assert pools.get(POOL).host == "h1"
