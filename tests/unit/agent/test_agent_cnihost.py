"""``POST /v1/cni``: the CNI plugin hosted in the agent calls the endpoint port directly.

What a runtime relies on: the hosted plugin gives the CNI result and errors the plugin gives
over the socket, and an ADD is short: from the request's arrival to the allocation call it
passes through a handful of modules on the event loop, and touches one thread besides it.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
from agent_fakes import EndpointsRig
from agent_fakes import scenario as run_scenario

from romana.agent import cnihost, http, ledger, localapi
from romana.core import errors
from romana.core.endpoint import EndpointRequest
from romana.integrations.cni import spec


class Rig(EndpointsRig):
    def __init__(self, tmp_path: Path) -> None:
        super().__init__(tmp_path)
        self.host = cnihost.CniHost(localapi.LocalApi(self.service), self.service)

    def invocation(self, command: str, container_id: str, netns: str, **conf: Any) -> bytes:
        env = {
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container_id,
            "CNI_NETNS": netns,
            "CNI_IFNAME": "eth0",
            "CNI_PATH": "/opt/cni/bin",
        }
        config = {"cniVersion": "1.1.0", "name": "net1", "type": "romana-cni", "tenant": "t1"}
        config.update(conf)
        entries = b"".join(f"{k}={v}".encode() + b"\0" for k, v in env.items())
        return entries + b"\0" + json.dumps(config).encode()

    async def cni(self, body: bytes) -> tuple[int, dict[str, Any], str]:
        """(exit code, stdout as JSON, stderr) of one forwarded invocation."""
        request = http.make_request("POST", "/v1/cni", {"Content-Type": cnihost.CONTENT_TYPE}, body)
        response = await http.dispatch(self.host, request)
        assert response.status == 200, response.body
        data = http.payload(response)
        cut = int(response.headers["Romana-Cni-Stdout-Length"])
        exit_code = int(response.headers["Romana-Cni-Exit"])
        return exit_code, json.loads(data[:cut] or b"{}"), data[cut:].decode()


def scenario(tmp_path: Path, body: Callable[[Rig], Awaitable[None]]) -> None:
    run_scenario(tmp_path, body, Rig)


def test_a_forwarded_add_and_del_answer_as_the_plugin_does(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        code, result, _ = await rig.cni(rig.invocation("ADD", "c1", rig.netns("c1")))
        assert code == 0, result
        assert [ip["address"] for ip in result["ips"]] == ["10.1.16.1/32"]
        assert result["interfaces"][1] == {
            "name": "eth0",
            "mac": result["interfaces"][1]["mac"],
            "mtu": 1500,
            "sandbox": str(tmp_path / "ns-c1"),
        }
        record = rig.registry.get("c1:eth0")
        assert record is not None and record.state == ledger.READY
        code, result, _ = await rig.cni(rig.invocation("DEL", "c1", ""))
        assert (code, result) == (0, {}) and rig.registry.get("c1:eth0") is None

    scenario(tmp_path, body)


def test_the_ports_errors_reach_the_runtime_as_over_the_socket(tmp_path: Path) -> None:
    async def body(rig: Rig) -> None:
        code, error, _ = await rig.cni(rig.invocation("ADD", "c1", "/run/netns/none"))
        assert (code, error["code"]) == (1, 3)
        assert error["details"] == "romana-agent: network namespace /run/netns/none does not exist"
        code, error, _ = await rig.cni(rig.invocation("ADD", "c2", rig.netns("c2"), tenant="-t"))
        assert (code, error["code"]) == (1, spec.ERR_INVALID_CONFIG)
        assert error["msg"] == "invalid network configuration: tenant"
        assert error["details"].startswith("romana-agent rejected the request: tenant: ")
        code, error, _ = await rig.cni(rig.invocation("ADD", "c3", "/proc/self/ns/net"))
        assert (code, error["code"]) == (1, spec.ERR_INVALID_ENVIRONMENT)
        assert "the agent's own network namespace" in error["details"]
        assert rig.registry.records() == [] and rig.romanad.allocations == {}

    scenario(tmp_path, body)


def test_del_and_check_of_an_invalid_identity_are_refused_as_over_the_socket(
    tmp_path: Path,
) -> None:
    """The port checks the endpoint's identity for every front end: a container id longer
    than 200 characters is invalid input (CNI code 4) naming ``CNI_CONTAINERID``, and
    nothing reaches romanad."""

    async def body(rig: Rig) -> None:
        for command in ("DEL", "CHECK"):
            netns = rig.netns("c9")
            prev = {"cniVersion": "1.1.0", "interfaces": [], "ips": []}
            call = rig.invocation(command, "c" * 201, netns, prevResult=prev)
            code, error, _ = await rig.cni(call)
            assert (code, error["code"]) == (1, spec.ERR_INVALID_ENVIRONMENT), error
            assert "CNI_CONTAINERID" in error["msg"], error
        assert rig.romanad.calls == []

    scenario(tmp_path, body)


def test_a_port_call_is_bounded_by_the_agent_timeout() -> None:
    class Stuck:
        async def add(self, request: EndpointRequest) -> None:
            await asyncio.sleep(60)

    async def main() -> None:
        port = cnihost.HostedPort(Stuck(), 0.05)  # type: ignore[arg-type]
        with pytest.raises(errors.Unavailable, match=r"did not answer POST /v1/endpoints"):
            await port.add(EndpointRequest("c1", "eth0", "/x", "t1"))

    asyncio.run(main())


def test_the_add_path_to_the_allocation_is_short(tmp_path: Path) -> None:
    """From the arrival of ``POST /v1/cni`` to the allocation call (docs/architecture.md,
    section 3): the modules the request passes through, and the threads besides the loop."""
    chain: list[str] = []
    threads: set[str] = set()
    window = threading.Event()

    def profile(frame: FrameType, event: str, arg: object) -> None:
        if window.is_set() and event == "call":
            module = str(frame.f_globals.get("__name__", ""))
            if module.startswith("romana.") and threading.current_thread() is not loop_thread:
                # Pool threads are named <pool>_<n>.
                threads.add(threading.current_thread().name.rsplit("_", 1)[0])

    async def body(rig: Rig) -> None:
        allocate = rig.romanad.allocate

        async def spy(*args: Any, **kwargs: Any) -> dict[str, Any]:
            frame = sys._getframe(1)
            while frame is not None:
                module = str(frame.f_globals.get("__name__", ""))
                if module.startswith("romana.") and module not in chain:
                    chain.append(module)
                frame = frame.f_back  # type: ignore[assignment]
            return await allocate(*args, **kwargs)

        rig.romanad.allocate = spy  # type: ignore[method-assign]
        window.set()
        code, result, _ = await rig.cni(rig.invocation("ADD", "c1", rig.netns("c1")))
        window.clear()
        assert code == 0, result

    loop_thread = threading.current_thread()
    threading.setprofile(profile)  # type: ignore[arg-type]
    try:
        scenario(tmp_path, body)
    finally:
        threading.setprofile(None)  # type: ignore[arg-type]
    assert chain == [
        "romana.agent.endpoints",
        "romana.agent.cnihost",
        "romana.integrations.cni.commands",
        "romana.integrations.cni.plugin",
        "romana.agent.http",
    ]
    # Up to the allocation, only the writer thread (the veth pair, while the allocation is
    # made); in the agent the allocation's own exchange with romanad is the second
    # (romanad.in_daemon_thread). After it, the loop writes the ready record while the writer
    # addresses the pair.
    assert threads == {"romana-writer"}
