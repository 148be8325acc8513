"""The local API over a real Unix socket: the HTTP framing, validation, and the contract
as the CNI plugin's own client (``romana.integrations.cni.agentapi``) understands it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
import socket
import stat
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from romana.agent import hostns, http, localapi
from romana.core import endpointwire, errors
from romana.core.endpoint import (
    Address,
    Endpoint,
    EndpointRequest,
    GcAnswer,
    GcRequest,
    Interface,
    Readiness,
    Route,
)
from romana.integrations.cni import agentapi
from support import peers


class FakeService:
    def __init__(self) -> None:
        self.added: list[EndpointRequest] = []
        self.fail: BaseException | None = None
        self.readiness = Readiness(True)

    def _maybe_fail(self) -> None:
        if self.fail is not None:
            raise self.fail

    async def add(self, request: EndpointRequest) -> Endpoint:
        self._maybe_fail()
        self.added.append(request)
        return Endpoint(
            container_id=request.container_id,
            ifname=request.ifname,
            netns=request.netns,
            network=request.network,
            tenant=request.tenant,
            segment=request.segment,
            addresses=(Address("10.1.16.1/32", "10.1.0.1"),),
            interface=Interface("eth0", "02:00:00:00:00:02", 1500),
            host_interface=Interface("romana0123456789", "02:00:00:00:00:01"),
            routes=(Route("0.0.0.0/0", "10.1.0.1"),),
            mtu=1500,
        )

    async def delete(self, container_id: str, ifname: str) -> bool:
        self._maybe_fail()
        return container_id == "known"

    async def check(self, container_id: str, ifname: str) -> Endpoint:
        self._maybe_fail()
        if container_id != "known":
            raise errors.NotFound(f"no endpoint is recorded for {container_id}:{ifname}")
        known = await self.add(EndpointRequest("known", ifname, "/x", "t1"))
        return dataclasses.replace(known, problems=("host route missing",))

    async def list(self) -> list[Endpoint]:
        return []

    async def status(self, tenant: str | None, segment: str | None) -> Readiness:
        return self.readiness

    async def gc(self, request: GcRequest) -> GcAnswer:
        return GcAnswer(tuple(sorted(request.valid)))

    async def state(self) -> dict[str, Any]:
        return {"connected": True}


class Served:
    def __init__(self, path: str, service: FakeService, group: int | None = None) -> None:
        self.path = path
        self.service = service
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        server = http.Server(path, localapi.LocalApi(service), group=group)
        self.task: asyncio.Task[None] | None = None

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.task = self.loop.create_task(server.serve(ready.set))
            with contextlib.suppress(asyncio.CancelledError):
                self.loop.run_until_complete(self.task)

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        assert ready.wait(5)
        self.client = agentapi.AgentClient(path, timeout=5)

    def stop(self) -> None:
        assert self.task is not None
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(5)

    def raw(self, data: bytes) -> bytes:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5)
            sock.connect(self.path)
            sock.sendall(data)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    made = Served(str(tmp_path / "run" / "agent.sock"), FakeService())
    yield made
    made.stop()
    assert not os.path.exists(made.path), "the socket file is removed on the way out"


def request(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "container_id": "c1",
        "ifname": "eth0",
        "netns": "/run/netns/w1",
        "network": "n",
        "tenant": "t1",
        "segment": "default",
        "labels": {"app": "web"},
    }
    body.update(changes)
    return body


@pytest.mark.root  # the local API admits root only
def test_the_socket_is_private_to_root(served: Served) -> None:
    assert stat.S_IMODE(os.stat(served.path).st_mode) == 0o600


@pytest.mark.root  # the local API admits root only
def test_add_check_del_status_gc_round_trip_through_the_plugin_client(served: Served) -> None:
    client = served.client
    answer = client.add_endpoint(request(k8s={"namespace": "default", "pod": "web-1"}))
    assert answer["addresses"][0]["address"] == "10.1.16.1/32"
    assert served.service.added[0].k8s == {"namespace": "default", "pod": "web-1"}
    assert served.service.added[0].labels == {"app": "web"}
    assert client.get_endpoint("known", "eth0")["problems"] == ["host route missing"]
    assert client.delete_endpoint("known", "eth0") is True
    assert client.delete_endpoint("other", "eth0") is False
    assert client.status("t1", "default").ready
    gc = client.gc("n", [("a", "eth0")])
    assert gc["released"] == [{"container_id": "a", "ifname": "eth0"}]


@pytest.mark.parametrize(
    ("error", "raised"),
    [
        (errors.AlreadyExists("interface 'eth0' already exists"), errors.AlreadyExists),
        (errors.NotFound("network namespace /x does not exist"), errors.NotFound),
        (errors.Exhausted("no address left"), errors.Exhausted),
        (errors.Unavailable("not synced"), errors.Unavailable),
        (errors.Conflict("busy"), errors.Conflict),
    ],
)
@pytest.mark.root  # the local API admits root only
def test_errors_reach_the_plugin_as_the_same_kind(
    served: Served, error: errors.RomanaError, raised: type[errors.RomanaError]
) -> None:
    served.service.fail = error
    with pytest.raises(raised) as info:
        served.client.add_endpoint(request())
    assert type(info.value) is raised
    assert str(error) in str(info.value)


@pytest.mark.root  # the local API admits root only
def test_status_not_ready_carries_its_slug(served: Served) -> None:
    served.service.readiness = Readiness(False, "limited-connectivity", "routes broken")
    got = served.client.status()
    assert (got.ready, got.slug, got.detail) == (False, "limited-connectivity", "routes broken")


@pytest.mark.root  # the local API admits root only
def test_invalid_add_names_every_bad_field_at_once(served: Served) -> None:
    with pytest.raises(errors.InvalidInput) as info:
        served.client.add_endpoint(request(ifname="a/b", tenant="", mtu=9, extra=1))
    assert served.service.added == []
    detail = str(info.value)
    for field in ("ifname", "tenant", "mtu", "extra"):
        assert field in detail


def test_parse_add_collects_every_problem() -> None:
    with pytest.raises(errors.InvalidInput) as info:
        endpointwire.parse_request(
            {
                "container_id": "-x",
                "ifname": "x" * 16,
                "netns": "rel",
                "labels": {"a": 1},
                "mtu": True,
                "segment": "bad name",
            }
        )
    fields = {i.field for i in info.value.issues}
    assert fields == {"container_id", "ifname", "netns", "tenant", "labels.a", "mtu", "segment"}


def test_parse_gc_names_the_bad_attachment() -> None:
    with pytest.raises(errors.InvalidInput) as info:
        endpointwire.parse_gc({"network": "n", "valid": [{"container_id": "a", "ifname": "b"}, {}]})
    assert {i.field for i in info.value.issues} == {"valid[1].container_id", "valid[1].ifname"}
    parsed = endpointwire.parse_gc({"valid": [{"container_id": "a", "ifname": "b"}]})
    assert parsed == GcRequest("", frozenset({("a", "b")}))


@pytest.mark.root  # the local API admits root only
def test_keep_alive_serves_several_requests_on_one_connection(served: Served) -> None:
    get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    answer = served.raw(get + get + b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert answer.count(b"HTTP/1.1 200 OK") == 3


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"NONSENSE\r\n\r\n", b"400"),
        (b"POST /v1/endpoints HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", b"501"),
        (b"POST /v1/endpoints HTTP/1.1\r\nContent-Length: 99999999\r\n\r\n", b"413"),
        (b"GET / HTTP/1.1\r\nX: " + b"y" * 20000 + b"\r\n\r\n", b"431"),
        (b"POST /v1/endpoints HTTP/1.1\r\nContent-Length: 5\r\n\r\n{nope", b"400"),
        (b"PUT /v1/endpoints HTTP/1.1\r\n\r\n", b"405"),
        (b"GET /v2/anything HTTP/1.1\r\n\r\n", b"404"),
    ],
)
@pytest.mark.root  # the local API admits root only
def test_malformed_requests_get_a_problem_answer(
    served: Served, data: bytes, status: bytes
) -> None:
    answer = served.raw(data + b"GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 " + status), answer[:200]
    assert b"application/problem+json" in answer
    assert served.service.added == []


@pytest.mark.root  # the local API admits root only
def test_a_bug_in_a_handler_is_a_500_and_the_server_goes_on(served: Served) -> None:
    served.service.fail = ZeroDivisionError("bug")
    with pytest.raises(errors.RomanaError, match="HTTP 500"):
        served.client.add_endpoint(request())
    served.service.fail = None
    assert served.client.add_endpoint(request())["mtu"] == 1500


# --- who may call, and where ADD may wire --------------------------------------------------

NOBODY = 65534
API_GROUP = 4242


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory an unprivileged caller can enter (pytest's tmp_path is root's only)."""
    path = Path(tempfile.mkdtemp(prefix="rlapi", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_refusal_admits_root_and_holders_of_the_group_only() -> None:
    me = os.getpid()
    assert http.refusal(http.Peer(me, 0, 0), None) == ""
    assert "uid 1000" in http.refusal(http.Peer(me, 1000, 1000), None)
    assert http.refusal(http.Peer(me, 1000, API_GROUP), API_GROUP) == ""
    assert "members of group 4242" in http.refusal(http.Peer(0, 1000, 1000), API_GROUP)
    holder = http.Peer(me, 1000, 1000, frozenset({API_GROUP}))
    assert http.refusal(holder, API_GROUP) == "", "a supplementary group admits"


@pytest.mark.root
def test_a_caller_other_than_root_is_refused_even_through_a_loosened_mode(
    shared_dir: Path,
) -> None:
    need_root()
    served = Served(str(shared_dir / "agent.sock"), FakeService())
    try:
        assert peers.call_as(NOBODY, NOBODY, served.path) == {"connect": "PermissionError"}
        os.chmod(served.path, 0o666)
        answer = peers.call_as(NOBODY, NOBODY, served.path)
        assert answer["status"] == 403 and answer["body"]["type"].endswith("/forbidden")
        assert f"uid {NOBODY}" in answer["body"]["detail"]
        assert served.client.status().ready  # root goes on
    finally:
        served.stop()


@pytest.mark.root
def test_an_api_group_opens_the_socket_to_its_members(shared_dir: Path) -> None:
    need_root()
    served = Served(str(shared_dir / "agent.sock"), FakeService(), group=API_GROUP)
    try:
        info = os.stat(served.path)
        assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o660, 0, API_GROUP)
        assert peers.call_as(NOBODY, API_GROUP, served.path)["status"] == 200
        supplementary = peers.call_as(NOBODY, NOBODY, served.path, groups=[API_GROUP])
        assert supplementary["status"] == 200
        assert peers.call_as(NOBODY, NOBODY, served.path) == {"connect": "PermissionError"}
        os.chmod(served.path, 0o666)
        assert peers.call_as(NOBODY, NOBODY, served.path)["status"] == 403
    finally:
        served.stop()


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root: changes uid in a child process")


def test_check_netns_compares_namespaces_not_paths(tmp_path: Path) -> None:
    target = tmp_path / "ns"
    target.touch()
    alias = tmp_path / "alias"
    alias.symlink_to(target)
    st = os.stat(target)
    refused = {(st.st_dev, st.st_ino): "the host's"}
    for path in (target, alias):
        with pytest.raises(errors.InvalidInput, match="is the host's"):
            hostns.check(str(path), refused)
    hostns.check(str(tmp_path / "missing"), refused)  # left to the ADD's 404
    other = tmp_path / "other"
    other.touch()
    hostns.check(str(other), refused)


@pytest.mark.root  # the local API admits root only
def test_a_body_nested_too_deeply_is_invalid_input(served: Served) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    head = b"POST /v1/endpoints HTTP/1.1\r\nConnection: close\r\nContent-Length: %d\r\n\r\n" % len(
        body
    )
    answer = served.raw(head + body)
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"nested too deeply" in answer
