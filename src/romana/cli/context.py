"""What every command shares: settings (loaded once, on first use) and one client.

The composition root (``cli.main``) stores a :class:`State` in Typer's context object; commands
reach it through :func:`state`. Nothing here reads the environment: the environ mapping is
handed in, so tests and the CLI see the same code path.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from romana.cli import settings as cli_settings
from romana.cli.output import Format
from romana.client import Client

OutputOption = Annotated[
    Format | None,
    typer.Option("--output", "-o", help="table, json or yaml (default: the `output` setting)."),
]


class State:
    def __init__(
        self, environ: Mapping[str, str], config_file: Path, overrides: Mapping[str, Any]
    ) -> None:
        self.environ = environ
        self.config_file = config_file
        self._overrides = dict(overrides)
        self._settings: cli_settings.CliSettings | None = None
        self._client: Client | None = None

    @property
    def settings(self) -> cli_settings.CliSettings:
        if self._settings is None:
            loaded = cli_settings.load(self.environ, self.config_file, self._overrides)
            for warning in loaded.warnings:
                typer.echo(f"romana: warning: {warning}", err=True)
            self._settings = loaded.settings
        return self._settings

    def client(self, *, saved_token: bool = True) -> Client:
        """The client; it carries the token saved by `romana login` unless ``saved_token`` is
        false (login needs none). A saved token issued by other URLs than the configured ones
        is Unauthorized, never sent."""
        if self._client is None:
            settings = self.settings
            if not settings.token and saved_token:
                token = cli_settings.usable_token(self.config_file, settings.url)
                if token:
                    settings = dataclasses.replace(settings, token=token)
            self._client = Client(settings)
        return self._client

    def fmt(self, option: Format | None) -> Format:
        return option if option is not None else Format(self.settings.output)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def state(ctx: typer.Context) -> State:
    obj = ctx.find_root().obj
    assert isinstance(obj, State), "the romana callback sets the state"
    return obj
