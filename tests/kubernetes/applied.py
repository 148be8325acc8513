"""A real romanad after ``romana policy apply -f`` of some YAML: for tests of what it stored."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from romana.cli.main import app
from romana.client import Client, ClientSettings
from romana.lab.romanad import Romanad


@contextlib.contextmanager
def policy_applied(workdir: Path, cluster: str, topology: Any) -> Iterator[Client]:
    """romanad (own SQLite store, ``topology`` applied) after ``romana policy apply -f`` of
    the YAML text ``cluster``; a client of it, stopped on exit."""
    with romana_cli(workdir, cluster, topology) as (client, _):
        yield client


@contextlib.contextmanager
def romana_cli(
    workdir: Path, cluster: str, topology: Any
) -> Iterator[tuple[Client, dict[str, str]]]:
    """As :func:`policy_applied`, with the environment the CLI reaches that romanad with."""
    f = workdir / "cluster.yaml"
    f.write_text(cluster)
    topo = workdir / "topology.json"
    topo.write_text(json.dumps(topology))
    daemon = Romanad(
        workdir,
        store=f"sqlite:///{workdir / 'romana.db'}",
        insecure=True,
        extra=["--initial-topology", str(topo)],
    ).start()
    env = {"ROMANA_URL": daemon.url, "ROMANA_CONFIG": str(workdir / "config.toml")}
    try:
        done = CliRunner().invoke(app, ["policy", "apply", "-f", str(f)], env=env)
        assert done.exit_code == 0, done.output
        with Client(ClientSettings(url=(daemon.url,))) as client:
            yield client, env
    finally:
        daemon.stop()
