"""The endpoint option ``romana.external-ip``: parsed from CreateEndpoint's ``Options``, and
the external IP assigned to the endpoint's allocation before the endpoint is recorded; a
refusal is an ``Err`` naming the option and records nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from romana.core.errors import InvalidInput
from romana.integrations.docker import external
from romana.integrations.docker.external import ExternalChoice
from unit.docker.test_docker_plugin import ENDPOINT_ID, FakeRomanad, Host, endpoint, run

DOCKERS_OWN: dict[str, Any] = {
    "com.docker.network.endpoint.exposedports": [],
    "com.docker.network.portmap": [],
}
"""What dockerd puts in every CreateEndpoint's Options (20.10)."""


@pytest.mark.parametrize(
    ("value", "wanted"),
    [
        ("internet", ExternalChoice("internet")),
        ("internet/203.0.113.5", ExternalChoice("internet", "203.0.113.5")),
        ("rack1/2001:DB8:200::10", ExternalChoice("rack1", "2001:db8:200::10")),
    ],
)
def test_the_option_is_a_pool_with_an_optional_address(value: str, wanted: ExternalChoice) -> None:
    options = {**DOCKERS_OWN, external.EXTERNAL_OPTION: value}
    assert external.requested({"Options": options}) == wanted


def test_without_the_option_nothing_is_asked_for() -> None:
    assert external.requested({"Options": DOCKERS_OWN}) is None
    assert external.requested({"Options": None}) is None
    assert external.requested({}) is None


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"romana.external-ip": ""}, "option romana.external-ip must be POOL or POOL/ADDRESS"),
        ({"romana.external-ip": "internet/"}, "must be POOL or POOL/ADDRESS, not 'internet/'"),
        ({"romana.external-ip": "/203.0.113.5"}, "must be POOL or POOL/ADDRESS"),
        ({"romana.external-ip": 7}, "must be POOL or POOL/ADDRESS, not 7"),
        ({"romana.external-ip": "internet/nope"}, "'nope' is not an IP address"),
        ({"romana.externalip": "internet"}, "no such endpoint option romana.externalip"),
    ],
)
def test_a_bad_option_is_refused_naming_it(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        external.requested({"Options": {**DOCKERS_OWN, **options}})


async def _endpoint_on_b(host_a: Host, host_b: Host, romanad: FakeRomanad) -> str:
    """A network created on host A and an address allocated for an endpoint on host B; the
    allocation's key."""
    pool = await host_a.create()
    await host_b.address(pool)
    (key,) = romanad.allocations
    return key


def _mapped(host: Host) -> dict[str, Any]:
    path = Path(host.deps.state_dir) / "docker-endpoints.json"
    return dict(json.loads(path.read_text())["endpoints"]) if path.exists() else {}


@run
async def test_create_endpoint_assigns_the_external_ip_to_the_allocation(
    host_a: Host, host_b: Host, romanad: FakeRomanad
) -> None:
    key = await _endpoint_on_b(host_a, host_b, romanad)
    body = endpoint("10.2.17.1/32")
    body["Options"] = {**DOCKERS_OWN, external.EXTERNAL_OPTION: "internet/203.0.113.4"}
    assert await host_b.call("/NetworkDriver.CreateEndpoint", body) == {"Interface": {}}
    assert romanad.external == {key: "203.0.113.4"}
    assert ENDPOINT_ID in _mapped(host_b)
    # docker asks again (a retried call): the same address, nothing else.
    assert await host_b.call("/NetworkDriver.CreateEndpoint", body) == {"Interface": {}}
    assert romanad.external == {key: "203.0.113.4"}


@run
async def test_a_refused_external_ip_fails_create_endpoint_naming_the_option(
    host_a: Host, host_b: Host, romanad: FakeRomanad
) -> None:
    key = await _endpoint_on_b(host_a, host_b, romanad)
    for value, reason in (
        ("nope", "external pool 'nope' does not exist"),
        ("internet/203.0.113.300", "'203.0.113.300' is not an IP address"),
    ):
        body = endpoint("10.2.17.1/32")
        body["Options"] = {**DOCKERS_OWN, external.EXTERNAL_OPTION: value}
        answer = await host_b.call("/NetworkDriver.CreateEndpoint", body)
        assert set(answer) == {"Err"}, answer
        assert answer["Err"].startswith("romana: option romana.external-ip"), answer
        assert reason in answer["Err"], answer
    assert romanad.external == {}
    assert _mapped(host_b) == {}
    assert key in romanad.allocations, "docker releases it (ReleaseAddress follows)"
