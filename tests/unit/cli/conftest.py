"""One real romanad (temporary SQLite store, random loopback port) for the CLI tests.

``romana(...)`` runs the CLI in-process through Typer's CliRunner with an environment that
points at that romanad and keeps the config file and saved token in a temporary directory,
never in the real home.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from romana.cli.main import app
from romana.lab.romanad import Romanad
from support.romanad import sqlite_fixture


@dataclass
class Cli:
    runner: CliRunner
    env: dict[str, str | None]
    config_dir: Path

    @classmethod
    def at(cls, url: str, config_dir: Path, **env: str | None) -> Cli:
        """The CLI for romanad at ``url``, not logged in, its config and token in ``config_dir``.

        No retries, and none of the caller's token, password, user name or output format: the
        ``env`` given here (a value, or None to unset) overrides these.
        """
        base: dict[str, str | None] = {
            "ROMANA_URL": url,
            "ROMANA_CONFIG": str(config_dir / "config.toml"),
            "ROMANA_RETRIES": "0",
            "ROMANA_TOKEN": None,
            "ROMANA_OUTPUT": None,
            "ROMANA_PASSWORD": None,
            "ROMANA_USERNAME": None,
        }
        return cls(CliRunner(), {**base, **env}, config_dir)

    def __call__(self, *args: str, input: str | None = None, **env: str | None) -> Result:
        return self.runner.invoke(app, list(args), input=input, env={**self.env, **env})


server = sqlite_fixture("romanad", scope="session")


def logged_in(url: str, config_dir: Path, user: str, password: str, **env: str | None) -> Cli:
    """The CLI for romanad at ``url``, logged in as ``user`` (token kept in ``config_dir``).

    One retry unless ``env`` says otherwise (see :meth:`Cli.at`).
    """
    cli = Cli.at(url, config_dir, **{"ROMANA_RETRIES": "1", **env})
    result = cli("login", "-u", user, "-p", password)
    assert result.exit_code == 0, result.output
    return cli


@pytest.fixture(scope="session")
def romana(server: Romanad, tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """The CLI, logged in as admin (token saved in a temporary config dir)."""
    return logged_in(server.url, tmp_path_factory.mktemp("config"), *server.admin())


@pytest.fixture
def fresh(server: Romanad, tmp_path: Path) -> Cli:
    """The CLI with its own empty config dir: not logged in."""
    return Cli.at(server.url, tmp_path)


TOPOLOGY = Path(__file__).resolve().parents[3] / "examples" / "topology" / "two-racks.json"


@pytest.fixture(scope="session")
def planned(romana: Cli) -> Cli:
    """The CLI after ``topology apply`` of examples/topology/two-racks.json (h1, h2, h3)."""
    result = romana("topology", "apply", "-f", str(TOPOLOGY))
    assert result.exit_code == 0, result.output
    return romana
