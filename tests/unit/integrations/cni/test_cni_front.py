"""The compiled front ``romana-cni``: forwarding to the agent, and every way back to Python.

A runtime sees the front as the plugin: whatever the agent answers, or, when the agent cannot
serve it, whatever the Python plugin answers to the very same invocation. These tests run the
real binary against a scripted agent on a Unix socket and, for the fallback, a copy of the
front whose Python plugin is a probe recording what it was handed (``cni_front_support``).
"""

from __future__ import annotations

import errno
import json
import os
import random
import socket
import stat
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
    Reply,
    Run,
    ScriptedAgent,
    answer,
    build,
    is_elf,
    run,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from romana.integrations.cni import pending, spec

STDIN_CAP = 1 << 20


@pytest.fixture(scope="session")
def front() -> str:
    """The front in the venv, rebuilt by scripts/build-cni.sh when its inputs changed."""
    try:
        build(Path(FRONT), os.path.join(os.path.dirname(FRONT), "romana-cni-py"))
    except RuntimeError as exc:
        pytest.fail(f"cannot build {FRONT}: {exc}")
    assert is_elf(FRONT), f"{FRONT} is not the compiled front"
    return FRONT


@pytest.fixture(scope="session")
def probed(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A front whose Python plugin is the probe."""
    directory = tmp_path_factory.mktemp("front")
    probe = directory / "probe"
    probe.write_text(PROBE_SOURCE)
    probe.chmod(0o755)
    return str(build(directory / "romana-cni", str(probe)))


@pytest.fixture
def dump(tmp_path: Path) -> Path:
    return tmp_path / "probe.json"


@pytest.fixture
def scripted(socket_dir: str) -> Iterator[ScriptedAgent]:
    agent = ScriptedAgent(f"{socket_dir}/agent.sock")
    yield agent
    agent.stop()


def cni_env(command: str = "ADD", **extra: str) -> dict[str, str]:
    return {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "ctr1",
        "CNI_NETNS": "/run/netns/rtest",
        "CNI_IFNAME": "eth0",
        "CNI_PATH": "/opt/cni/bin",
        "LANG": "C.UTF-8",
        "OTHER": "not forwarded",
        **extra,
    }


def conf(agent_socket: str | None, **extra: Any) -> bytes:
    body: dict[str, Any] = {"cniVersion": "1.1.0", "name": "romana", "type": "romana-cni"}
    if agent_socket is not None:
        body["agent_socket"] = agent_socket
    return json.dumps({**body, **extra}).encode()


def fell_back(out: Run, stdin: bytes, failed: str | None) -> None:
    """The probe ran, was handed ``stdin`` exactly, and ROMANA_CNI_AGENT_FAILED == failed."""
    assert (out.rc, out.stdout) == (PROBE_EXIT, b"probe\n"), out
    assert out.probe_stdin == stdin
    assert out.agent_failed == failed
    assert out.probe is not None and out.probe["fds"] == []


# --- the forwarded request and the answer ------------------------------------------------


def test_the_request_carries_only_cni_variables_then_stdin_byte_for_byte(
    front: str, scripted: ScriptedAgent, dump: Path
) -> None:
    stdin = b'{"agent_socket": "%s", "blob": "\xff\xfe\x80 caf\xc3\xa9"}\n \t' % (
        scripted.path.encode()
    )
    env = cni_env(CNI_ARGS="K8S_POD_NAME=web-0;X=a=b", CNI_EMPTY="", XCNI_NOT="x", cni_low="y")
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
    out = run(front, conf(scripted.path), cni_env(), dump)
    assert (out.rc, out.stdout, out.stderr) == (exit_code, result, log)
    assert out.probe is None


def test_an_empty_answer_is_silent_success(front: str, scripted: ScriptedAgent, dump: Path) -> None:
    out = run(front, conf(scripted.path), cni_env("DEL"), dump)
    assert (out.rc, out.stdout, out.stderr, out.probe) == (0, b"", b"", None)


def test_header_names_are_case_insensitive_and_other_headers_are_ignored(
    front: str, scripted: ScriptedAgent, dump: Path
) -> None:
    body = b"outerr"
    raw = (
        b"HTTP/1.1 200 OK\r\nserver: uvicorn\r\ncontent-length: 6\r\n"
        b"ROMANA-CNI-EXIT:1\r\nromana-cni-stdout-length: \t3 \r\nX-Other: 9\r\n\r\n" + body
    )
    scripted.respond = lambda request: Reply(raw)
    out = run(front, conf(scripted.path), cni_env(), dump)
    assert (out.rc, out.stdout, out.stderr) == (1, b"out", b"err")


def test_the_answer_ends_at_content_length_even_if_the_agent_keeps_the_connection(
    front: str, scripted: ScriptedAgent, dump: Path
) -> None:
    scripted.respond = lambda request: Reply(answer(b"{}\n"), close=False)
    out = run(front, conf(scripted.path, agent_timeout=20), cni_env(), dump)
    assert (out.rc, out.stdout) == (0, b"{}\n")
    assert out.elapsed < 5


# --- the configuration scanner ------------------------------------------------------------


def test_agent_socket_is_read_at_the_top_level_only(
    front: str, scripted: ScriptedAgent, socket_dir: str, dump: Path
) -> None:
    decoy = ScriptedAgent(f"{socket_dir}/decoy.sock", lambda r: Reply(answer(b"decoy")))
    try:
        stdin = (
            '{"ipam": {"agent_socket": "%s", "x": [{"agent_socket": "%s"}]},'
            ' "note": "\\"agent_socket\\": \\"%s\\"",'
            ' "agent_socket": "%s",'
            ' "tail": ["agent_socket", "%s"]}' % ((decoy.path,) * 3 + (scripted.path, decoy.path))
        ).encode()
        out = run(front, stdin, cni_env(), dump)
    finally:
        decoy.stop()
    assert (out.rc, len(scripted.requests), decoy.requests) == (0, 1, [])


def test_escapes_in_other_strings_do_not_derail_the_scanner(
    front: str, scripted: ScriptedAgent, dump: Path
) -> None:
    stdin = (
        r'{"a\"": "x\\", "b": "\\\"agent_socket\": \"/nowhere\"\\", "\u00e9\ud83d\ude00": '
        r'"\/\b\f\n\r\t\u0022", "agent\u005fsocket": "' + scripted.path + r'", "c": "\\"}'
    ).encode()
    assert json.loads(stdin)["agent_socket"] == scripted.path
    out = run(front, stdin, cni_env(), dump)
    assert (out.rc, len(scripted.requests)) == (0, 1)


def test_the_last_top_level_agent_socket_wins_as_in_python(
    front: str, scripted: ScriptedAgent, dump: Path
) -> None:
    stdin = b'{"agent_socket": "/nowhere/first.sock", "agent_socket": "%s"}' % (
        scripted.path.encode()
    )
    out = run(front, stdin, cni_env(), dump)
    assert (out.rc, len(scripted.requests)) == (0, 1)


# Each would reach the scripted agent if the scanner took it for a JSON object ("S").
NOT_WALKABLE = [
    b"",
    b'["S"]',
    b'"agent_socket": "S"',
    b'{"agent_socket": "S"',
    b'{"agent_socket": "S"}x',
    b'{"agent_socket": "S",}',
    b'{"agent_socket": "S", "a": [1,]}',
    b"{'agent_socket': 'S'}",
    b'{"agent_socket": "S", "a": "\x01"}',
    b'{"agent_socket": "S", "a": "\\x"}',
    b'{"agent_socket": "S", "a": "\\u12"}',
    b'{"agent_socket": "S", "a": "\\"}',
    b'{"agent_socket": "S", "a": 01}',
    b'{"agent_socket": "S", "a": 1.}',
    b'{"agent_socket": "S", "a": tru}',
    b'{"agent_socket": "S", "a": [}]}',
    b'{"agent_socket": "S" "a": 1}',
    b'\xef\xbb\xbf{"agent_socket": "S"}',
    b'{"agent_socket": "S", "a": ' + b"[" * 600 + b"]" * 600 + b"}",
]


@pytest.mark.parametrize("template", NOT_WALKABLE, ids=lambda t: repr(t[:40]))
def test_a_configuration_the_scanner_cannot_walk_goes_to_python_as_it_was(
    probed: str, scripted: ScriptedAgent, dump: Path, template: bytes
) -> None:
    stdin = template.replace(b"S", scripted.path.encode())
    out = run(probed, stdin, cni_env(), dump)
    fell_back(out, stdin, None)
    assert scripted.requests == []


@pytest.mark.parametrize(
    "value",
    ["ESCAPED", "agent.sock", "/" + "s" * 120, "", 5, None, ["/x"]],
    ids=["escaped", "relative", "too-long", "empty", "number", "null", "list"],
)
def test_an_agent_socket_the_front_cannot_use_as_is_goes_to_python(
    probed: str, scripted: ScriptedAgent, dump: Path, value: Any
) -> None:
    if value == "ESCAPED":
        # Python would decode this to the scripted agent's path; the front does not decode.
        stdin = b'{"agent_socket": "%s"}' % scripted.path.replace("/", "\\/").encode()
    else:
        stdin = json.dumps({"agent_socket": value}).encode()
    out = run(probed, stdin, cni_env(), dump)
    fell_back(out, stdin, None)
    assert scripted.requests == []


@pytest.mark.parametrize("value", [0, -1, "5", True, None, [5], "NaN", "-Infinity"])
def test_an_agent_timeout_that_is_not_a_positive_number_goes_to_python(
    probed: str, scripted: ScriptedAgent, dump: Path, value: Any
) -> None:
    raw = value[1:] if value in ("NaN", "-Infinity") else json.dumps(value)
    stdin = b'{"agent_socket": "%s", "agent_timeout": %s}' % (
        scripted.path.encode(),
        str(raw).encode(),
    )
    out = run(probed, stdin, cni_env(), dump)
    fell_back(out, stdin, None)
    assert scripted.requests == []


# --- the timeout ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config_timeout", "env_timeout", "expected"),
    [(0.5, None, 0.5), (30, "0.4", 0.4), (0.4, "10", 0.4), (0.4, "soon", 0.4)],
)
def test_a_silent_agent_is_given_up_after_the_timeout(
    probed: str,
    scripted: ScriptedAgent,
    dump: Path,
    config_timeout: float,
    env_timeout: str | None,
    expected: float,
) -> None:
    scripted.respond = lambda request: SILENT
    stdin = conf(scripted.path, agent_timeout=config_timeout)
    env = cni_env() if env_timeout is None else cni_env(ROMANA_CNI_TIMEOUT=env_timeout)
    out = run(probed, stdin, env, dump)
    fell_back(out, stdin, f"romana-agent at {scripted.path} did not answer within {expected:g} s")
    assert expected - 0.05 < out.elapsed < expected + 5
    assert len(scripted.requests) == 1


def test_a_nested_agent_timeout_is_not_the_timeout(
    probed: str, scripted: ScriptedAgent, dump: Path
) -> None:
    scripted.respond = lambda request: SILENT
    stdin = conf(scripted.path, agent_timeout=0.6, ipam={"agent_timeout": 0.05})
    out = run(probed, stdin, cni_env(), dump)
    fell_back(out, stdin, f"romana-agent at {scripted.path} did not answer within 0.6 s")
    assert out.elapsed > 0.55


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
        stdin = conf(path, agent_timeout=0.3)
        out = run(probed, stdin, cni_env(), dump)
        for client in waiting:
            client.close()
    fell_back(out, stdin, f"romana-agent at {path} did not accept the connection within 0.3 s")
    assert 0.25 < out.elapsed < 5


# --- falling back to the Python plugin ---------------------------------------------------


@pytest.mark.parametrize("command", ["VERSION", "", None])
def test_version_and_a_missing_command_go_to_python_with_stdin_unread(
    probed: str, scripted: ScriptedAgent, dump: Path, tmp_path: Path, command: str | None
) -> None:
    stdin = conf(scripted.path)
    (tmp_path / "stdin").write_bytes(stdin)
    env = cni_env("") if command is None else cni_env(command)
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
    head = b'{"agent_socket": "%s", "pad": "' % scripted.path.encode()
    stdin = head + b"x" * (STDIN_CAP - len(head) - 2) + b'"}'
    out = run(front, stdin, cni_env(), dump)
    assert out.rc == 0
    assert scripted.requests[0].invocation()[1] == stdin


def test_stdin_over_1_mib_goes_to_python_cut_one_byte_past_the_cap(
    probed: str, scripted: ScriptedAgent, dump: Path
) -> None:
    # One byte more than the cap is all the plugin needs to refuse it (code 6); the rest of
    # stdin is never read, however long it is.
    head = b'{"agent_socket": "%s", "pad": "' % scripted.path.encode()
    stdin = head + bytes(range(256)) * (3 * STDIN_CAP // 256) + b'"}'
    out = run(probed, stdin, cni_env(), dump)
    fell_back(out, stdin[: STDIN_CAP + 1], None)
    assert scripted.requests == []


@pytest.mark.parametrize("how", ["missing", "refused"])
def test_an_agent_that_cannot_be_reached_leaves_everything_to_python(
    probed: str, socket_dir: str, dump: Path, how: str
) -> None:
    path = f"{socket_dir}/{how}.sock"
    if how == "refused":
        with socket.socket(socket.AF_UNIX) as bound:
            bound.bind(path)  # a socket file nobody listens on
        with socket.socket(socket.AF_UNIX) as probe:
            assert probe.connect_ex(path) == errno.ECONNREFUSED
    stdin = conf(path)
    out = run(probed, stdin, cni_env(), dump, args=["x"])
    fell_back(out, stdin, None)
    assert out.probe is not None and out.probe["argv"] == ["x"]


def test_no_agent_socket_means_the_default_one(
    probed: str, scripted: ScriptedAgent, dump: Path
) -> None:
    if os.path.exists(DEFAULT_SOCKET):
        pytest.skip(f"{DEFAULT_SOCKET} exists on this machine")
    stdin = conf(None, ipam={"agent_socket": scripted.path})
    out = run(probed, stdin, cni_env(), dump)
    fell_back(out, stdin, None)
    assert scripted.requests == []


def _head(status: str, *headers: str) -> bytes:
    return ("\r\n".join([status, *headers]) + "\r\n\r\n").encode()


OK_HEADERS = ("Content-Length: 2", "Romana-Cni-Exit: 0", "Romana-Cni-Stdout-Length: 2")
UNUSABLE = {
    "404": _head("HTTP/1.1 404 Not Found", "Content-Length: 2") + b"{}",
    "500": _head("HTTP/1.1 500 Internal Server Error", *OK_HEADERS) + b"{}",
    "http-1.0": _head("HTTP/1.0 200 OK", *OK_HEADERS) + b"{}",
    "not-http": b"SSH-2.0-OpenSSH\r\n\r\n",
    "no-length": _head("HTTP/1.1 200 OK", *OK_HEADERS[1:]) + b"{}",
    "no-exit": _head("HTTP/1.1 200 OK", OK_HEADERS[0], OK_HEADERS[2]) + b"{}",
    "no-stdout-length": _head("HTTP/1.1 200 OK", *OK_HEADERS[:2]) + b"{}",
    "exit-2": _head("HTTP/1.1 200 OK", OK_HEADERS[0], "Romana-Cni-Exit: 2", OK_HEADERS[2]) + b"{}",
    "stdout-too-long": _head("HTTP/1.1 200 OK", *OK_HEADERS[:2], "Romana-Cni-Stdout-Length: 3")
    + b"{}",
    "length-not-a-number": _head("HTTP/1.1 200 OK", "Content-Length: 2x", *OK_HEADERS[1:]) + b"{}",
    "two-lengths": _head("HTTP/1.1 200 OK", *OK_HEADERS, "Content-Length: 2") + b"{}",
    "chunked": _head("HTTP/1.1 200 OK", *OK_HEADERS, "Transfer-Encoding: chunked") + b"{}",
    "short-body": _head("HTTP/1.1 200 OK", "Content-Length: 10", *OK_HEADERS[1:]) + b"{}",
    "head-cut": b"HTTP/1.1 200 OK\r\nContent-Le",
    "nothing": b"",
}


@pytest.mark.parametrize("case", UNUSABLE)
def test_an_unusable_answer_goes_to_python_with_the_reason(
    probed: str, scripted: ScriptedAgent, dump: Path, case: str
) -> None:
    raw = UNUSABLE[case]
    scripted.respond = lambda request: Reply(raw)
    stdin = conf(scripted.path, agent_timeout=10)
    out = run(probed, stdin, cni_env(), dump)
    # Not a timeout: the plugin calls the agent itself (one without /v1/cni serves it).
    fell_back(out, stdin, None)
    assert out.stderr == b""
    assert len(scripted.requests) == 1


def test_an_agent_closing_mid_request_neither_kills_the_front_nor_loses_stdin(
    probed: str, socket_dir: str, dump: Path
) -> None:
    agent = ScriptedAgent(f"{socket_dir}/rude.sock", lambda r: Reply(b""), read_body=False)
    try:
        head = b'{"agent_socket": "%s", "pad": "' % agent.path.encode()
        stdin = head + b"p" * (STDIN_CAP - len(head) - 2) + b'"}'
        out = run(probed, stdin, cni_env(), dump)
    finally:
        agent.stop()
    fell_back(out, stdin, None)


def test_a_plugin_that_cannot_be_started_is_a_cni_error(
    tmp_path_factory: pytest.TempPathFactory, dump: Path
) -> None:
    directory = tmp_path_factory.mktemp("broken")
    missing = str(directory / "no-such-plugin")
    broken = str(build(directory / "romana-cni", missing))
    out = run(broken, b"{}", cni_env("VERSION"), dump)
    assert out.rc == 1
    assert json.loads(out.stdout) == {
        "cniVersion": "1.0.0",
        "code": 999,
        "msg": "romana-cni cannot start its Python plugin",
        "details": f"{missing}: No such file or directory",
    }


# --- the real Python plugin behind the real front ----------------------------------------


def test_version_through_the_front_is_the_python_plugins_answer(front: str, dump: Path) -> None:
    out = run(front, b'{"cniVersion": "1.0.0"}', cni_env("VERSION"), dump)
    assert (out.rc, out.stderr) == (0, b"")
    assert json.loads(out.stdout) == {
        "cniVersion": "1.0.0",
        "supportedVersions": list(spec.SUPPORTED_VERSIONS),
    }


def test_del_without_an_agent_records_a_pending_release(
    front: str, socket_dir: str, tmp_path: Path, dump: Path
) -> None:
    directory = str(tmp_path / "pending")
    stdin = conf(f"{socket_dir}/down.sock", pending_dir=directory)
    out = run(front, stdin, cni_env("DEL", CNI_NETNS=""), dump)
    assert (out.rc, out.stdout) == (0, b"")
    [entry] = pending.list_pending(directory)
    assert (entry.container_id, entry.ifname) == ("ctr1", "eth0")


def test_the_front_is_installed_executable_beside_its_python_plugin(front: str) -> None:
    python_plugin = os.path.join(os.path.dirname(front), "romana-cni-py")
    assert os.stat(front).st_mode & stat.S_IXUSR
    with open(python_plugin) as f:
        assert "romana.integrations.cni.main" in f.read()


# --- property: the scanner finds agent_socket exactly where Python's json does ----------


class Obj(list[tuple[str, Any]]):
    """A JSON object as its members in order, duplicates allowed."""


SHORT_ESCAPES = {'"': '\\"', "\\": "\\\\", "/": "\\/", "\b": "\\b", "\f": "\\f", "\n": "\\n"}
SHORT_ESCAPES |= {"\r": "\\r", "\t": "\\t"}
TOP_KEYS = ("agent_socket", "agent_timeout")


def encode_string(text: str, rnd: random.Random) -> str:
    """``text`` as a JSON string, each character raw or escaped in one of the legal ways."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        must = ch in '"\\' or code < 0x20
        if not must and rnd.random() < 0.7:
            out.append(ch)
        elif ch in SHORT_ESCAPES and rnd.random() < 0.5:
            out.append(SHORT_ESCAPES[ch])
        elif code > 0xFFFF:
            code -= 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04X}")
        else:
            out.append(f"\\u{code:04x}" if rnd.random() < 0.5 else f"\\u{code:04X}")
    out.append('"')
    return "".join(out)


