"""romanad refuses a start it cannot complete before it writes anything.

An operator who starts a second romanad on the port of a running one, names an initial
topology file that is missing or not a JSON object, or a credentials file that is a
directory, gets exit 2 and one line naming the setting and the rule; no store file or admin
credentials are written.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from romana.api import main


def _taken() -> tuple[socket.socket, int]:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port: int = holder.getsockname()[1]
    return holder, port


def test_romanad_on_a_port_in_use_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    state = tmp_path / "state"
    holder, port = _taken()
    with holder:
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "romana.api.main",
                "--listen",
                f"127.0.0.1:{port}",
                "--store",
                f"sqlite:///{state / 'romana.db'}",
                "--credentials-file",
                str(state / "admin.credentials"),
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 2, done.stderr
    assert f"listen: cannot listen on 127.0.0.1:{port}: Address already in use" in done.stderr
    assert "Traceback" not in done.stderr
    assert not state.exists() or list(state.iterdir()) == []


def test_bind_refuses_a_taken_port_and_binds_it_once_free() -> None:
    holder, port = _taken()
    with holder, pytest.raises(OSError):
        main.bind("127.0.0.1", port)
    bound = main.bind("127.0.0.1", port)
    try:
        assert [s.getsockname() for s in bound] == [("127.0.0.1", port)]
    finally:
        for sock in bound:
            sock.close()


def _refused(tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    state = tmp_path / "state"
    code = main.main(
        [
            "--listen",
            "127.0.0.1:9",
            "--store",
            f"sqlite:///{state / 'romana.db'}",
            "--credentials-file",
            str(state / "admin.credentials"),
            *argv,
        ]
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert not state.exists()
    return err.strip()


@pytest.mark.parametrize(
    ("content", "rule"),
    [
        (None, "cannot read '{path}': No such file or directory"),
        ("", "'{path}' is not a JSON document: Expecting value"),
        ("{networks", "'{path}' is not a JSON document: Expecting property name"),
        ("[]", "'{path}' holds a JSON list, not an object (a topology document)"),
    ],
    ids=["missing", "empty", "malformed", "list"],
)
def test_an_unusable_initial_topology_is_refused_before_the_store_opens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, rule: str
) -> None:
    path = tmp_path / "topology.json"
    if content is not None:
        path.write_text(content)
    err = _refused(tmp_path, capsys, "--initial-topology", str(path))
    assert err.startswith("romanad: initial_topology: " + rule.format(path=path)), err


def test_a_directory_as_initial_topology_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused(tmp_path, capsys, "--initial-topology", str(tmp_path))
    assert err == f"romanad: initial_topology: cannot read '{tmp_path}': Is a directory"


def test_a_directory_as_credentials_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    err = _refused(tmp_path, capsys, "--credentials-file", str(tmp_path))
    assert err.startswith(f"romanad: credentials_file: '{tmp_path}' is a directory; give the")
