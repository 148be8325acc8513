"""``romana user create``: users with a role, a tenant user's tenant, an agent user's host; the
password from a prompt, standard input or ROMANA_NEW_USER_PASSWORD, never the command line.
Against a real romanad."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from unit.cli.conftest import Cli, logged_in


def test_an_agent_user_is_created_bound_to_its_host(romana: Cli, server: Any) -> None:
    result = romana(
        "user", "create", "agent-n1", "--role", "agent", "--host", "n1", "-o", "json",
        input="agent-n1-password\nagent-n1-password\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "username": "agent-n1",
        "role": "agent",
        "tenant": None,
        "host": "n1",
    }
    assert server.login("agent-n1", "agent-n1-password")
    listed = romana("user", "list")
    assert "agent-n1" in listed.stdout and "HOST" in listed.stdout


def test_the_password_from_standard_input_or_its_own_variable(romana: Cli, server: Any) -> None:
    made = romana(
        "user", "create", "svc-stdin", "--role", "service", "--password-stdin",
        input="svc-stdin-password\n",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert server.login("svc-stdin", "svc-stdin-password")
    made = romana(
        "user", "create", "svc-env", "--role", "service",
        ROMANA_NEW_USER_PASSWORD="svc-env-password", ROMANA_PASSWORD="not-this-one",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    assert server.login("svc-env", "svc-env-password")


def test_an_agent_user_without_a_host_is_refused_naming_it(romana: Cli) -> None:
    result = romana(
        "user", "create", "agent-x", "--role", "agent", "--password-stdin",
        input="agent-x-password\n",
    )  # fmt: skip
    assert result.exit_code != 0
    assert "host" in result.stderr and "required for an agent user" in result.stderr


def test_the_agent_user_acts_for_its_host_only(romana: Cli, server: Any, tmp_path: Path) -> None:
    made = romana(
        "user", "create", "agent-n2", "--role", "agent", "--host", "n2", "--password-stdin",
        input="agent-n2-password\n",
    )  # fmt: skip
    assert made.exit_code == 0, made.output
    agent = logged_in(server.url, tmp_path, "agent-n2", "agent-n2-password")
    result = agent("host", "add", "n3", "192.0.2.33")
    assert result.exit_code != 0
    assert "bound to host 'n2'" in result.stderr
