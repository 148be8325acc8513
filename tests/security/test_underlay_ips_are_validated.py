"""A host's underlay IP must be one other hosts can route its prefixes to.

Issue 12, point 6: any address was taken as a host's underlay IP, so a registration (or a
topology document) could make every host route a prefix to loopback, to a multicast or
broadcast group, to whatever answers link-locally, or into romana's own address space. Now
an unspecified, loopback, multicast, limited broadcast or link-local address, an address
inside a romana network and a romana gateway address are refused wherever an underlay
address enters: agent registration, ``romana host add`` (the same call), and topology
documents. Each refusal is 422 naming the field and the rule, and changes nothing.

A real romanad over SQLite, reached over HTTP; the agent registers with its own credential.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from romana.lab.romanad import Romanad
from support.romanad import AdminCalls
from unit.api.conftest import TOPOLOGY, start

# Network pods is 10.0.0.0/8 with 8 tenant+segment bits and 8 endpoint bits: host index 0 has
# 10.0.0.0/16 and gateway 10.0.0.1.
REFUSED = [
    ("0.0.0.0", None, "ip", "is unspecified"),
    ("127.0.0.1", None, "ip", "is a loopback address"),
    ("224.0.0.9", None, "ip", "is a multicast address"),
    ("255.255.255.255", None, "ip", "is the limited broadcast address"),
    ("169.254.169.254", None, "ip", "is a link-local address"),
    ("10.0.0.1", None, "ip", "is the gateway address of host index 0 in romana network 'pods'"),
    ("10.9.8.7", None, "ip", "is inside romana network 'pods' (10.0.0.0/8)"),
    ("::1", None, "ip", "is a loopback address"),
    ("192.0.2.40", "::", "ip6", "is unspecified"),
    ("192.0.2.41", "ff02::1", "ip6", "is a multicast address"),
    ("192.0.2.42", "fe80::1", "ip6", "is a link-local address"),
]


class Deployment(AdminCalls):
    def __init__(self, daemon: Romanad) -> None:
        super().__init__(daemon)
        user = {"username": "agent-n1", "password": "agent-n1-pw", "role": "agent", "host": "n1"}
        assert self.call(self.admin, "POST", "/v1/users", user).status_code == 201
        self.agent = daemon.login("agent-n1", "agent-n1-pw")

    def hosts(self) -> list[str]:
        return [h["name"] for h in self.call(self.admin, "GET", "/v1/hosts").json()]


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    with start(tmp_path_factory.mktemp("underlay")) as daemon:
        yield Deployment(daemon)


def _refused(r: httpx.Response, field: str, rule: str) -> None:
    assert r.status_code == 422, r.text
    [issue] = r.json()["issues"]
    assert issue["field"].endswith(field), issue
    assert rule in issue["rule"] and "next hop" in issue["rule"], issue


@pytest.mark.parametrize(("ip", "ip6", "field", "rule"), REFUSED)
def test_an_agent_cannot_register_its_host_with_the_address(
    d: Deployment, ip: str, ip6: str | None, field: str, rule: str
) -> None:
    body: dict[str, Any] = {"name": "n1", "ip": ip, "labels": {"rack": "a"}}
    if ip6 is not None:
        body["ip6"] = ip6
    _refused(d.call(d.agent, "POST", "/v1/hosts", body), field, rule)
    assert "n1" not in d.hosts()


@pytest.mark.parametrize(("ip", "ip6", "field", "rule"), REFUSED)
def test_an_admin_cannot_add_a_host_with_the_address(
    d: Deployment, ip: str, ip6: str | None, field: str, rule: str
) -> None:
    body: dict[str, Any] = {"name": "a1", "ip": ip, "labels": {"rack": "b"}}
    if ip6 is not None:
        body["ip6"] = ip6
    _refused(d.call(d.admin, "POST", "/v1/hosts", body), field, rule)
    assert "a1" not in d.hosts()


@pytest.mark.parametrize(("ip", "ip6", "field", "rule"), REFUSED)
def test_a_topology_document_cannot_list_a_host_with_the_address(
    d: Deployment, ip: str, ip6: str | None, field: str, rule: str
) -> None:
    document = copy.deepcopy(TOPOLOGY)
    host: dict[str, Any] = {"name": "t1", "ip": ip, "labels": {"rack": "a"}}
    if ip6 is not None:
        host["ip6"] = ip6
    document["topologies"][0]["map"][0]["groups"] = [host]
    r = d.call(d.admin, "PUT", "/v1/topology", document)
    _refused(r, f"topologies[0].map[0].groups[0].{field}", rule)
    assert "t1" not in d.hosts()


def test_a_routable_underlay_address_is_taken(d: Deployment) -> None:
    body = {"name": "n1", "ip": "172.16.5.1", "ip6": "fd00:5::1", "labels": {"rack": "a"}}
    r = d.call(d.agent, "POST", "/v1/hosts", body)
    assert r.status_code == 201, r.text
    assert r.json()["ip"] == "172.16.5.1" and r.json()["ip6"] == "fd00:5::1"
