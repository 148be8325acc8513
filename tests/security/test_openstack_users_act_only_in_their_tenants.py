"""Neutron's drivers act only in the tenants they own.

The drivers used to sign in as a ``service`` user, which may act for every tenant and host,
apply topology, register hosts and sync Kubernetes. An ``openstack`` user creates tenants,
is recorded as the owner of each, and then acts only there: segments, allocations on any
host, moves, policies of those tenants, and the address sets it created. Another tenant
(one an admin made, even with a project's id as its external id) answers 404 as a missing
one does, until an admin names the user as its owner; every change to topology, hosts,
users, quotas, isolation and Kubernetes is 403.

A real romanad over SQLite, reached over HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from romana.lab.romanad import Romanad
from support.romanad import AdminCalls
from unit.api.conftest import start

H1 = {"name": "h1", "ip": "192.0.2.1", "labels": {"rack": "a"}}
H2 = {"name": "h2", "ip": "192.0.2.2", "labels": {"rack": "b"}}


class Deployment(AdminCalls):
    """romanad with hosts h1 and h2, the admin's tenant ``other`` (its allocation ``theirs``
    on h1), and the ``openstack`` users ``neutron`` and ``neutron-2``."""

    def __init__(self, daemon: Romanad) -> None:
        super().__init__(daemon)
        self.ok("POST", "/v1/hosts", H1)
        self.ok("POST", "/v1/hosts", H2)
        self.ok("POST", "/v1/tenants", {"name": "other", "external_id": "p-other"})
        body = {"key": "theirs", "host": "h1", "tenant": "other"}
        self.theirs = str(self.ok("POST", "/v1/allocations", body)["addresses"][0])
        self.neutron = self.user("neutron")
        self.second = self.user("neutron-2")

    def user(self, name: str) -> str:
        """A token of a new ``openstack`` user."""
        body = {"username": name, "password": f"{name}-password", "role": "openstack"}
        self.ok("POST", "/v1/users", body)
        return self.daemon.login(name, f"{name}-password")

    def mine(self, method: str, path: str, payload: object = None) -> httpx.Response:
        return self.call(self.neutron, method, path, payload)


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with start(tmp_path_factory.mktemp("openstack-role")) as daemon:
        yield Deployment(daemon)


def _policy(tenant: str, name: str) -> dict[str, object]:
    return {
        "name": name,
        "direction": "ingress",
        "applied_to": [{"tenant": tenant}],
        "ingress": [{"peers": [{"cidr": "192.0.2.0/24"}], "rules": [{"protocol": "tcp"}]}],
    }


def test_it_does_what_the_drivers_do_in_a_tenant_it_creates(d: Deployment) -> None:
    made = d.mine("POST", "/v1/tenants", {"name": "os-p1", "external_id": "p1"})
    assert made.status_code == 201, made.text
    assert made.json()["owner"] == "neutron"
    assert [t["name"] for t in d.mine("GET", "/v1/tenants").json()] == ["os-p1"]
    assert d.mine("POST", "/v1/tenants/os-p1/segments", {"name": "net-1"}).status_code == 201
    topology = d.mine("GET", "/v1/topology")
    assert topology.status_code == 200 and topology.json()["networks"]
    body = {"key": "port-1", "host": "h1", "tenant": "os-p1", "segment": "net-1"}
    allocated = d.mine("POST", "/v1/allocations", body)
    assert allocated.status_code == 201, allocated.text
    assert d.mine("GET", "/v1/allocations/port-1").json()["host"] == "h1"
    assert [a["key"] for a in d.mine("GET", "/v1/allocations").json()] == ["port-1"]
    moved = d.mine("PUT", "/v1/allocations/port-1/host", {"host": "h2"})
    assert moved.status_code == 200 and moved.json()["host"] == "h2", moved.text
    put = d.mine("PUT", "/v1/policies/os-p1/os.sg.g1", _policy("os-p1", "os.sg.g1"))
    assert put.status_code == 200, put.text
    assert [p["id"] for p in d.mine("GET", "/v1/policies").json()] == ["os-p1/os.sg.g1"]
    assert d.mine("PUT", "/v1/address-sets/os.sg.g1.v4", {"members": []}).status_code == 200
    members = {"members": list(allocated.json()["addresses"][:1])}
    assert d.mine("PUT", "/v1/address-sets/os.sg.g1.v4", members).status_code == 200
    assert [s["name"] for s in d.mine("GET", "/v1/address-sets").json()] == ["os.sg.g1.v4"]
    assert d.mine("DELETE", "/v1/policies/os-p1/os.sg.g1").status_code == 200
    assert d.mine("DELETE", "/v1/address-sets/os.sg.g1.v4").status_code == 200
    address = allocated.json()["addresses"][0]
    assert d.mine("DELETE", f"/v1/addresses/{address}").status_code == 200
    assert d.mine("DELETE", "/v1/tenants/os-p1/segments/net-1").status_code == 200


def test_another_tenant_answers_as_a_missing_one(d: Deployment) -> None:
    for method, path, missing, payload in (
        ("GET", "/v1/tenants/other", "/v1/tenants/nothing", None),
        ("POST", "/v1/tenants/other/segments", "/v1/tenants/nothing/segments", {"name": "s"}),
        ("DELETE", "/v1/tenants/other/segments/default", "/v1/tenants/nothing/segments/x", None),
        ("GET", "/v1/allocations/theirs", "/v1/allocations/nothing", None),
        ("DELETE", "/v1/allocations/theirs", "/v1/allocations/nothing", None),
        ("PUT", "/v1/allocations/theirs/host", "/v1/allocations/nothing/host", {"host": "h2"}),
        ("DELETE", f"/v1/addresses/{d.theirs}", "/v1/addresses/10.255.0.9", None),
        ("GET", f"/v1/decode/{d.theirs}", "/v1/decode/10.255.0.9", None),
    ):
        a, b = d.mine(method, path, payload), d.mine(method, missing, payload)
        assert a.status_code == b.status_code == 404, (path, a.text, b.text)
        assert a.json()["title"] == b.json()["title"]
    assert "other" not in str(d.mine("GET", "/v1/tenants").json())
    assert d.mine("GET", "/v1/allocations?tenant=other").status_code == 403
    body = {"key": "stolen", "host": "h1", "tenant": "other"}
    assert d.mine("POST", "/v1/allocations", body).status_code == 403
    r = d.mine("PUT", "/v1/policies/other/evil", _policy("other", "evil"))
    assert r.status_code == 403, r.text
    # Theirs still stands, where it was.
    assert d.ok("GET", "/v1/allocations/theirs")["host"] == "h1"


def test_ownership_is_recorded_not_read_from_a_name(d: Deployment) -> None:
    # A tenant named as the drivers name theirs, made by an admin, is not theirs.
    d.ok("POST", "/v1/tenants", {"name": "os-p9", "external_id": "p9"})
    assert d.mine("GET", "/v1/tenants/os-p9").status_code == 404
    # Another openstack user's tenant is not theirs either.
    made = d.call(d.second, "POST", "/v1/tenants", {"name": "os-p2", "external_id": "p2"})
    assert made.json()["owner"] == "neutron-2"
    assert d.mine("GET", "/v1/tenants/os-p2").status_code == 404
    # An openstack user creates tenants only as their owner.
    r = d.mine("POST", "/v1/tenants", {"name": "os-p3", "owner": "neutron-2"})
    assert r.status_code == 403 and "only as their owner" in r.text


def test_an_admin_hands_a_tenant_over_by_naming_its_owner(d: Deployment) -> None:
    made = d.ok("POST", "/v1/tenants", {"name": "acme", "external_id": "p4", "owner": "neutron"})
    assert made["owner"] == "neutron"
    assert d.mine("GET", "/v1/tenants/acme").json()["external_id"] == "p4"
    assert d.mine("POST", "/v1/tenants/acme/segments", {"name": "n"}).status_code == 201


def test_it_writes_only_the_address_sets_it_created(d: Deployment) -> None:
    d.ok("PUT", "/v1/address-sets/kube.abc", {"members": ["10.0.0.1"]})
    r = d.mine("PUT", "/v1/address-sets/kube.abc", {"members": ["10.9.9.9"]})
    assert r.status_code == 403 and "not one that user 'neutron' created" in r.text
    assert d.mine("DELETE", "/v1/address-sets/kube.abc").status_code == 403
    assert d.mine("GET", "/v1/address-sets/kube.abc").status_code == 404
    assert d.ok("GET", "/v1/address-sets/kube.abc")["members"] == ["10.0.0.1/32"]
    assert d.mine("PUT", "/v1/address-sets/os.mine", {"members": []}).status_code == 200
    r = d.call(d.second, "PUT", "/v1/address-sets/os.mine", {"members": ["10.9.9.9"]})
    assert r.status_code == 403
    # An admin's removal takes the owner record with it: the name is free again.
    d.ok("DELETE", "/v1/address-sets/os.mine")
    r = d.call(d.second, "PUT", "/v1/address-sets/os.mine", {"members": []})
    assert r.status_code == 200, r.text


def test_it_changes_nothing_global(d: Deployment) -> None:
    # A policy across tenants is global, even across its own and another's.
    spanning = [{"tenant": "acme"}, {"tenant": "other"}]
    for method, path, payload in (
        ("POST", "/v1/hosts", {"name": "h3", "ip": "192.0.2.3", "labels": {"rack": "a"}}),
        ("PATCH", "/v1/hosts/h1", {"labels": {"rack": "b"}}),
        ("DELETE", "/v1/hosts/h2", None),
        ("PUT", "/v1/topology", {"networks": [], "topologies": []}),
        ("PUT", "/v1/networks/pods/blackouts", {"cidrs": ["10.200.0.0/16"]}),
        ("GET", "/v1/users", None),
        ("POST", "/v1/users", {"username": "x", "password": "x-password", "role": "admin"}),
        ("PUT", "/v1/quotas", {"allocations": 1}),
        ("PUT", "/v1/tenants/acme/quota", {"allocations": 1}),
        ("PUT", "/v1/tenants/acme/isolation", {"mode": "romana"}),
        ("DELETE", "/v1/tenants/acme", None),
        ("PUT", "/v1/kube/objects", {"namespaces": []}),
        ("POST", "/v1/kube/apply", {"documents": []}),
        ("POST", "/v1/policies", {**_policy("acme", "both"), "applied_to": spanning}),
        ("GET", "/v1/hosts", None),
        ("GET", "/v1/hosts/h1", None),
        ("GET", "/v1/hosts/h1/view", None),
    ):
        r = d.mine(method, path, payload)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
    assert d.ok("GET", "/v1/hosts/h1")["labels"] == {"rack": "a"}
    assert {h["name"] for h in d.ok("GET", "/v1/hosts")} == {"h1", "h2"}


def test_an_admin_hands_an_existing_tenant_over_and_takes_it_back(d: Deployment) -> None:
    d.ok("POST", "/v1/tenants", {"name": "legacy", "external_id": "p5"})
    assert d.mine("GET", "/v1/tenants/legacy").status_code == 404
    # Only an admin hands a tenant over; the openstack user cannot take one.
    assert d.mine("PUT", "/v1/tenants/legacy/owner", {"owner": "neutron"}).status_code == 403
    assert d.ok("PUT", "/v1/tenants/legacy/owner", {"owner": "neutron"})["owner"] == "neutron"
    assert d.mine("GET", "/v1/tenants/legacy").status_code == 200
    assert d.ok("PUT", "/v1/tenants/legacy/owner", {"owner": None})["owner"] is None
    assert d.mine("GET", "/v1/tenants/legacy").status_code == 404
