"""``romana user create`` checks its role before it asks for the password: an unknown role,
a tenant user without ``--tenant`` or an agent user without ``--host`` is a usage error
(exit 2) naming the rule, with no prompt shown and no user created. The roles it offers are
exactly those romanad accepts."""

from __future__ import annotations

import typing

import pytest

from romana.cli.commands.users import Role
from romana.wire.rest import UserIn
from unit.cli.conftest import Cli


@pytest.mark.parametrize(
    ("args", "rule"),
    [
        (["--role", "wizard"], "Invalid value for '--role'"),
        (
            ["--role", "tenant"],
            "Invalid value for '--role tenant': --tenant is required for a tenant user",
        ),
        (
            ["--role", "agent"],
            "Invalid value for '--role agent': --host is required for an agent user",
        ),
    ],
    ids=["unknown", "tenant-without-tenant", "agent-without-host"],
)
def test_a_bad_role_is_refused_before_the_password_prompt(
    romana: Cli, args: list[str], rule: str
) -> None:
    result = romana("user", "create", "rolecheck-u", *args, input="secret-password\n" * 2)
    assert result.exit_code == 2, result.output
    assert rule in result.stderr
    assert "Password" not in result.output
    assert "rolecheck-u" not in romana("user", "list").stdout


def test_the_cli_offers_the_roles_romanad_accepts() -> None:
    accepted = typing.get_args(UserIn.model_fields["role"].annotation)
    assert tuple(r.value for r in Role) == accepted
