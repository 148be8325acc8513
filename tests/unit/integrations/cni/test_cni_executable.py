"""The real ``romana-cni`` executable, driven as containerd and podman drive it.

What the runtimes send is from machine-lab.md §8: ctr passes ``CNI_CONTAINERID=<ns>-<id>``,
``CNI_NETNS=/proc/<pid>/ns/net`` and an empty ``CNI_NETNS`` on DEL; podman passes a 64-hex ID
and ``/run/netns/netns-<uuid>`` on every command, and rejects results without ``mac``.
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import subprocess
import sys
import time
from typing import Any

from cni_fake_agent import FakeAgent
from cni_support import EXECUTABLE, execute, finish, spawn

from romana.integrations.cni import pending, spec

PODMAN_ID = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
PODMAN_NETNS = "/run/netns/netns-2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901"


def test_version_is_printed_by_the_executable() -> None:
    out = execute("VERSION", {"cniVersion": "1.0.0"})
    assert (out.rc, out.stderr) == (0, "")
    assert out.json == {"cniVersion": "1.0.0", "supportedVersions": list(spec.SUPPORTED_VERSIONS)}


def test_containerd_style_add_check_del(agent: FakeAgent, conf: dict[str, Any]) -> None:
    ids = {"CNI_CONTAINERID": "lab-labt7", "CNI_NETNS": "/proc/4242/ns/net"}
    add = execute("ADD", conf, **ids)
    assert add.rc == 0, add.stdout + add.stderr
    assert add.json["interfaces"][1]["sandbox"] == "/proc/4242/ns/net"
    assert execute("CHECK", {**conf, "prevResult": add.json}, **ids).rc == 0
    delete = execute("DEL", {**conf, "prevResult": add.json}, **{**ids, "CNI_NETNS": ""})
    assert (delete.rc, delete.stdout) == (0, "")
    assert agent.endpoints == {}


def test_podman_style_add_gives_macs_and_del_passes_the_netns(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    ids = {"CNI_CONTAINERID": PODMAN_ID, "CNI_NETNS": PODMAN_NETNS}
    conf = {**conf, "cniVersion": "1.0.0"}
    add = execute("ADD", conf, **ids)
    assert add.rc == 0, add.stdout + add.stderr
    assert all(iface["mac"] for iface in add.json["interfaces"])
    assert execute("DEL", conf, **ids).rc == 0
    assert agent.calls[-1][:2] == ("DELETE", f"/v1/endpoints/{PODMAN_ID}/eth0")


def test_an_error_is_json_on_stdout_and_exit_code_1(conf: dict[str, Any]) -> None:
    out = execute("ADD", conf, CNI_IFNAME=None)
    assert out.rc == 1
    assert out.json["code"] == spec.ERR_INVALID_ENVIRONMENT
    assert "CNI_IFNAME" in out.stderr


def test_fifty_parallel_adds_get_fifty_distinct_addresses(
    agent: FakeAgent, conf: dict[str, Any]
) -> None:
    started = time.monotonic()
    conf = {**conf, "agent_timeout": 30}  # 50 interpreters starting at once on a busy CI box
    procs = [spawn("ADD", conf, CNI_CONTAINERID=f"pod{n}") for n in range(50)]
    outs = [finish(p, timeout=60) for p in procs]
    elapsed = time.monotonic() - started
    assert [o.rc for o in outs] == [0] * 50, [o.stdout for o in outs if o.rc]
    addresses = {o.json["ips"][0]["address"] for o in outs}
    assert len(addresses) == 50
    assert all(ipaddress.ip_interface(a) in ipaddress.ip_network("10.1.16.0/24") for a in addresses)
    assert {agent.address_of(f"pod{n}", "eth0") for n in range(50)} == addresses
    print(f"50 parallel ADD processes: {elapsed:.2f} s")


def test_del_with_the_agent_down_leaves_a_pending_release_the_agent_can_finish(
    conf: dict[str, Any], pending_dir: str
) -> None:
    out = execute("DEL", {**conf, "agent_socket": "/nonexistent/agent.sock"}, CNI_NETNS="")
    assert (out.rc, out.stdout) == (0, "")
    [entry] = pending.list_pending(pending_dir)
    assert (entry.container_id, entry.ifname, entry.netns) == ("ctr1", "eth0", "")
    assert time.time() - entry.recorded_at < 60
    assert pending.complete(pending_dir, entry)
    assert pending.list_pending(pending_dir) == []


def test_process_deadline_turns_a_hung_add_into_error_11_and_a_hung_del_into_success(
    socket_dir: str, conf: dict[str, Any], pending_dir: str
) -> None:
    with socket.socket(socket.AF_UNIX) as mute:
        mute.bind(f"{socket_dir}/mute.sock")
        mute.listen(8)
        conf = {**conf, "agent_timeout": 30}
        hung = {"ROMANA_AGENT_SOCKET": mute.getsockname(), "ROMANA_CNI_TIMEOUT": "0.5"}
        started = time.monotonic()
        add = execute("ADD", conf, **hung)
        delete = execute("DEL", conf, **hung)
        elapsed = time.monotonic() - started
    assert (add.rc, add.json["code"]) == (1, spec.ERR_TRY_AGAIN_LATER)
    # The compiled front gave up at ROMANA_CNI_TIMEOUT and told the plugin not to wait again.
    assert "did not answer within 0.5 s" in add.json["details"]
    assert (delete.rc, delete.stdout) == (0, "")
    assert len(pending.list_pending(pending_dir)) == 1
    assert elapsed < 10


def test_a_plugin_stuck_past_the_grace_period_is_ended_with_error_11() -> None:
    code = (
        "import sys, time\n"
        "from romana.integrations.cni import main, plugin\n"
        "def stuck(*args):\n"
        "    while True:\n"
        "        try:\n"
        "            time.sleep(10)\n"
        "        except TimeoutError:\n"
        "            pass\n"
        "plugin.run = stuck\n"
        "main.GRACE_SECONDS = 0.2\n"
        "sys.exit(main.main())\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        env={"ROMANA_CNI_TIMEOUT": "0.2"},
        capture_output=True,
        timeout=20,
    )
    assert run.returncode == 1
    assert json.loads(run.stdout)["code"] == spec.ERR_TRY_AGAIN_LATER


FORBIDDEN = ("pydantic", "httpx", "fastapi", "starlette", "uvicorn", "typer", "rich", "yaml")
PROBE = """
import json, sys
import romana.integrations.cni.main
print(json.dumps(sorted(sys.modules)))
"""


def loaded_modules(code: str, env: dict[str, str] | None = None) -> list[str]:
    run = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, check=True, text=True
    )
    return list(json.loads(run.stdout.splitlines()[-1]))


def test_importing_the_entry_point_loads_only_the_standard_library_and_the_plugin() -> None:
    modules = loaded_modules(PROBE)
    foreign = [
        m
        for m in modules
        if m.split(".")[0] not in sys.stdlib_module_names
        and m.split(".")[0] not in ("romana", "_distutils_hack", "__main__")
    ]
    assert foreign == []
    assert not [m for m in modules if m.split(".")[0] in FORBIDDEN]
    assert [m for m in modules if m.startswith("romana")] == [
        "romana",
        "romana.integrations",
        "romana.integrations.cni",
        "romana.integrations.cni.main",
        "romana.integrations.cni.plugin",
        "romana.integrations.cni.spec",
    ]


def test_version_does_not_load_the_agent_client() -> None:
    code = (
        "import io, json, sys\n"
        "from romana.integrations.cni import plugin\n"
        "out = io.StringIO()\n"
        "plugin.run({'CNI_COMMAND': 'VERSION'}, io.BytesIO(b''), out, sys.stderr)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    modules = loaded_modules(code)
    assert "http.client" not in modules
    assert "romana.integrations.cni.agentapi" not in modules
    assert "dataclasses" not in modules


def test_the_add_path_loads_no_third_party_module(agent: FakeAgent, conf: dict[str, Any]) -> None:
    code = (
        "import io, json, sys\n"
        "from romana.integrations.cni import plugin\n"
        f"conf = {json.dumps(conf)!r}.encode()\n"
        "env = {'CNI_COMMAND': 'ADD', 'CNI_CONTAINERID': 'probe', 'CNI_NETNS': '/run/netns/p',"
        " 'CNI_IFNAME': 'eth0'}\n"
        "assert plugin.run(env, io.BytesIO(conf), io.StringIO(), sys.stderr) == 0\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    modules = loaded_modules(code)
    # The local API client speaks HTTP on the socket itself: http.client's import alone
    # (email, ssl) would cost about 40 ms of every ADD.
    assert "http.client" not in modules
    assert "ssl" not in modules
    assert not [m for m in modules if m.split(".")[0] in FORBIDDEN]
    assert agent.endpoints.keys() == {("probe", "eth0")}


def test_executable_is_the_compiled_front_and_its_fallback_the_console_script() -> None:
    fallback = os.path.join(os.path.dirname(EXECUTABLE), "romana-cni-py")
    with open(EXECUTABLE, "rb") as f:
        front = f.read()
    assert front[:4] == b"\x7fELF"
    # Found beside the front at run time, not compiled in: the pair can be installed anywhere.
    assert fallback.encode() not in front
    with open(fallback) as f:
        assert "romana.integrations.cni.main" in f.read()
