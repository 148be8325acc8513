"""The agent client: each answer of the contract's status table becomes the documented error."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import pytest
from cni_fake_agent import FakeAgent

from romana.core import endpointwire, errors, problems
from romana.core.endpoint import Address, EndpointRequest, GcRequest, Readiness
from romana.integrations.cni import agentapi, plugin


def request(tenant: str = "acme", container_id: str = "c1") -> dict[str, Any]:
    return endpointwire.request_to_wire(
        EndpointRequest(
            container_id=container_id,
            ifname="eth0",
            netns="/run/netns/rtest",
            network="romana",
            tenant=tenant,
            segment="default",
            labels={},
        )
    )


def client(agent: FakeAgent) -> agentapi.AgentClient:
    return agentapi.AgentClient(agent.socket_path, timeout=2)


def problem(status: int, slug: str, detail: str = "why", field: str = "") -> tuple[int, bytes]:
    body = agentapi.problem(status, slug, "Title", detail, field)
    return status, json.dumps(body).encode()


def answer_for(exc: errors.RomanaError) -> tuple[int, bytes, dict[str, str]]:
    """What the agent answers for ``exc`` (the one table's rendering)."""
    status, body, headers = problems.render(exc)
    return status, json.dumps(body).encode(), headers


def test_endpoint_round_trip(agent: FakeAgent) -> None:
    api = client(agent)
    endpoint = api.add_endpoint(request())
    assert endpoint["addresses"] == [{"address": "10.1.16.1/32", "gateway": "10.1.0.1"}]
    assert api.get_endpoint("c1", "eth0")["problems"] == []
    assert api.delete_endpoint("c1", "eth0") is True
    assert api.delete_endpoint("c1", "eth0") is False
    with pytest.raises(errors.NotFound):
        api.get_endpoint("c1", "eth0")


def test_the_port_over_the_socket_speaks_in_endpoint_values(agent: FakeAgent) -> None:
    port = agentapi.AgentPort(client(agent))
    added = plugin.drive(port.add(endpointwire.parse_request(request())))
    assert added.addresses == (Address("10.1.16.1/32", "10.1.0.1"),)
    assert agent.calls[-1][2] == request()  # the body the wire schema writes
    assert plugin.drive(port.check("c1", "eth0")).problems == ()
    answer = plugin.drive(port.gc(GcRequest("romana", frozenset())))
    assert answer.released == (("c1", "eth0"),)
    assert plugin.drive(port.delete("c1", "eth0")) is False
    assert plugin.drive(port.status(None, None)) == Readiness(True)


def test_endpoint_paths_are_percent_encoded(agent: FakeAgent) -> None:
    assert agentapi.endpoint_path("c1", "e%t?h#") == "/v1/endpoints/c1/e%25t%3Fh%23"
    api = client(agent)
    api.add_endpoint({**request(), "ifname": "e%t?h#"})
    assert api.get_endpoint("c1", "e%t?h#")["ifname"] == "e%t?h#"


@pytest.mark.parametrize(
    ("answer", "raised"),
    [
        (answer_for(errors.NotFound("why")), errors.NotFound),
        (answer_for(errors.AlreadyExists("why")), errors.AlreadyExists),
        (answer_for(errors.Conflict("why")), errors.Conflict),
        (answer_for(errors.Exhausted("why")), errors.Exhausted),
        (answer_for(errors.Unavailable("why")), errors.Unavailable),
        (answer_for(errors.Unauthorized("why")), errors.Unauthorized),
        (answer_for(errors.Forbidden("why")), errors.Forbidden),
        (answer_for(errors.QuotaExceeded("t", "allocations", 2, 2)), errors.QuotaExceeded),
        (answer_for(errors.Unsupported("why")), errors.Unsupported),
        (problem(403, "forbidden"), errors.Forbidden),
        (problem(503, "exhausted"), errors.Unavailable),
        (problem(500, "internal"), errors.RomanaError),
        ((502, b"<html>bad gateway</html>"), errors.RomanaError),
    ],
)
def test_status_table(
    agent: FakeAgent, answer: tuple[int, bytes] | tuple[int, bytes, dict[str, str]], raised: type
) -> None:
    agent.scripted = answer
    with pytest.raises(errors.RomanaError) as caught:
        client(agent).add_endpoint(request())
    assert type(caught.value) is raised


@pytest.mark.parametrize("status", [400, 422])
def test_invalid_input_carries_the_field(agent: FakeAgent, status: int) -> None:
    agent.scripted = problem(status, "invalid-input", "not a DNS label", "k8s.namespace")
    with pytest.raises(errors.InvalidInput) as caught:
        client(agent).add_endpoint(request())
    assert caught.value.issues == (errors.Issue("k8s.namespace", "not a DNS label"),)


def test_non_json_error_body_keeps_its_text(agent: FakeAgent) -> None:
    agent.scripted = (500, b"boom")
    with pytest.raises(errors.RomanaError, match="HTTP 500: boom"):
        client(agent).add_endpoint(request())


def test_a_200_that_is_not_a_json_object_is_an_error(agent: FakeAgent) -> None:
    agent.scripted = (200, b"[]")
    with pytest.raises(errors.RomanaError, match="not a JSON object"):
        client(agent).add_endpoint(request())


@pytest.mark.parametrize(
    ("body", "member"),
    [
        ({"addresses": [{"address": "10.1.16.1"}]}, "addresses[0].address"),
        ({"addresses": [{"address": "10.1.16.1/32", "gateway": 1}]}, "addresses[0].gateway"),
        ({"interface": {"name": "eth0", "mac": ""}}, "interface"),
        ({"routes": [{"gw": "10.1.0.1"}]}, "routes"),
        ({"mtu": "1500"}, "mtu"),
        ({"problems": "none"}, "problems"),
    ],
)
def test_a_malformed_endpoint_names_the_member(
    agent: FakeAgent, body: dict[str, object], member: str
) -> None:
    good = client(agent).add_endpoint(request())
    agent.scripted = (200, json.dumps({**good, **body}).encode())
    with pytest.raises(errors.RomanaError, match=f"malformed endpoint: {member.split('[')[0]}"):
        client(agent).get_endpoint("c1", "eth0")


def test_missing_socket_is_unavailable_and_says_so(socket_dir: str) -> None:
    api = agentapi.AgentClient(f"{socket_dir}/none.sock")
    with pytest.raises(errors.Unavailable, match="no socket there"):
        api.status()


def test_refused_connection_is_unavailable(socket_dir: str) -> None:
    path = f"{socket_dir}/dead.sock"
    with socket.socket(socket.AF_UNIX) as dead:
        dead.bind(path)  # bound but never listening: connect is refused
    assert os.path.exists(path)
    with pytest.raises(errors.Unavailable, match="connection refused"):
        agentapi.AgentClient(path).status()


def test_silent_agent_is_unavailable_after_the_timeout(socket_dir: str) -> None:
    with socket.socket(socket.AF_UNIX) as mute:
        mute.bind(f"{socket_dir}/mute.sock")
        mute.listen(1)
        with pytest.raises(errors.Unavailable, match=r"no answer within 0\.1 s"):
            agentapi.AgentClient(mute.getsockname(), timeout=0.1).status()


def test_status_answers_readiness_with_the_slug(agent: FakeAgent) -> None:
    api = client(agent)
    assert api.status("acme", "web") == Readiness(True)
    assert agent.calls[-1][1] == "/v1/status"
    agent.ready_problem = ("not-ready", "syncing")
    assert api.status() == Readiness(False, "not-ready", "syncing")


def test_gc_sends_the_valid_keys_and_returns_what_was_released(agent: FakeAgent) -> None:
    api = client(agent)
    for container in ("c1", "c2"):
        api.add_endpoint(request(container_id=container))
    answer = api.gc("romana", [("c1", "eth0")])
    assert answer == {"released": [{"container_id": "c2", "ifname": "eth0"}]}
    assert agent.calls[-1][2] == {
        "network": "romana",
        "valid": [{"container_id": "c1", "ifname": "eth0"}],
    }


def test_problem_builder_follows_the_contract() -> None:
    assert agentapi.problem(422, "invalid-input", "Invalid", "bad", "tenant") == {
        "type": "https://romana.io/problems/invalid-input",
        "title": "Invalid",
        "status": 422,
        "detail": "bad",
        "field": "tenant",
    }
