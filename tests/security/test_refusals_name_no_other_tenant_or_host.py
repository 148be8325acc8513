"""A refusal tells a scoped caller nothing about other tenants' or hosts' objects.

Security review: allocation keys are global, and reusing one answered 409 naming the host,
tenant and segment holding it, so a tenant user (or an agent) could learn another tenant's
(or host's) allocations one guessed key at a time; ``GET /v1/decode/{address}`` answered 403
naming the tenant of any address, allocated or not, so a tenant user could list every
tenant's name. Now a caller who may not read the holder gets a 409 naming only the key, and
decoding another tenant's address answers exactly as an address of no tenant does (404).
Admins and services still get the details.

A real romanad over SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from romana.lab.romanad import Romanad
from support.romanad import AdminCalls
from unit.api.conftest import start

# Names that no other part of a response could contain by chance, so that their absence
# from the whole body shows nothing was disclosed.
THEIRS = "acme-secret"
MINE = "mine"
EAST, WEST = "east-node", "west-node"
OWNER_DETAILS = (THEIRS, WEST, "segment", "default")


class Deployment(AdminCalls):
    """Hosts east-node and west-node, tenants ``mine`` and ``acme-secret``; allocations of
    acme-secret on both hosts; a tenant user of ``mine`` and an agent bound to east-node."""

    def __init__(self, daemon: Romanad) -> None:
        super().__init__(daemon)
        for name, rack, ip in ((EAST, "a", "192.0.2.1"), (WEST, "b", "192.0.2.2")):
            self.ok("POST", "/v1/hosts", {"name": name, "ip": ip, "labels": {"rack": rack}})
        for tenant in (THEIRS, MINE):
            self.ok("POST", "/v1/tenants", {"name": tenant})
        self.east_pod = self.ok(
            "POST", "/v1/allocations", {"key": "pod-1", "host": EAST, "tenant": THEIRS}
        )
        self.west_pod = self.ok(
            "POST", "/v1/allocations", {"key": "pod-2", "host": WEST, "tenant": THEIRS}
        )
        self.tenant_user = self.user("me", role="tenant", tenant=MINE)
        self.agent = self.user("agent-east", role="agent", host=EAST)

    def user(self, name: str, **fields: str) -> str:
        body = {"username": name, "password": f"{name}-password", **fields}
        self.ok("POST", "/v1/users", body)
        return self.daemon.login(name, f"{name}-password")


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with start(tmp_path_factory.mktemp("undisclosed")) as daemon:
        yield Deployment(daemon)


def _undisclosed(r: httpx.Response, key: str, *addresses: object) -> None:
    """409 naming the key and nothing of the allocation holding it."""
    assert r.status_code == 409, r.text
    assert r.json()["detail"] == f"key {key!r} is already in use; choose another key"
    for secret in (*OWNER_DETAILS, *(str(a) for a in addresses)):
        assert secret not in r.text, r.text


def test_a_tenant_user_reusing_another_tenants_key_learns_nothing(d: Deployment) -> None:
    body = {"key": "pod-1", "host": EAST, "tenant": MINE}
    r = d.call(d.tenant_user, "POST", "/v1/allocations", body)
    _undisclosed(r, "pod-1", *d.east_pod["addresses"])
    assert "Retry-After" not in r.headers  # AlreadyExists, not a Conflict worth retrying
    assert d.call(d.admin, "GET", "/v1/allocations/pod-1").json() == d.east_pod


def test_an_agent_reusing_another_hosts_key_learns_nothing(d: Deployment) -> None:
    body = {"key": "pod-2", "host": EAST, "tenant": MINE}
    r = d.call(d.agent, "POST", "/v1/allocations", body)
    _undisclosed(r, "pod-2", *d.west_pod["addresses"])
    assert d.call(d.admin, "GET", "/v1/allocations/pod-2").json() == d.west_pod


def test_a_caller_who_may_read_the_holder_gets_the_details(d: Deployment) -> None:
    # The agent may read every allocation on its host, of any tenant.
    r = d.call(d.agent, "POST", "/v1/allocations", {"key": "pod-1", "host": EAST, "tenant": MINE})
    assert r.status_code == 409, r.text
    assert f"host {EAST!r}, tenant {THEIRS!r}, segment 'default'" in r.json()["detail"]
    # An admin may read everything.
    body = {"key": "pod-2", "host": EAST, "tenant": MINE}
    r = d.call(d.admin, "POST", "/v1/allocations", body)
    assert r.status_code == 409, r.text
    assert r.json()["detail"] == (
        f"key 'pod-2' is already allocated to host {WEST!r}, tenant {THEIRS!r}, segment 'default'"
    )
    # The owner's own key, asked for again elsewhere, names its own allocation.
    mine = {"key": "my-pod", "host": EAST, "tenant": MINE}
    assert d.call(d.tenant_user, "POST", "/v1/allocations", mine).status_code == 201
    r = d.call(d.tenant_user, "POST", "/v1/allocations", mine | {"host": WEST})
    assert r.status_code == 409 and f"host {EAST!r}, tenant {MINE!r}" in r.json()["detail"]
    assert d.call(d.tenant_user, "DELETE", "/v1/allocations/my-pod").status_code == 200


def _masked(r: httpx.Response, address: str) -> tuple[int, str, str]:
    body = r.json()
    return r.status_code, body["title"], str(body["detail"]).replace(address, "ADDRESS")


def test_decoding_another_tenants_address_is_as_decoding_no_tenants(d: Deployment) -> None:
    allocated = str(d.east_pod["addresses"][0])
    # east-node is host 0 of rack a; THEIRS has tenant id 1, so segment 0 of it is
    # 10.0.16.0/24. Ordinal 200 of it is not allocated; tenant id 15 (10.0.240.0/20) has no
    # tenant at all.
    unallocated, of_no_tenant = "10.0.16.200", "10.0.240.1"
    assert allocated.startswith("10.0.16.")
    assert d.ok("GET", f"/v1/decode/{unallocated}")["tenant"] == THEIRS
    assert d.ok("GET", f"/v1/decode/{of_no_tenant}")["tenant"] is None
    for token in (d.tenant_user, d.agent):
        nobody = d.call(token, "GET", f"/v1/decode/{of_no_tenant}")
        assert nobody.status_code == 404, nobody.text
        expected = _masked(nobody, of_no_tenant)
        for address in (allocated, unallocated):
            theirs = d.call(token, "GET", f"/v1/decode/{address}")
            assert _masked(theirs, address) == expected, theirs.text
            assert THEIRS not in theirs.text


def test_decoding_ones_own_tenants_address_still_answers(d: Deployment) -> None:
    mine = {"key": "mine-to-decode", "host": EAST, "tenant": MINE}
    r = d.call(d.tenant_user, "POST", "/v1/allocations", mine)
    assert r.status_code == 201, r.text
    address = r.json()["addresses"][0]
    decoded = d.call(d.tenant_user, "GET", f"/v1/decode/{address}")
    assert decoded.status_code == 200, decoded.text
    assert decoded.json()["tenant"] == MINE and decoded.json()["host"] == EAST
