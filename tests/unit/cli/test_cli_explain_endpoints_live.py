"""``romana explain`` for endpoints that are not Kubernetes pods, against a real romanad.

A romanad (its own SQLite store) gets a topology, two hosts, tenants blue (segments web,
db) and green (web) in ``romana`` mode and red with open segments, one policy (green/web
may reach blue/db on TCP 80; 192.0.2.0/24 may reach blue/web on TCP 443), and endpoints
allocated through IPAM only — romanad holds no Kubernetes objects. ``romana explain`` must
answer for them by allocation key and by address, name the tenant and its isolation, the
deciding policy rule or the default, and refuse a user who cannot read the whole model.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from romana.cli import main
from romana.client import Client, ClientSettings
from romana.core import errors
from romana.lab import topologies
from romana.lab.romanad import Romanad
from unit.cli.conftest import Cli, logged_in

POLICY = {
    "id": "blue-db-and-web",
    "applied_to": [{"tenant": "blue", "segment": "db"}],
    "ingress": [
        {
            "peers": [{"tenant": "green", "segment": "web"}],
            "rules": [{"protocol": "tcp", "ports": [80]}],
        }
    ],
}
FROM_OUTSIDE = {
    "id": "doc-net-to-blue-web",
    "applied_to": [{"tenant": "blue", "segment": "web"}],
    "ingress": [{"peers": [{"cidr": "192.0.2.0/24"}], "rules": [{"protocol": "tcp"}]}],
}
ENDPOINTS = {
    "blue-web-1": ("h1", "blue", "web"),
    "blue-web-2": ("h2", "blue", "web"),
    "blue-db-1": ("h2", "blue", "db"),
    "green-web-1": ("h1", "green", "web"),
    "red-a-1": ("h1", "red", "a"),
    "red-b-1": ("h2", "red", "b"),
}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Romanad]:
    work = tmp_path_factory.mktemp("romanad-endpoints")
    topology = work / "topology.json"
    topology.write_text(json.dumps(topologies.pods(racks=())))
    extra = ["--initial-topology", str(topology)]
    running = Romanad(work, store=f"sqlite:///{work / 'romana.db'}", extra=extra).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def addresses(daemon: Romanad) -> dict[str, str]:
    """Hosts, tenants, policies and IPAM allocations; each allocation key → its address."""
    with Client(ClientSettings(url=(daemon.url,))) as client:
        client.login(*daemon.admin())
        client.add_host("h1", "192.0.2.1")
        client.add_host("h2", "192.0.2.2")
        client.create_tenant("blue")
        client.create_tenant("green")
        client.create_tenant("red", isolation={"mode": "romana", "segments": "open"})
        for tenant, segment in (("blue", "web"), ("blue", "db"), ("green", "web")):
            client.add_segment(tenant, segment)
        client.add_segment("red", "a")
        client.add_segment("red", "b")
        client.add_policies([POLICY, FROM_OUTSIDE])
        client.create_user("blue-user", "blue-password-1", "tenant", "blue")
        return {
            key: client.allocate(key, host, tenant, segment)["addresses"][0].split("/")[0]
            for key, (host, tenant, segment) in ENDPOINTS.items()
        }


@pytest.fixture(scope="module")
def cli(daemon: Romanad, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    return logged_in(daemon.url, tmp_path_factory.mktemp("config"), *daemon.admin())


def explained(cli: Cli, src: str, dst: str, port: str = "tcp/80") -> dict[str, Any]:
    result = cli("explain", "--from", src, "--to", dst, "--port", port, "--json")
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.stdout)
    return body


@pytest.mark.parametrize(
    ("src", "dst", "allowed", "decided"),
    [
        ("blue-web-1", "blue-web-2", True, "own tenant and segment"),
        ("blue-web-1", "blue-db-1", False, "isolation: other segments"),
        ("red-a-1", "red-b-1", True, "own tenant"),
        ("green-web-1", "blue-web-2", False, "isolation: other tenants"),
        (
            "green-web-1",
            "blue-db-1",
            True,
            "allowed by policy blue/blue-db-and-web ingress[0].rules[0]",
        ),
    ],
)
def test_allocations_are_explained_by_key_and_by_address(
    cli: Cli, addresses: dict[str, str], src: str, dst: str, allowed: bool, decided: str
) -> None:
    by_key = explained(cli, src, dst)
    by_address = explained(cli, addresses[src], addresses[dst])
    for body in (by_key, by_address):
        assert body["allowed"] is allowed, body
        assert decided in body["ingress"]["decided_by"][0], body
        assert body["source"]["allocation"] == src and body["target"]["allocation"] == dst
        assert body["source"]["address"] == addresses[src]
    assert by_key["ingress"] == by_address["ingress"]


def test_the_text_names_the_tenants_isolation_and_the_deciding_rule(
    cli: Cli, addresses: dict[str, str]
) -> None:
    result = cli("explain", "--from", "green-web-1", "--to", "blue-db-1", "--port", "tcp/80")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "green-web-1 -> blue-db-1 tcp/80: allowed"
    assert "tenant blue (romana, segments isolated), segment db" in result.stdout
    assert "allowed by policy blue/blue-db-and-web ingress[0].rules[0]" in result.stdout
    assert "peer ingress[0].peers[0] (tenant green segment web)" in result.stdout
    denied = cli("explain", "--from", "green-web-1", "--to", "blue-db-1", "--port", "udp/53")
    assert ": denied" in denied.stdout.splitlines()[0]
    assert "denied by the default of tenant blue" in denied.stdout


def test_an_outside_address_meets_the_cidr_rule(cli: Cli, addresses: dict[str, str]) -> None:
    inside = explained(cli, "192.0.2.9", "blue-web-2", "tcp/443")
    assert inside["allowed"] is True and inside["source"]["network"] is None
    assert inside["egress"]["host"] is None and inside["ingress"]["host"] == "h2"
    assert inside["ingress"]["rule"]["policy"] == "blue/doc-net-to-blue-web"
    outside = explained(cli, "198.51.100.9", "blue-web-2", "tcp/443")
    assert outside["allowed"] is False


def test_an_unknown_endpoint_is_named_with_the_accepted_forms(
    cli: Cli, addresses: dict[str, str]
) -> None:
    code = next(c for k, c, _ in main.EXIT_CODES if k is errors.NotFound)
    result = cli("explain", "--from", "no-such-key", "--to", "blue-web-1", "--port", "tcp/80")
    assert result.exit_code == code, result.output
    assert "'no-such-key'" in result.stderr
    assert "an IP address, an allocation key or NAMESPACE/POD" in result.stderr
    bad = cli("explain", "--from", "blue-web-1", "--to", "blue-web-2", "--port", "http/80")
    assert bad.exit_code == next(c for k, c, _ in main.EXIT_CODES if k is errors.InvalidInput)


def test_a_tenant_user_is_refused_not_answered_from_part_of_the_model(
    daemon: Romanad, addresses: dict[str, str], tmp_path: Path
) -> None:
    tenant_cli = logged_in(daemon.url, tmp_path, "blue-user", "blue-password-1")
    result = tenant_cli("explain", "--from", "blue-web-1", "--to", "blue-web-2", "--port", "tcp/80")
    assert result.exit_code == next(c for k, c, _ in main.EXIT_CODES if k is errors.Forbidden)
    assert "needs romanad's whole model" in result.stderr
    assert result.stdout == ""
