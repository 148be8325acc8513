"""The compiled front ``romana-cni``: forwarding to the agent, and every way back to Python.

A runtime sees the front as the plugin: whatever the agent answers, or, when the agent cannot
serve it, whatever the Python plugin answers to the very same invocation. The agent is the one
``ROMANA_AGENT_SOCKET`` names (default ``/run/romana/agent.sock``); the front never reads the
network configuration. These tests run the real binary against scripted agents on Unix sockets
and, for the fallback, a copy of the front beside a probe ``romana-cni-py`` recording what it
was handed (``cni_front_support``), or beside the real Python plugin.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cni_front_support import (
    DEFAULT_SOCKET,
    FRONT,
    PROBE_EXIT,
    PROBE_SOURCE,
    SILENT,
    SOURCE,
    Reply,
    Run,
    ScriptedAgent,
    answer,
    build,
    install,
    is_elf,
    run,
)

from romana.integrations.cni import pending, spec

STDIN_CAP = 1 << 20
PYTHON_PLUGIN = os.path.join(os.path.dirname(FRONT), "romana-cni-py")


@pytest.fixture(scope="session")
def front() -> str:
    """The front in the venv, rebuilt by scripts/build-cni.sh when its inputs changed."""
    try:
        build()
    except RuntimeError as exc:
        pytest.fail(f"cannot build {FRONT}: {exc}")
    assert is_elf(FRONT), f"{FRONT} is not the compiled front"
    return FRONT


@pytest.fixture
def probed(front: str, tmp_path: Path) -> str:
    """A copy of the front whose Python plugin (found beside it) is the probe."""
    return install(tmp_path / "probed", PROBE_SOURCE)


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    return tmp_path / "probe.json"


@pytest.fixture
def scripted(socket_dir: str) -> Iterator[ScriptedAgent]:
    agent = ScriptedAgent(f"{socket_dir}/agent.sock")
    yield agent
    agent.stop()


def cni_env(socket_path: str | None, command: str = "ADD", **extra: str) -> dict[str, str]:
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "ctr1",
        "CNI_NETNS": "/run/netns/rtest",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "LANG": "C.UTF-8",
        "OTHER": "not forwarded",
        **extra,
    }
    if socket_path is not None:
        env["ROMANA_AGENT_SOCKET"] = socket_path
    return env


def conf(**extra: Any) -> bytes:
    body: dict[str, Any] = {"cniVersion": "1.1.0", "name": "romana", "type": "romana-cni"}
    return json.dumps({**body, **extra}).encode()


def fell_back(out: Run, stdin: bytes, failed: str | None) -> None:
    """The probe ran, was handed ``stdin`` exactly, and ROMANA_CNI_AGENT_FAILED == failed."""
    assert (out.rc, out.stdout) == (PROBE_EXIT, b"probe\n"), out
    assert out.probe_stdin == stdin
    assert out.agent_failed == failed
    assert out.probe is not None and out.probe["fds"] == []


def refused_socket(path: str) -> str:
    """A socket file nobody listens on."""
    with socket.socket(socket.AF_UNIX) as bound:
        bound.bind(path)
    with socket.socket(socket.AF_UNIX) as probe:
        assert probe.connect_ex(path) == errno.ECONNREFUSED
    return path


# --- the source -------------------------------------------------------------------------


def test_the_front_stays_small_and_reads_no_configuration() -> None:
    text = SOURCE.read_text()
    assert len(text.splitlines()) <= 340
    assert "agent_socket" not in text and "json" not in text.replace("JSON", "")


# --- the forwarded request and the answer ----------------------------------------------


def test_the_request_carries_only_cni_variables_then_stdin_byte_for_byte(
    front: str, scripted: ScriptedAgent, dump: Path
) -> None:
    stdin = b'{"agent_socket": "/elsewhere.sock", "blob": "\xff\xfe\x80 caf\xc3\xa9"}\n \t'
    env = cni_env(
        scripted.path, CNI_ARGS="K8S_POD_NAME=web-0;X=a=b", CNI_EMPTY="", XCNI_NOT="x", cni_low="y"
    )
    out = run(front, stdin, env, dump)
    assert (out.rc, out.stdout, out.stderr) == (0, b"", b"")
    [request] = scripted.requests
    entries, forwarded_stdin = request.invocation()
    assert request.head == (
        b"POST /v1/cni HTTP/1.1\r\nHost: romana-agent\r\n"
        b"Content-Type: application/vnd.romana.cni\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(request.body)
    )
    assert sorted(entries) == sorted(
        f"{name}={value}".encode() for name, value in env.items() if name.startswith("CNI_")
    )
    assert forwarded_stdin == stdin


@pytest.mark.parametrize("exit_code", [0, 1])
def test_the_answer_is_split_between_stdout_and_stderr_and_gives_the_exit_code(
    front: str, scripted: ScriptedAgent, dump: Path, exit_code: int
) -> None:
    result = b'{"cniVersion": "1.1.0", "code": 7, "msg": "caf\xc3\xa9"}\n'
    log = b"romana-cni ADD ctr1/eth0: error 7\n\xff\n"
    scripted.respond = lambda request: Reply(answer(result, log, exit_code))
    out = run(front, conf(), cni_env(scripted.path), dump)
    assert (out.rc, out.stdout, out.stderr) == (exit_code, result, log)
    assert out.probe is None


def test_an_empty_answer_is_silent_success(front: str, scripted: ScriptedAgent, dump: Path) -> None:
    out = run(front, conf(), cni_env(scripted.path, "DEL"), dump)
    assert (out.rc, out.stdout, out.stderr, out.probe) == (0, b"", b"", None)


def test_header_names_are_case_insensitive_and_other_headers_are_ignored(
    front: str, scripted: ScriptedAgent, dump: Path
) -> None:
    raw = (
        b"HTTP/1.1 200 OK\r\nserver: uvicorn\r\ncontent-length: 6\r\n"
        b"ROMANA-CNI-EXIT:1\r\nromana-cni-stdout-length: \t3 \r\nX-Other: 9\r\n\r\nouterr"
    )
    scripted.respond = lambda request: Reply(raw)
    out = run(front, conf(), cni_env(scripted.path), dump)
    assert (out.rc, out.stdout, out.stderr) == (1, b"out", b"err")


def test_the_answer_ends_at_content_length_even_if_the_agent_keeps_the_connection(
    front: str, scripted: ScriptedAgent, dump: Path
) -> None:
    scripted.respond = lambda request: Reply(answer(b"{}\n"), close=False)
    out = run(front, conf(), cni_env(scripted.path), dump)
    assert (out.rc, out.stdout) == (0, b"{}\n")
    assert out.elapsed < 5


# --- which agent -------------------------------------------------------------------------


def test_each_invocation_reaches_the_agent_its_environment_names(
    front: str, socket_dir: str, dump: Path
) -> None:
    # Two agents in one run, as two lab hosts have: the configuration names neither.
    agents = [
        ScriptedAgent(f"{socket_dir}/{name}.sock", lambda r, n=name: Reply(answer(n.encode())))
        for name in ("a", "b")
    ]
    try:
        outs = [run(front, conf(), cni_env(a.path), dump).stdout for a in agents + agents[::-1]]
    finally:
        for agent in agents:
            agent.stop()
    assert outs == [b"a", b"b", b"b", b"a"]
    assert [len(a.requests) for a in agents] == [2, 2]


def test_the_configurations_agent_socket_is_not_read_by_the_front(
    probed: str, scripted: ScriptedAgent, dump: Path
) -> None:
    if os.path.exists(DEFAULT_SOCKET):
        pytest.skip(f"{DEFAULT_SOCKET} exists on this machine")
    # Without the variable the front goes to the default socket, absent here, then to Python,
    # which reads the key itself.
    stdin = conf(agent_socket=scripted.path)
    out = run(probed, stdin, cni_env(None), dump)
    fell_back(out, stdin, None)
    assert scripted.requests == []


def test_the_default_socket_is_set_at_build_time(
    front: str, scripted: ScriptedAgent, tmp_path: Path, dump: Path
) -> None:
    built = tmp_path / "romana-cni"
    build(built, f'-DROMANA_AGENT_SOCKET_DEFAULT="{scripted.path}"')
    out = run(str(built), conf(), cni_env(None), dump)
    assert (out.rc, out.probe, len(scripted.requests)) == (0, None, 1)


@pytest.mark.parametrize("value", ["relative.sock", "/" + "s" * 107])
def test_an_unusable_socket_variable_goes_to_python_which_names_it(
    front: str, probed: str, scripted: ScriptedAgent, dump: Path, value: str
) -> None:
    stdin = conf(tenant="t")
    fell_back(run(probed, stdin, cni_env(value), dump), stdin, None)
    out = run(front, stdin, cni_env(value), dump)
    assert out.rc == 1
    error = json.loads(out.stdout)
    assert (error["code"], error["msg"]) == (
        4,
        "invalid environment variables: ROMANA_AGENT_SOCKET",
    )
    assert scripted.requests == []


# --- the timeout ---------------------------------------------------------------------------


@pytest.mark.parametrize(("env_timeout", "expected"), [("0.4", 0.4), ("0.5 ", 0.5)])
def test_a_silent_agent_is_given_up_after_the_timeout(
    probed: str, scripted: ScriptedAgent, dump: Path, env_timeout: str, expected: float
) -> None:
    scripted.respond = lambda request: SILENT
    stdin = conf()
    out = run(probed, stdin, cni_env(scripted.path, ROMANA_CNI_TIMEOUT=env_timeout), dump)
    fell_back(out, stdin, f"romana-agent at {scripted.path} did not answer within {expected:g} s")
    assert expected - 0.05 < out.elapsed < expected + 5
    assert len(scripted.requests) == 1


def test_an_agent_whose_backlog_stays_full_is_given_up_after_the_timeout(
    probed: str, socket_dir: str, dump: Path
) -> None:
    path = f"{socket_dir}/full.sock"
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(path)
        listener.listen(0)
        waiting = []
        while True:  # fill the backlog: the agent accepts nothing
            client = socket.socket(socket.AF_UNIX)
            client.setblocking(False)
            if client.connect_ex(path) != 0:
                client.close()
                break
            waiting.append(client)
        stdin = conf()
        out = run(probed, stdin, cni_env(path, ROMANA_CNI_TIMEOUT="0.3"), dump)
        for client in waiting:
            client.close()
    fell_back(out, stdin, f"romana-agent at {path} did not answer within 0.3 s")
    assert 0.25 < out.elapsed < 5


# --- falling back to the Python plugin -----------------------------------------------------


@pytest.mark.parametrize("command", ["VERSION", "", None])
def test_version_and_a_missing_command_go_to_python_with_stdin_unread(
    probed: str, scripted: ScriptedAgent, dump: Path, tmp_path: Path, command: str | None
) -> None:
    stdin = conf()
    (tmp_path / "stdin").write_bytes(stdin)
    env = cni_env(scripted.path, command or "")
    if command is None:
        del env["CNI_COMMAND"]
    with open(tmp_path / "stdin", "rb") as f:
        out = run(probed, f, env, dump, args=["an", "argument list"])
        st_file = os.fstat(f.fileno())
    fell_back(out, stdin, None)
    assert out.probe is not None
    assert out.probe["stdin_file"] == [st_file.st_dev, st_file.st_ino]
    assert out.probe["stdin_offset"] == 0
    assert out.probe["argv"] == ["an", "argument list"]
    assert out.probe["env"] == {**env, "ROMANA_TEST_DUMP": str(dump)}
    assert scripted.requests == []


def test_stdin_up_to_1_mib_is_forwarded(front: str, scripted: ScriptedAgent, dump: Path) -> None:
    stdin = b'{"pad": "' + b"x" * (STDIN_CAP - 11) + b'"}'
    assert len(stdin) == STDIN_CAP
    out = run(front, stdin, cni_env(scripted.path), dump)
    assert out.rc == 0
    assert scripted.requests[0].invocation()[1] == stdin


def test_stdin_over_1_mib_goes_to_python_cut_one_byte_past_the_cap(
    probed: str, scripted: ScriptedAgent, dump: Path
) -> None:
    # One byte more than the cap is all the plugin needs to refuse it (code 6); the rest of
    # stdin is never read, however long it is.
    stdin = b'{"pad": "' + bytes(range(256)) * (3 * STDIN_CAP // 256) + b'"}'
    out = run(probed, stdin, cni_env(scripted.path), dump)
    fell_back(out, stdin[: STDIN_CAP + 1], None)
    assert scripted.requests == []


@pytest.mark.parametrize("how", ["missing", "refused"])
def test_an_agent_that_cannot_be_reached_leaves_everything_to_python(
    probed: str, socket_dir: str, dump: Path, how: str
) -> None:
    path = f"{socket_dir}/{how}.sock"
    if how == "refused":
        refused_socket(path)
    stdin = conf()
    env = cni_env(path)
    out = run(probed, stdin, env, dump, args=["x"])
    fell_back(out, stdin, None)
    assert out.probe is not None and out.probe["argv"] == ["x"]
    assert out.probe["env"] == {**env, "ROMANA_TEST_DUMP": str(dump)}


def _head(status: str, *headers: str) -> bytes:
    return ("\r\n".join([status, *headers]) + "\r\n\r\n").encode()


OK_HEADERS = ("Content-Length: 2", "Romana-Cni-Exit: 0", "Romana-Cni-Stdout-Length: 2")
UNUSABLE = {
    "404": _head("HTTP/1.1 404 Not Found", "Content-Length: 2") + b"{}",
    "500": _head("HTTP/1.1 500 Internal Server Error", *OK_HEADERS) + b"{}",
    "http-1.0": _head("HTTP/1.0 200 OK", *OK_HEADERS) + b"{}",
    "status-2000": _head("HTTP/1.1 2000 OK", *OK_HEADERS) + b"{}",
    "not-http": b"SSH-2.0-OpenSSH\r\n\r\n",
    "no-length": _head("HTTP/1.1 200 OK", *OK_HEADERS[1:]) + b"{}",
    "no-exit": _head("HTTP/1.1 200 OK", OK_HEADERS[0], OK_HEADERS[2]) + b"{}",
    "no-stdout-length": _head("HTTP/1.1 200 OK", *OK_HEADERS[:2]) + b"{}",
    "exit-2": _head("HTTP/1.1 200 OK", OK_HEADERS[0], "Romana-Cni-Exit: 2", OK_HEADERS[2]) + b"{}",
    "stdout-too-long": _head("HTTP/1.1 200 OK", *OK_HEADERS[:2], "Romana-Cni-Stdout-Length: 3")
    + b"{}",
    "length-not-a-number": _head("HTTP/1.1 200 OK", "Content-Length: 2x", *OK_HEADERS[1:]) + b"{}",
    "length-too-long": _head("HTTP/1.1 200 OK", "Content-Length: 1234567890123", *OK_HEADERS[1:]),
    "short-body": _head("HTTP/1.1 200 OK", "Content-Length: 10", *OK_HEADERS[1:]) + b"{}",
    "head-cut": b"HTTP/1.1 200 OK\r\nContent-Le",
    "nothing": b"",
}


@pytest.mark.parametrize("case", UNUSABLE)
def test_an_unusable_answer_goes_to_python(
    probed: str, scripted: ScriptedAgent, dump: Path, case: str
) -> None:
    raw = UNUSABLE[case]
    scripted.respond = lambda request: Reply(raw)
    stdin = conf()
    out = run(probed, stdin, cni_env(scripted.path), dump)
    # Not a timeout: the plugin calls the agent itself (one without /v1/cni serves it).
    fell_back(out, stdin, None)
    assert out.stderr == b""
    assert len(scripted.requests) == 1


def test_an_agent_closing_mid_request_neither_kills_the_front_nor_loses_stdin(
    probed: str, socket_dir: str, dump: Path
) -> None:
    agent = ScriptedAgent(f"{socket_dir}/rude.sock", lambda r: Reply(b""), read_body=False)
    try:
        stdin = b'{"pad": "' + b"p" * (STDIN_CAP - 11) + b'"}'
        out = run(probed, stdin, cni_env(agent.path), dump)
    finally:
        agent.stop()
    fell_back(out, stdin, None)


# --- finding the Python plugin -------------------------------------------------------------


def test_the_pair_is_relocatable_the_plugin_beside_the_front_answers(
    front: str, tmp_path: Path, socket_dir: str
) -> None:
    # Installed anywhere, with the agent down: the plugin found is the one beside the front
    # (through a symlink too, as runtimes' plugin directories hold them), not one on PATH.
    elsewhere = install(tmp_path / "elsewhere", "#!/bin/sh\necho elsewhere\n")
    here = install(tmp_path / "moved" / "bin", "#!/bin/sh\necho beside; exec /bin/cat\n")
    link = tmp_path / "cni-bin" / "romana-cni"
    link.parent.mkdir()
    link.symlink_to(here)
    env = {**cni_env(f"{socket_dir}/down.sock"), "PATH": os.path.dirname(elsewhere)}
    for path in (here, str(link)):
        done = subprocess.run([path], input=b"{}", env=env, capture_output=True, timeout=30)
        assert (done.returncode, done.stdout) == (0, b"beside\n{}")


def cannot_start(details: str) -> dict[str, Any]:
    """The CNI error the front answers itself when it starts no Python plugin."""
    return {
        "cniVersion": "1.0.0",
        "code": 999,
        "msg": "romana-cni cannot start its Python plugin",
        "details": details,
    }


def lookup_error(reason: str) -> dict[str, Any]:
    return cannot_start(f"romana-cni-py (ROMANA_CNI_PY, else beside romana-cni): {reason}")


def start(binary: str, env: dict[str, str], cwd: Path | None = None) -> tuple[int, bytes]:
    done = subprocess.run([binary], input=b"{}", env=env, cwd=cwd, capture_output=True, timeout=30)
    return done.returncode, done.stdout


def test_an_absolute_romana_cni_py_wins_over_the_plugin_beside_the_front(
    front: str, tmp_path: Path, socket_dir: str
) -> None:
    lone = install(tmp_path / "lone", None)  # no romana-cni-py beside it
    beside = install(tmp_path / "beside", "#!/bin/sh\necho beside\n")
    chosen = install(tmp_path / "chosen", "#!/bin/sh\necho chosen\n")
    chosen_py = os.path.join(os.path.dirname(chosen), "romana-cni-py")
    env = {**cni_env(f"{socket_dir}/down.sock"), "ROMANA_CNI_PY": chosen_py}
    assert start(lone, env) == (0, b"chosen\n")
    assert start(beside, env) == (0, b"chosen\n")
    assert start(beside, {**env, "ROMANA_CNI_PY": ""}) == (0, b"beside\n")


@pytest.mark.parametrize("relative", ["romana-cni-py", "./romana-cni-py", "bin/romana-cni-py"])
def test_a_relative_romana_cni_py_is_refused_with_a_cni_error(
    front: str, tmp_path: Path, socket_dir: str, relative: str
) -> None:
    # The runtime's working directory must not choose what runs as root: a plugin there that
    # the relative name would reach is not run, nor is the one beside the front.
    cwd = tmp_path / "cwd"
    for plugin in (cwd / "romana-cni-py", cwd / "bin" / "romana-cni-py"):
        plugin.parent.mkdir(parents=True, exist_ok=True)
        plugin.write_text("#!/bin/sh\necho from-cwd\n")
        plugin.chmod(0o755)
    beside = install(tmp_path / "beside", "#!/bin/sh\necho beside\n")
    env = {**cni_env(f"{socket_dir}/down.sock"), "ROMANA_CNI_PY": relative}
    rc, stdout = start(beside, env, cwd=cwd)
    assert rc == 1
    assert json.loads(stdout) == cannot_start("ROMANA_CNI_PY must be an absolute path")


def test_the_plugin_beside_the_front_is_used_without_romana_cni_py(
    front: str, tmp_path: Path, socket_dir: str
) -> None:
    beside = install(tmp_path / "beside", "#!/bin/sh\necho beside\n")
    on_path = install(tmp_path / "on-path", "#!/bin/sh\necho on-path\n")
    env = {**cni_env(f"{socket_dir}/down.sock"), "PATH": os.path.dirname(on_path)}
    assert start(beside, env) == (0, b"beside\n")


def test_a_romana_cni_py_on_path_is_never_run(front: str, tmp_path: Path, socket_dir: str) -> None:
    # With no plugin beside the front, neither PATH nor (through an empty PATH entry) the
    # working directory supplies one: the front answers the CNI error itself.
    lone = install(tmp_path / "lone", None)
    on_path = install(tmp_path / "on-path", "#!/bin/sh\necho on-path\n")
    cwd = Path(os.path.dirname(on_path))
    for path in (os.path.dirname(on_path), f":{os.path.dirname(on_path)}", ""):
        env = {**cni_env(f"{socket_dir}/down.sock"), "PATH": path}
        rc, stdout = start(lone, env, cwd=cwd)
        assert rc == 1
        assert json.loads(stdout) == alone_error("romana-agent did not answer at " + DEFAULT_NAMED)


def test_a_plugin_beside_the_front_that_is_not_executable_is_reported_not_bypassed(
    front: str, tmp_path: Path, socket_dir: str
) -> None:
    beside = install(tmp_path / "beside", "#!/bin/sh\necho beside\n")
    (tmp_path / "beside" / "romana-cni-py").chmod(0o644)
    on_path = install(tmp_path / "on-path", "#!/bin/sh\necho on-path\n")
    env = {**cni_env(f"{socket_dir}/down.sock"), "PATH": os.path.dirname(on_path)}
    rc, stdout = start(beside, env)
    assert rc == 1
    assert json.loads(stdout) == lookup_error("Permission denied")


def test_a_plugin_that_cannot_be_started_is_a_cni_error(
    front: str, tmp_path: Path, dump: Path
) -> None:
    beside = install(tmp_path / "beside", "#!/bin/sh\necho beside\n")
    env = {**cni_env(None, "VERSION"), "PATH": str(tmp_path / "empty")}
    out = run(beside, b"{}", {**env, "ROMANA_CNI_PY": str(tmp_path / "no-such-plugin")}, dump)
    assert out.rc == 1
    assert json.loads(out.stdout) == lookup_error("No such file or directory")


# --- a front installed alone (a Kubernetes node: no Python plugin beside it) ----------------

DEFAULT_NAMED = "$ROMANA_AGENT_SOCKET, else /run/romana/agent.sock"


def alone_error(why: str, code: int = 11) -> dict[str, Any]:
    """The CNI error a front without its Python plugin answers for a call the agent did not
    serve."""
    msg = (
        "CNI_COMMAND is not set" if code == 4 else "romana-agent did not serve the call, try again"
    )
    details = f"{why}; no romana-cni-py is installed beside romana-cni"
    return {"cniVersion": "1.0.0", "code": code, "msg": msg, "details": details}


def test_a_front_alone_answers_version_as_the_python_plugin_lists_it(
    front: str, tmp_path: Path
) -> None:
    lone = install(tmp_path / "lone", None)
    rc, stdout = start(lone, {"CNI_COMMAND": "VERSION", "PATH": "/usr/bin:/bin"})
    assert rc == 0
    assert json.loads(stdout) == spec.version_answer(None)


@pytest.mark.parametrize("command", ["ADD", "DEL", "CHECK", "STATUS", "GC"])
def test_a_front_alone_without_an_agent_answers_try_again_later(
    front: str, tmp_path: Path, socket_dir: str, command: str
) -> None:
    # Error 11: runtimes retry the call, and the agent serves it once it is back. A socket
    # path with a quote still gives a valid answer.
    lone = install(tmp_path / "lone", None)
    rc, stdout = start(lone, cni_env(f'{socket_dir}/do"wn.sock', command))
    assert rc == 1
    assert json.loads(stdout) == alone_error("romana-agent did not answer at " + DEFAULT_NAMED)
    rc, stdout = start(lone, {"PATH": "/usr/bin:/bin"})
    assert (rc, json.loads(stdout)) == (1, alone_error("the runtime passed no command", 4))


def test_a_front_alone_forwards_to_the_agent_like_any_other(
    front: str, tmp_path: Path, scripted: ScriptedAgent
) -> None:
    lone = install(tmp_path / "lone", None)
    rc, _ = start(lone, cni_env(scripted.path))
    assert rc == 0
    assert len(scripted.requests) == 1


# --- the real Python plugin behind the real front ------------------------------------------


def both(front: str, stdin: bytes, env: dict[str, str]) -> list[tuple[int, bytes, bytes]]:
    """(exit code, stdout, stderr) of the front and of the Python plugin, same invocation."""
    return [
        (done.returncode, done.stdout, done.stderr)
        for done in (
            subprocess.run([binary], input=stdin, env=env, capture_output=True, timeout=60)
            for binary in (front, PYTHON_PLUGIN)
        )
    ]


@pytest.mark.parametrize("agent", ["refused", "garbled", "404"])
@pytest.mark.parametrize("command", ["ADD", "STATUS", "CHECK"])
def test_a_fallback_answers_byte_for_byte_what_the_python_plugin_answers(
    front: str, socket_dir: str, tmp_path: Path, agent: str, command: str
) -> None:
    stdin = conf(tenant="t1", pending_dir=str(tmp_path / "pending"), agent_timeout=5)
    if agent == "refused":
        path = refused_socket(f"{socket_dir}/r.sock")
        front_out, python_out = both(front, stdin, cni_env(path, command))
    else:
        raw = b"\x00garbage\r\n\r\n" if agent == "garbled" else UNUSABLE["404"]
        scripted = ScriptedAgent(f"{socket_dir}/g.sock", lambda r: Reply(raw))
        try:
            front_out, python_out = both(front, stdin, cni_env(scripted.path, command))
        finally:
            scripted.stop()
    assert front_out == python_out
    assert front_out[0] == 1 and json.loads(front_out[1])["code"] > 0


def test_version_through_the_front_is_the_python_plugins_answer(front: str, dump: Path) -> None:
    out = run(front, b'{"cniVersion": "1.0.0"}', cni_env(None, "VERSION"), dump)
    assert (out.rc, out.stderr) == (0, b"")
    assert json.loads(out.stdout) == {
        "cniVersion": "1.0.0",
        "supportedVersions": list(spec.SUPPORTED_VERSIONS),
    }


def test_del_without_an_agent_records_a_pending_release(
    front: str, socket_dir: str, tmp_path: Path, dump: Path
) -> None:
    directory = str(tmp_path / "pending")
    stdin = conf(pending_dir=directory)
    out = run(front, stdin, cni_env(f"{socket_dir}/down.sock", "DEL", CNI_NETNS=""), dump)
    assert (out.rc, out.stdout) == (0, b"")
    [entry] = pending.list_pending(directory)
    assert (entry.container_id, entry.ifname) == ("ctr1", "eth0")


def test_the_front_is_installed_executable_beside_its_python_plugin(front: str) -> None:
    assert os.stat(front).st_mode & stat.S_IXUSR
    with open(PYTHON_PLUGIN) as f:
        assert "romana.integrations.cni.main" in f.read()
