"""``romana agent-credential create HOST``: an agent user bound to HOST with a random password,
written to a new file of mode 0600 or shown once on standard output. The credential logs in,
and registers and reads for its own host only; an existing user or file is refused unless
--rotate or --force. Against a real romanad; every user and host made here is deleted."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from romana.lab.romanad import Romanad
from unit.cli.conftest import Cli

ALREADY_EXISTS, FORBIDDEN, CONFLICT, NOT_FOUND = 5, 9, 6, 4


@pytest.fixture
def cleanup(romana: Cli) -> Iterator[Callable[[str], str]]:
    """Note a user name to delete after the test; returns it."""
    names: list[str] = []

    def note(name: str) -> str:
        names.append(name)
        return name

    yield note
    for name in names:
        romana("user", "delete", name)


def status(server: Romanad, token: str, method: str, path: str, body: object = None) -> int:
    with server.http() as http:
        headers = {"Authorization": f"Bearer {token}"}
        return http.request(method, f"{server.url}{path}", json=body, headers=headers).status_code


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_credential_file_is_private_and_acts_for_its_host_only(
    planned: Cli, server: Romanad, cleanup: Callable[[str], str], tmp_path: Path
) -> None:
    secret_file = tmp_path / "acred-h5.password"
    cleanup("agent-acred-h5")
    old_umask = os.umask(0)  # even a umask allowing everything leaves the file 0600
    try:
        made = planned(
            "agent-credential", "create", "acred-h5", "--password-file", str(secret_file)
        )
    finally:
        os.umask(old_umask)
    assert made.exit_code == 0, made.output
    assert mode(secret_file) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == [secret_file.name]
    assert "agent user agent-acred-h5 of host acred-h5 created" in made.stdout
    assert (
        f"romana install host --url {server.url} --username agent-acred-h5 "
        f"--password-file {secret_file}"
    ) in made.stderr
    password = secret_file.read_text().removesuffix("\n")
    assert len(password) >= 43 and "\n" not in password

    shown = json.loads(planned("user", "show", "agent-acred-h5", "-o", "json").stdout)
    assert shown == {
        "username": "agent-acred-h5",
        "role": "agent",
        "tenant": None,
        "host": "acred-h5",
    }

    agent = Cli.at(server.url, tmp_path / "agent")
    login = agent(
        "login", "-u", "agent-acred-h5", "--password-stdin", input=secret_file.read_text()
    )
    assert login.exit_code == 0, login.output
    try:
        own = agent("host", "add", "acred-h5", "192.168.0.55", "--label", "rack=b")
        assert own.exit_code == 0, own.output
        other = agent("host", "add", "acred-h6", "192.168.0.56", "--label", "rack=b")
        assert other.exit_code == FORBIDDEN, other.output
        assert "bound to host 'acred-h5'" in other.stderr
        token = server.login("agent-acred-h5", password)
        assert status(server, token, "GET", "/v1/hosts/acred-h5/view") == 200
        assert status(server, token, "GET", "/v1/hosts/h1/view") == 403
        assert agent("route", "show", "h1").exit_code == FORBIDDEN
    finally:
        planned("host", "remove", "acred-h5")


def test_without_a_file_the_password_is_shown_once_on_stdout(
    romana: Cli, server: Romanad, cleanup: Callable[[str], str]
) -> None:
    cleanup("acred-custom")
    made = romana("agent-credential", "create", "acred-h7", "--username", "acred-custom")
    assert made.exit_code == 0, made.output
    password = made.stdout.strip()
    assert made.stdout == f"{password}\n"  # nothing but the password: `> file` keeps it whole
    assert "shown this once" in made.stderr
    assert "--username acred-custom" in made.stderr
    assert server.login("acred-custom", password)


def test_an_existing_user_is_refused_unless_rotate(
    romana: Cli, server: Romanad, cleanup: Callable[[str], str], tmp_path: Path
) -> None:
    first = tmp_path / "first"
    cleanup("agent-acred-h8")
    assert (
        romana("agent-credential", "create", "acred-h8", "--password-file", str(first)).exit_code
        == 0
    )
    old_password = first.read_text().strip()
    old_token = server.login("agent-acred-h8", old_password)

    second = tmp_path / "second"
    again = romana("agent-credential", "create", "acred-h8", "--password-file", str(second))
    assert again.exit_code == ALREADY_EXISTS, again.output
    assert "user 'agent-acred-h8' exists already; --rotate" in again.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["first"]  # nothing left behind

    rotated = romana(
        "agent-credential",
        "create",
        "acred-h8",
        "--rotate",
        "--password-file",
        str(first),
        "--force",
    )
    assert rotated.exit_code == 0, rotated.output
    assert "given a new password; its tokens are revoked" in rotated.stdout
    assert mode(first) == 0o600
    new_password = first.read_text().strip()
    assert new_password != old_password
    assert status(server, old_token, "GET", "/v1/hosts/acred-h8/view") == 401
    assert server.login("agent-acred-h8", new_password)
    with server.http() as http:
        body = {"username": "agent-acred-h8", "password": old_password}
        assert http.post(f"{server.url}/v1/auth/token", json=body).status_code == 401


def test_rotate_changes_agent_credentials_of_that_host_only(
    romana: Cli, server: Romanad, cleanup: Callable[[str], str]
) -> None:
    admin, admin_password = server.admin()
    refused = romana("agent-credential", "create", "acred-h9", "--username", admin, "--rotate")
    assert refused.exit_code == CONFLICT, refused.output
    assert f"user {admin!r} is a user of role admin, not the agent user" in refused.stderr
    assert refused.stdout == ""
    assert server.login(admin, admin_password)  # unchanged

    cleanup("agent-acred-h9")
    made = romana("agent-credential", "create", "acred-h9", "--rotate")  # missing: created
    assert made.exit_code == 0, made.output
    elsewhere = romana(
        "agent-credential", "create", "acred-h10", "--username", "agent-acred-h9", "--rotate"
    )
    assert elsewhere.exit_code == CONFLICT, elsewhere.output
    assert "is the agent user of host 'acred-h9', not of host 'acred-h10'" in elsewhere.stderr
    assert server.login("agent-acred-h9", made.stdout.strip())


def test_an_existing_file_is_refused_unless_force(
    romana: Cli, server: Romanad, cleanup: Callable[[str], str], tmp_path: Path
) -> None:
    taken = tmp_path / "taken"
    taken.write_text("keep me\n")
    refused = romana("agent-credential", "create", "acred-h11", "--password-file", str(taken))
    assert refused.exit_code == ALREADY_EXISTS, refused.output
    assert f"password file {taken} exists; --force replaces it" in refused.stderr
    assert taken.read_text() == "keep me\n"
    assert romana("user", "show", "agent-acred-h11").exit_code == NOT_FOUND  # no user made

    cleanup("agent-acred-h11")
    taken.chmod(0o644)
    forced = romana(
        "agent-credential", "create", "acred-h11", "--password-file", str(taken), "--force"
    )
    assert forced.exit_code == 0, forced.output
    assert mode(taken) == 0o600
    assert server.login("agent-acred-h11", taken.read_text().strip())
