"""A user's life through the CLI: ``romana user create``, log in as it, ``user show``, ``user
passwd`` (the new password from a prompt, standard input or ROMANA_NEW_USER_PASSWORD; the old
token refused after), ``user revoke`` (the old token refused, the password kept), ``user
delete`` (its logins refused). Against a real romanad; every user made here is deleted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from romana.lab.romanad import Romanad
from unit.cli.conftest import Cli, logged_in

UNAUTHORIZED = 8
NOT_FOUND = 4


def login_status(server: Romanad, username: str, password: str) -> int:
    with server.http() as http:
        body = {"username": username, "password": password}
        return http.post(f"{server.url}/v1/auth/token", json=body).status_code


@pytest.fixture
def life_user(romana: Cli, server: Romanad) -> Iterator[str]:
    """A service user ``life-svc`` with password ``life-pw-1``, deleted afterwards."""
    made = romana(
        "user", "create", "life-svc", "--role", "service", "--password-stdin",
        input="life-pw-1\n",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    yield "life-svc"
    romana("user", "delete", "life-svc")


def test_passwd_revoke_and_delete_end_what_the_user_held(
    romana: Cli, server: Romanad, life_user: str, tmp_path: Path
) -> None:
    user = logged_in(server.url, tmp_path / "user", life_user, "life-pw-1")
    assert user("tenant", "list").exit_code == 0

    changed = romana("user", "passwd", life_user, ROMANA_NEW_USER_PASSWORD="life-pw-2")
    assert changed.exit_code == 0, changed.output
    assert "every token of the user is revoked" in changed.stdout
    refused = user("tenant", "list")
    assert refused.exit_code == UNAUTHORIZED, refused.output
    assert login_status(server, life_user, "life-pw-1") == 401

    user = logged_in(server.url, tmp_path / "again", life_user, "life-pw-2")
    revoked = romana("user", "revoke", life_user)
    assert revoked.exit_code == 0, revoked.output
    assert user("tenant", "list").exit_code == UNAUTHORIZED
    user = logged_in(server.url, tmp_path / "third", life_user, "life-pw-2")  # password kept

    deleted = romana("user", "delete", life_user)
    assert deleted.exit_code == 0, deleted.output
    assert user("tenant", "list").exit_code == UNAUTHORIZED
    assert login_status(server, life_user, "life-pw-2") == 401


def test_the_new_password_from_a_prompt_or_standard_input(
    romana: Cli, server: Romanad, life_user: str
) -> None:
    prompted = romana("user", "passwd", life_user, input="life-pw-3\nlife-pw-3\n")
    assert prompted.exit_code == 0, prompted.output
    assert login_status(server, life_user, "life-pw-3") == 200
    piped = romana("user", "passwd", life_user, "--password-stdin", input="life-pw-4\n")
    assert piped.exit_code == 0, piped.output
    assert login_status(server, life_user, "life-pw-3") == 401
    assert login_status(server, life_user, "life-pw-4") == 200
    empty = romana("user", "passwd", life_user, "--password-stdin", input="\n")
    assert empty.exit_code == 2 and "standard input holds no password" in empty.output


def test_a_user_changes_its_own_password_giving_the_current_one(
    server: Romanad, life_user: str, tmp_path: Path
) -> None:
    user = logged_in(server.url, tmp_path, life_user, "life-pw-1")
    without = user("user", "passwd", life_user, "--password-stdin", input="life-pw-5\n")
    assert without.exit_code != 0 and "current_password" in without.stderr
    wrong = user("user", "passwd", life_user, "--current", input="nope\nlife-pw-5\nlife-pw-5\n")
    assert wrong.exit_code == 9 and "current password" in wrong.stderr
    own = user("user", "passwd", life_user, "--current", input="life-pw-1\nlife-pw-5\nlife-pw-5\n")
    assert own.exit_code == 0, own.output
    assert login_status(server, life_user, "life-pw-5") == 200


def test_password_still_works_but_help_lists_passwd(romana: Cli, server: Romanad) -> None:
    listed = romana("user", "--help")
    assert "passwd" in listed.stdout and " password " not in listed.stdout
    made = romana(
        "user", "create", "life-alias", "--role", "service", "--password-stdin",
        input="life-alias-1\n",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    try:
        old = romana("user", "password", "life-alias", "--password-stdin", input="life-alias-2\n")
        assert old.exit_code == 0, old.output
        assert login_status(server, "life-alias", "life-alias-2") == 200
    finally:
        romana("user", "delete", "life-alias")


def test_user_show_gives_role_tenant_and_host(romana: Cli, life_user: str) -> None:
    shown = romana("user", "show", life_user, "-o", "json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == {
        "username": life_user,
        "role": "service",
        "tenant": None,
        "host": None,
    }
    table = romana("user", "show", life_user, "-o", "table")
    assert table.exit_code == 0, table.output
    assert "ROLE" in table.stdout and "service" in table.stdout
    missing = romana("user", "show", "life-nobody")
    assert missing.exit_code == NOT_FOUND
    assert "user 'life-nobody' does not exist" in missing.stderr


def test_user_show_is_for_admins(server: Romanad, life_user: str, tmp_path: Path) -> None:
    user = logged_in(server.url, tmp_path, life_user, "life-pw-1")
    refused = user("user", "show", life_user)
    assert refused.exit_code == 9, refused.output
