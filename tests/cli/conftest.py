"""One real romanad (temporary SQLite store, random loopback port) for the CLI tests.

``romana(...)`` runs the CLI in-process through Typer's CliRunner with an environment that
points at that romanad and keeps the config file and saved token in a temporary directory,
never in the real home.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from romana.cli.main import app
from support.romanad import Romanad


@dataclass
class Cli:
    runner: CliRunner
    env: dict[str, str | None]
    config_dir: Path

    def __call__(self, *args: str, input: str | None = None, **env: str | None) -> Result:
        return self.runner.invoke(app, list(args), input=input, env={**self.env, **env})


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Romanad]:
    work = tmp_path_factory.mktemp("romanad")
    daemon = Romanad(work, store=f"sqlite://{work}/romana.db").start()
    try:
        yield daemon
    finally:
        daemon.stop()


def logged_in(url: str, config_dir: Path, user: str, password: str) -> Cli:
    """The CLI for romanad at ``url``, logged in as ``user`` (token kept in ``config_dir``)."""
    env: dict[str, str | None] = {
        "ROMANA_URL": url,
        "ROMANA_CONFIG": str(config_dir / "config.toml"),
        "ROMANA_RETRIES": "1",
        "ROMANA_TOKEN": None,
        "ROMANA_OUTPUT": None,
    }
    cli = Cli(CliRunner(), env, config_dir)
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
    env: dict[str, str | None] = {
        "ROMANA_URL": server.url,
        "ROMANA_CONFIG": str(tmp_path / "config.toml"),
        "ROMANA_RETRIES": "0",
        "ROMANA_TOKEN": None,
        "ROMANA_OUTPUT": None,
    }
    return Cli(CliRunner(), env, tmp_path)


TOPOLOGY = Path(__file__).resolve().parents[2] / "examples" / "topology" / "two-racks.json"


@pytest.fixture(scope="session")
def planned(romana: Cli) -> Cli:
    """The CLI after ``topology apply`` of examples/topology/two-racks.json (h1, h2, h3)."""
    result = romana("topology", "apply", "-f", str(TOPOLOGY))
    assert result.exit_code == 0, result.output
    return romana