def encode(value: Any, rnd: random.Random) -> str:
    """``value`` as JSON text with random whitespace and escapes."""

    def space() -> str:
        return "".join(rnd.choice(" \t\n\r") for _ in range(rnd.choice((0, 0, 0, 1, 2))))

    if isinstance(value, Obj):
        members = [
            f"{space()}{encode_string(k, rnd)}{space()}:{space()}{encode(v, rnd)}{space()}"
            for k, v in value
        ]
        return "{" + ",".join(members) + space() + "}"
    if isinstance(value, list):
        return "[" + ",".join(space() + encode(v, rnd) + space() for v in value) + space() + "]"
    if isinstance(value, str):
        return encode_string(value, rnd)
    return json.dumps(value)


def configs(top: tuple[str, str], nested: str) -> st.SearchStrategy[tuple[bytes, str | None]]:
    """A configuration, and the agent_socket Python's json finds in it (None: absent).

    The top-level members name one of the ``top`` sockets (the last one counts) and a valid
    agent_timeout last; below the top level agent_socket is always ``nested`` and
    agent_timeout always 0, so a scanner reading them there would be seen.
    """

    def below_top(member: tuple[str, Any]) -> tuple[str, Any]:
        key, value = member
        if key == "agent_socket":
            return key, nested
        return (key, 0) if key == "agent_timeout" else (key, value)

    keys = st.text(max_size=8) | st.sampled_from(TOP_KEYS)
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(10**20), 10**20)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=12)
        | st.sampled_from([f'"agent_socket": "{top[0]}"', "agent_socket", "\\", '\\"', "{["])
    )
    values = st.recursive(
        scalars,
        lambda children: (
            st.lists(children, max_size=5)
            | st.lists(st.tuples(keys, children).map(below_top), max_size=5).map(Obj)
        ),
        max_leaves=25,
    )

    plain = st.text(max_size=8).filter(lambda k: k not in TOP_KEYS)
    buried = st.recursive(
        st.just(Obj([("agent_timeout", 0), ("agent_socket", nested)])),
        lambda children: (
            st.lists(children, min_size=1, max_size=3)
            | st.lists(st.tuples(keys, children).map(below_top), min_size=1, max_size=3).map(Obj)
        ),
        max_leaves=4,
    )

    @st.composite
    def config(draw: st.DrawFn) -> tuple[bytes, str | None]:
        members: list[tuple[str, Any]] = draw(st.lists(st.tuples(plain, values), max_size=6))
        count = st.sampled_from([1, 1, 1, 2, 3, 0])  # hypothesis favours the first choice
        members += [draw(st.tuples(plain, buried)) for _ in range(draw(count))]
        draw(st.randoms(use_true_random=False)).shuffle(members)
        for socket_path in [draw(st.sampled_from(top)) for _ in range(draw(count))]:
            members.insert(draw(st.integers(0, len(members))), ("agent_socket", socket_path))
        timeouts = draw(st.lists(st.sampled_from([0, -1, "5", None, True]), max_size=2))
        if timeouts:
            timeouts.append(draw(st.sampled_from([5, 5.0, 2e1, 1e-0, 30])))
        # In document order, so that the valid timeout is the last one.
        places = sorted(draw(st.integers(0, len(members))) for _ in timeouts)
        for place, timeout in reversed(list(zip(places, timeouts, strict=True))):
            members.insert(place, ("agent_timeout", timeout))
        rnd = draw(st.randoms(use_true_random=False))
        text = []
        for key, value in members:
            # An escaped agent_socket value sends the front to Python; only its key may be.
            raw = key == "agent_socket" and value in top
            encoded = '"' + value + '"' if raw else encode(value, rnd)
            text.append(f"{encode_string(key, rnd)}:{encoded}")
        stdin = ("{" + ", ".join(text) + "}").encode()
        return stdin, json.loads(stdin).get("agent_socket")

    return config()


def test_agent_socket_is_found_exactly_where_pythons_json_finds_it(
    probed: str, socket_dir: str, dump: Path
) -> None:
    one = ScriptedAgent(f"{socket_dir}/one.sock", lambda r: Reply(answer(b"one")))
    two = ScriptedAgent(f"{socket_dir}/two.sock", lambda r: Reply(answer(b"two")))
    nested = ScriptedAgent(f"{socket_dir}/nested.sock", lambda r: Reply(answer(b"nested")))
    agents = {one.path: one, two.path: two}
    names = {one.path: b"one", two.path: b"two"}

    @settings(max_examples=300, deadline=None)
    @given(configs((one.path, two.path), nested.path))
    def check(config: tuple[bytes, str | None]) -> None:
        stdin, found = config
        for agent in (one, two, nested):
            agent.requests.clear()
        out = run(probed, stdin, cni_env(), dump)
        assert nested.requests == []
        if found is None:
            # The default socket, which none of these agents serves.
            assert one.requests == two.requests == []
        else:
            assert (out.rc, out.stdout) == (0, names[found]), stdin
            assert agents[found].requests[0].invocation()[1] == stdin

    try:
        check()
    finally:
        for agent in (one, two, nested):
            agent.stop()
