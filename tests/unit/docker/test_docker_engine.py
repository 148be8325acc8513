"""Which container holds each Docker endpoint: the matching of dockerd's container list with
the plugin's endpoint map, the labeller over fakes, and the plugin asking a dockerd stand-in
that answers ``GET /containers/json`` over a real Unix socket after a Join."""

from __future__ import annotations

import asyncio
import http.server
import json
import logging
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from romana.agent import main
from romana.core import errors
from romana.integrations.docker import engine
from romana.integrations.docker.engine import Engine, Labeller
from romana.integrations.docker.plugin import Plugin
from romana.integrations.docker.ports import Deps
from unit.docker.test_docker_plugin import (
    ENDPOINT_ID,
    NETWORK_ID,
    SANDBOX,
    FakePort,
    FakeRomanad,
    Host,
    endpoint,
    host_view,
    run,
)

WEB = "f" * 64
DB = "0123456789abcdef" * 4


def container(container_id: str, **endpoints: str) -> dict[str, Any]:
    """A container as ``GET /containers/json`` lists it: network name → EndpointID."""
    networks = {
        name: {"NetworkID": NETWORK_ID, "EndpointID": eid, "IPAddress": "10.2.17.1"}
        for name, eid in endpoints.items()
    }
    return {
        "Id": container_id,
        "Names": ["/web"],
        "State": "running",
        "NetworkSettings": {"Networks": networks},
    }


def test_holders_map_each_endpoint_to_its_container() -> None:
    listed = [
        container(WEB, web="e1", db="e2"),
        container(DB, db="e3"),
        container("a" * 64, web=""),  # stopped: docker keeps the network, not the endpoint
        {"Id": "b" * 64, "NetworkSettings": None},
        {"Names": ["/no-id"], "NetworkSettings": {"Networks": {"web": {"EndpointID": "e9"}}}},
        "junk",
    ]
    assert engine.holders(listed) == {"e1": WEB, "e2": WEB, "e3": DB}
    assert engine.holders({"message": "page not found"}) == {}


def test_labels_name_the_container_of_each_pending_endpoint_found() -> None:
    pending = {"e1": "docker-1:rdk1", "e2": "docker-2:rdk2"}
    assert engine.labels(pending, {"e1": WEB, "e7": DB}) == {"docker-1:rdk1": f"docker:{WEB}"}
    assert engine.workload_of(DB) == f"docker:{DB}"


class FakeEngine(Engine):
    def __init__(self) -> None:
        super().__init__("/nowhere/docker.sock")
        self.listed: object = []
        self.calls = 0
        self.down = False

    async def containers(self) -> object:
        self.calls += 1
        if self.down:
            raise errors.Unavailable(f"docker API {self.socket} does not answer: refused")
        return self.listed


@run
async def test_the_labeller_asks_only_about_endpoints_without_a_workload(
    caplog: pytest.LogCaptureFixture,
) -> None:
    romanad = FakeRomanad()
    for key in ("docker-1:rdk1", "docker-2:rdk2"):
        await romanad.allocate(key, "h2", "t1", "web")
    mapped = {"e1": "docker-1:rdk1", "e2": "docker-2:rdk2"}
    dockerd = FakeEngine()
    labeller = Labeller(dockerd, romanad, lambda: mapped)
    dockerd.down = True
    with caplog.at_level(logging.DEBUG, logger=engine.__name__):
        assert await labeller.label() == 2
        assert await labeller.label() == 2
    said = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in said] == [logging.WARNING, logging.DEBUG], said
    assert "docker API /nowhere/docker.sock does not answer" in said[0][1]
    dockerd.down = False
    dockerd.listed = [container(WEB, web="e1")]
    assert await labeller.label() == 1, "e2's container is not listed yet"
    assert romanad.allocations["docker-1:rdk1"]["workload"] == f"docker:{WEB}"
    assert "workload" not in romanad.allocations["docker-2:rdk2"]
    dockerd.listed = [container(WEB, web="e1"), container(DB, db="e2")]
    assert await labeller.label() == 0
    assert romanad.allocations["docker-2:rdk2"]["workload"] == f"docker:{DB}"
    calls = dockerd.calls
    assert await labeller.label() == 0
    assert dockerd.calls == calls, "nothing pending: dockerd is not asked"


