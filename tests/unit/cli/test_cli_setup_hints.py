"""An operator whose romana is not set up yet is told what to set, in the one error line.

No romanad at the configured URL: the line names the URL and how to point romana at another
(``--url``, ``ROMANA_URL``, ``url`` in the config file), for every command and for ``status``.
Another web server at that URL (a wrong port) is named as not romanad, with the same advice.
A request romanad refuses because no token was sent says how to log in; a directory given as
the config file is refused. Errors of the request itself (a wrong password) carry no such
advice.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from romana.lab import etcd
from romana.lab.romanad import Romanad
from unit.cli.conftest import Cli


def _nowhere() -> str:
    return f"http://127.0.0.1:{etcd.free_ports(1)[0]}"


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_a_command_without_a_romanad_says_how_to_point_romana_at_one(tmp_path: Path) -> None:
    url = _nowhere()
    cli = Cli.at(url, tmp_path)
    result = cli("tenant", "list")
    assert result.exit_code == 10, result.output
    line = _one_line(result.stderr)
    assert line.startswith(f"romana: unavailable: no root answered: {url}: ")
    assert f"is romanad running at {url}? Point romana at it with --url URL" in line
    assert "ROMANA_URL=URL" in line
    assert str(tmp_path / "config.toml") in line


def test_status_without_a_romanad_says_how_to_point_romana_at_one(tmp_path: Path) -> None:
    url = _nowhere()
    result = Cli.at(url, tmp_path)("status", "-o", "json")
    assert result.exit_code == 10, result.output
    assert f"romana: no root answered; is romanad running at {url}?" in result.stderr
    assert "--url URL, ROMANA_URL=URL" in result.stderr


def test_a_request_without_a_token_says_how_to_log_in(fresh: Cli) -> None:
    result = fresh("tenant", "list")
    assert result.exit_code == 8, result.output
    line = _one_line(result.stderr)
    assert line.startswith("romana: unauthorized: ")
    assert line.endswith(
        "log in first (romana login -u USER), or give a token with --token or ROMANA_TOKEN"
    )


def test_a_wrong_password_gets_no_setup_advice(fresh: Cli) -> None:
    result = fresh("login", "-u", "admin", "-p", "not-the-password")
    assert result.exit_code == 8, result.output
    assert _one_line(result.stderr) == "romana: unauthorized: wrong username or password"


def test_a_reachable_romanad_gets_no_url_advice(server: Romanad, tmp_path: Path) -> None:
    result = Cli.at(server.url, tmp_path)("tenant", "show", "nobody-here")
    assert result.exit_code == 8, result.output
    assert "is romanad running" not in result.stderr


def test_a_directory_as_config_file_is_refused(tmp_path: Path) -> None:
    result = Cli.at(_nowhere(), tmp_path)("--config", str(tmp_path), "tenant", "list")
    assert result.exit_code == 3, result.output
    assert _one_line(result.stderr) == (
        f"romana: invalid input: config: '{tmp_path}' is a directory; give the path of a file "
        f"(e.g. '{tmp_path / 'config.toml'}')"
    )
    assert not (tmp_path.parent / "token").exists()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def other_server(tmp_path: Path) -> Iterator[str]:
    """A web server that is not romanad: it answers HTML pages (404, 501)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_another_web_server_at_the_url_is_named_as_not_romanad(
    other_server: str, tmp_path: Path
) -> None:
    cli = Cli.at(other_server, tmp_path)
    listed = cli("tenant", "list")
    assert listed.exit_code == 4, listed.output
    assert _one_line(listed.stderr) == (
        "romana: not found: HTTP 404 File not found; the answer is not romanad's (no JSON "
        f"error body): is romanad running at {other_server}? Point romana at it with --url "
        f'URL, ROMANA_URL=URL or url = "URL" in {tmp_path / "config.toml"}'
    )
    login = cli("login", "-u", "admin", "-p", "secret")
    line = _one_line(login.stderr)
    assert line.startswith("romana: unavailable: HTTP 501 Unsupported method ('POST'); ")
    assert "the answer is not romanad's" in line
