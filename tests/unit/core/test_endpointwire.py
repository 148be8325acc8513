"""The agent local API's wire schema: what goes out comes back the same, and bad input is
refused naming every member at fault."""

from __future__ import annotations

import pytest

from romana.core import endpointwire, errors, names
from romana.core.endpoint import (
    Address,
    Endpoint,
    EndpointRequest,
    GcAnswer,
    GcRequest,
    Interface,
    Route,
)

ENDPOINT = Endpoint(
    container_id="c1",
    ifname="eth0",
    netns="/proc/4242/ns/net",
    network="romana",
    tenant="shop",
    segment="frontend",
    addresses=(Address("10.1.17.1/32", "10.1.0.1"), Address("fd00::1/128")),
    interface=Interface("eth0", "02:00:00:00:00:02", 1450, "/proc/4242/ns/net"),
    host_interface=Interface("romana1a2b3c4d5", "06:00:00:00:00:01"),
    routes=(Route("0.0.0.0/0", "10.1.0.1"), Route("::/0", mtu=1400)),
    mtu=1450,
)


def test_the_name_rule_is_romanas_one_rule_for_tenants_and_segments() -> None:
    assert endpointwire.NAME_RE.pattern == names.NAME_PATTERN
    assert endpointwire.NAME_RULE == names.NAME_RULE


def test_a_request_goes_out_and_comes_back_the_same() -> None:
    request = EndpointRequest(
        "c1", "eth0", "/run/netns/w1", "shop", "frontend", {"app": "web"}, "romana",
        {"namespace": "shop", "pod": "web-0"}, 1450,
    )  # fmt: skip
    body = endpointwire.request_to_wire(request)
    assert body["k8s"] == {"namespace": "shop", "pod": "web-0"} and body["mtu"] == 1450
    assert endpointwire.parse_request(body) == request
    bare = EndpointRequest("c1", "eth0", "/run/netns/w1", "shop")
    assert set(endpointwire.request_to_wire(bare)) == {
        "container_id", "ifname", "netns", "network", "tenant", "segment", "labels",
    }  # fmt: skip


def test_an_answer_goes_out_and_comes_back_the_same() -> None:
    wire = endpointwire.endpoint_to_wire(ENDPOINT)
    assert wire["addresses"] == [
        {"address": "10.1.17.1/32", "gateway": "10.1.0.1"},
        {"address": "fd00::1/128"},
    ]
    assert wire["host_interface"] == {"name": "romana1a2b3c4d5", "mac": "06:00:00:00:00:01"}
    assert wire["routes"][1] == {"dst": "::/0", "mtu": 1400}
    assert "problems" not in wire
    assert endpointwire.endpoint_from_wire(wire, "POST /v1/endpoints") == ENDPOINT
    answer = GcAnswer((("c2", "eth0"),), ("c3:eth0: gone",))
    assert endpointwire.gc_answer_from_wire(endpointwire.gc_answer_to_wire(answer), "GC") == answer
    gc = GcRequest("romana", frozenset({("c1", "eth0")}))
    assert endpointwire.parse_gc(endpointwire.gc_to_wire(gc)) == gc


def test_a_malformed_answer_names_the_call_and_every_problem() -> None:
    wire = endpointwire.endpoint_to_wire(ENDPOINT)
    wire.update(addresses=[{"address": "10.1.17.1"}], mtu="big")
    with pytest.raises(errors.RomanaError) as info:
        endpointwire.endpoint_from_wire(wire, "POST /v1/endpoints")
    text = str(info.value)
    assert text.startswith("romana-agent answered POST /v1/endpoints with a malformed endpoint")
    assert "addresses[0].address" in text and "mtu: must be an integer" in text


def test_a_bad_request_names_every_member_at_fault() -> None:
    with pytest.raises(errors.InvalidInput) as info:
        endpointwire.parse_request(
            {"container_id": "c1", "ifname": "eth0", "netns": "/x", "tenant": "-a", "zone": 1}
        )
    assert {i.field for i in info.value.issues} == {"tenant", "zone"}
    assert endpointwire.identity("c1", "eth0") == ("c1", "eth0")
    with pytest.raises(errors.InvalidInput) as info:
        endpointwire.identity("-c", "a/b")
    assert {i.field for i in info.value.issues} == {"container_id", "ifname"}
