"""``romana login`` takes the password from a prompt, standard input or the environment, so it
need not be on the command line where every user sees it in ``ps`` (issue 12, Low).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from romana.cli.main import app
from romana.lab.romanad import Romanad
from support.romanad import sqlite_fixture
from unit.cli.conftest import Cli

USAGE = 2


daemon = sqlite_fixture("passwords")


@pytest.fixture
def romana(daemon: Romanad, tmp_path: Path) -> Cli:
    """The CLI for ``daemon``, not logged in, its config in ``tmp_path``."""
    return Cli.at(daemon.url, tmp_path, ROMANA_RETRIES=None)


def works(romana: Cli, result: Result) -> None:
    assert result.exit_code == 0, result.output
    assert "Password" not in result.output, "the password was prompted for"
    assert (romana.config_dir / "token").exists()
    listed = romana("tenant", "list")
    assert listed.exit_code == 0, listed.output


def test_the_password_from_standard_input(daemon: Romanad, romana: Cli) -> None:
    user, password = daemon.admin()
    result = romana("login", "-u", user, "--password-stdin", input=password + "\n")
    works(romana, result)


def test_the_password_from_the_environment(daemon: Romanad, romana: Cli) -> None:
    user, password = daemon.admin()
    result = romana("login", "-u", user, ROMANA_PASSWORD=password)
    works(romana, result)


def test_a_real_process_reads_its_password_from_a_pipe(daemon: Romanad, tmp_path: Path) -> None:
    user, password = daemon.admin()
    env = {
        **os.environ,
        "ROMANA_URL": daemon.url,
        "ROMANA_CONFIG": str(tmp_path / "config.toml"),
    }
    env.pop("ROMANA_TOKEN", None)
    env.pop("ROMANA_PASSWORD", None)
    argv = [str(Path(sys.executable).parent / "romana"), "login", "-u", user, "--password-stdin"]
    assert password not in " ".join(argv)
    done = subprocess.run(
        argv, input=password + "\n", env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "token").exists()


def test_stdin_and_the_option_together_are_a_usage_error(
    daemon: Romanad, romana: Cli, tmp_path: Path
) -> None:
    user, password = daemon.admin()
    result = romana("login", "-u", user, "-p", password, "--password-stdin", input=password)
    assert result.exit_code == USAGE
    assert not (tmp_path / "token").exists()


def test_stdin_without_a_username_is_a_usage_error(daemon: Romanad, romana: Cli) -> None:
    _, password = daemon.admin()
    result = romana("login", "--password-stdin", input=f"admin\n{password}\n")
    assert result.exit_code == USAGE
    assert "--username" in result.output


def test_empty_standard_input_is_a_usage_error(daemon: Romanad, romana: Cli) -> None:
    user, _ = daemon.admin()
    result = romana("login", "-u", user, "--password-stdin", input="")
    assert result.exit_code == USAGE
    assert "no password" in result.output


def test_the_help_warns_that_an_option_is_visible_in_ps() -> None:
    result = CliRunner().invoke(app, ["login", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--password-stdin" in result.output
    assert "Other users see it in `ps`" in " ".join(result.output.split())