@run
async def test_a_workload_romanad_refused_is_set_on_a_later_pass() -> None:
    romanad = FakeRomanad()
    mapped = {"e1": "docker-1:rdk1"}
    dockerd = FakeEngine()
    dockerd.listed = [container(WEB, web="e1")]
    labeller = Labeller(dockerd, romanad, lambda: mapped)
    assert await labeller.label() == 1, "romanad has no such allocation yet: NotFound"
    await romanad.allocate("docker-1:rdk1", "h2", "t1", "web")
    assert await labeller.label() == 0
    assert romanad.allocations["docker-1:rdk1"]["workload"] == f"docker:{WEB}"


class Dockerd(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    """A stand-in of dockerd's Engine API: ``GET /containers/json`` answers ``listed``."""

    daemon_threads = True

    def __init__(self, path: str) -> None:
        self.listed: list[dict[str, Any]] = []
        self.queries: list[str] = []
        super().__init__(path, _Handler)


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Dockerd

    def do_GET(self) -> None:
        self.server.queries.append(self.path)
        found = self.path.split("?")[0] == "/containers/json"
        body = json.dumps(self.server.listed if found else {"message": "page not found"})
        self.send_response(200 if found else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def dockerd(tmp_path: Path) -> Iterator[Dockerd]:
    server = Dockerd(str(tmp_path / "docker.sock"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


@run
async def test_the_engine_lists_every_container_over_the_unix_socket(dockerd: Dockerd) -> None:
    dockerd.listed = [container(WEB, web="e1")]
    api = Engine(str(dockerd.server_address))
    assert engine.holders(await api.containers()) == {"e1": WEB}
    assert dockerd.queries == ["/containers/json?all=1"]
    with pytest.raises(errors.Unavailable, match=r"gone\.sock does not answer"):
        await Engine(str(Path(str(dockerd.server_address)).with_name("gone.sock"))).containers()


@run
async def test_after_a_join_the_plugin_labels_the_allocation_with_its_container(
    dockerd: Dockerd, tmp_path: Path
) -> None:
    romanad = FakeRomanad()
    creator = Host(1, romanad, tmp_path / "a")
    pool = await creator.create()
    port = FakePort("10.2.0.1")
    deps = Deps(
        host="h2",
        romanad=romanad,
        view=lambda: host_view(2),
        endpoints=port,
        state_dir=str(tmp_path / "b"),
        docker_api=str(dockerd.server_address),
    )
    plugin = Plugin(deps)
    await plugin.call("/IpamDriver.RequestAddress", json.dumps({"PoolID": pool}).encode())
    (key,) = romanad.allocations
    await plugin.call(
        "/NetworkDriver.CreateEndpoint", json.dumps(endpoint("10.2.17.1/32")).encode()
    )
    sweep = asyncio.create_task(plugin.sweep(3600.0))  # only a Join makes it ask now
    try:
        ids = {"NetworkID": NETWORK_ID, "EndpointID": ENDPOINT_ID, "SandboxKey": SANDBOX}
        joined = await plugin.call("/NetworkDriver.Join", json.dumps(ids).encode())
        assert "Err" not in joined.body, joined.body
        await asyncio.sleep(0.5)
        assert "workload" not in romanad.allocations[key], "docker has not started it yet"
        dockerd.listed = [container(WEB, web=ENDPOINT_ID)]
        async with asyncio.timeout(5):
            while "workload" not in romanad.allocations[key]:
                await asyncio.sleep(0.05)
        assert romanad.allocations[key]["workload"] == f"docker:{WEB}"
    finally:
        sweep.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sweep


def test_the_docker_api_is_dockerds_default_socket_unless_set() -> None:
    assert main.load_settings(["--insecure"], {}).settings.docker_api == "/run/docker.sock"
    loaded = main.load_settings(
        ["--insecure", "--docker-socket", "/run/docker/plugins/romana.sock", "--docker-api",
         "/var/run/other.sock"], {},
    )  # fmt: skip
    assert loaded.settings.docker_api == "/var/run/other.sock"
    with pytest.raises(errors.InvalidInput) as info:
        main.load_settings(
            ["--insecure", "--docker-socket", "/run/docker/plugins/romana.sock", "--docker-api",
             "docker.sock"], {},
        )  # fmt: skip
    assert {i.field for i in info.value.issues} == {"docker_api"}
