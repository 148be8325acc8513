"""The service directory: registrations live for their TTL, heartbeats extend them."""

from __future__ import annotations

import pytest

from romana.core.errors import InvalidInput, NotFound
from romana.core.store import Store
from romana.services.instances import InstanceService


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_registration_lives_for_its_ttl_and_heartbeats_extend_it(store: Store) -> None:
    clock = Clock()
    reg = InstanceService(store, clock)
    reg.register("ipam", "a:9601", "http://10.0.0.1:9601/", ["POST /v1/allocations"], ttl=15)
    first = reg.list_live("ipam")
    assert [(r.instance, r.url, r.expires_at) for r in first] == [
        ("a:9601", "http://10.0.0.1:9601", 1015.0)
    ]
    clock.now = 1010.0
    reg.register("ipam", "a:9601", "http://10.0.0.1:9601", ttl=15)
    clock.now = 1020.0
    assert [r.instance for r in reg.list_live()] == ["a:9601"]
    clock.now = 1025.0
    assert reg.list_live() == []


def test_prune_removes_only_expired_registrations(store: Store) -> None:
    clock = Clock()
    reg = InstanceService(store, clock)
    reg.register("tenant", "old", "http://h:1", ttl=5)
    reg.register("tenant", "new", "http://h:2", ttl=50)
    clock.now += 10
    assert reg.prune() == 1
    assert [r.instance for r in reg.list_live("tenant")] == ["new"]
    clock.now += 100
    assert reg.list_live("tenant") == []
    reg.deregister("tenant", "new")
    with pytest.raises(NotFound, match="no instance 'new'"):
        reg.deregister("tenant", "new")


def test_every_problem_of_a_registration_is_reported_at_once(store: Store) -> None:
    reg = InstanceService(store)
    with pytest.raises(InvalidInput) as caught:
        reg.register("ipma", "-bad", "ftp://x", ["ok", ""], ttl=0)
    assert {i.field for i in caught.value.issues} == {
        "name",
        "instance",
        "url",
        "ttl",
        "capabilities[1]",
    }
    assert reg.list_live() == []
