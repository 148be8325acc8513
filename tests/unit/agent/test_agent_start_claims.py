"""romana-agent refuses to start beside another agent, before it touches the host.

A second agent on a host would take over the first one's local API socket (the CNI plugin
would talk to either) and fight it over the dataplane; a metrics address in use would end
the agent with a traceback after its dataplane work began. Both are exit 2 with one line
naming the setting, and the state directory is never created.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from romana.agent import main


@pytest.fixture
def argv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Arguments of an agent whose every path is under ``tmp_path``; should it go past its
    refusal, it fails at its first step instead of touching this host."""

    def touched(*_: object) -> None:
        raise AssertionError("the agent went on to touch the host")

    monkeypatch.setattr(main.sysctl, "use_root", touched)
    return [
        "--token", "t",
        "--url", "http://127.0.0.1:9",
        "--state-dir", str(tmp_path / "state"),
        "--pending-dir", str(tmp_path / "pending"),
        "--socket", str(tmp_path / "agent.sock"),
        "--metrics", "",
        "--proc-sys", str(tmp_path / "proc-sys"),
    ]  # fmt: skip


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Path]:
    """The local API socket, served by another process (here, a listening socket)."""
    path = tmp_path / "agent.sock"
    holder = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    holder.bind(str(path))
    holder.listen(1)
    with holder:
        yield path


def test_a_served_local_api_socket_means_another_agent(
    argv: list[str], served: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main.main(argv) == 2
    err = capsys.readouterr().err
    assert f"socket: another process serves {served} (is another romana-agent running?)" in err
    assert "Traceback" not in err
    assert not (tmp_path / "state").exists()


def test_a_stale_socket_file_is_no_agent(tmp_path: Path) -> None:
    path = tmp_path / "stale.sock"
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()
    assert path.exists()
    assert not main._served(str(path))
    assert not main._served(str(tmp_path / "missing.sock"))


def test_a_metrics_address_in_use_is_refused(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    with holder:
        port = holder.getsockname()[1]
        argv[argv.index("--metrics") + 1] = f"127.0.0.1:{port}"
        assert main.main(argv) == 2
    err = capsys.readouterr().err
    assert f"metrics: cannot listen on 127.0.0.1:{port}: Address already in use" in err
    assert "Traceback" not in err
    assert not (tmp_path / "state").exists()
