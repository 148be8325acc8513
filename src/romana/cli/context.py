"""What every command shares: settings (loaded once, on first use), one client, and the
commands that only fetch a value and print it.

The composition root (``cli.main``) stores a :class:`State` in Typer's context object; commands
reach it through :func:`state`. Nothing here reads the environment: the environ mapping is
handed in, so tests and the CLI see the same code path. The client (its HTTP stack and wire
models) is imported when a command first asks for it, never by ``--help``. :func:`list_command`,
:func:`show_command` and :func:`remove_command` register the commands of a group that make one
client call and print its answer, so every such command fetches and prints the same way.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from romana import config
from romana.cli import output
from romana.cli import settings as cli_settings
from romana.cli.output import Format
from romana.client.settings import ClientSettings

if TYPE_CHECKING:
    from romana.client import Client

OutputOption = Annotated[
    Format | None,
    typer.Option("--output", "-o", help="table, json or yaml (default: the `output` setting)."),
]


_CLIENT_SETTINGS = {f.name: f.metadata for f in dataclasses.fields(ClientSettings)}


class Group(typer.core.TyperGroup):
    """A command group whose help lists each command with the whole first paragraph of its
    help: Click's own list cuts it at the first sentence or the width left."""

    def format_commands(self, ctx: typer._click.Context, formatter: Any) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                text = inspect.cleandoc(command.short_help or command.help or "")
                rows.append((name, " ".join(text.split("\n\n")[0].split())))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def group(help: str) -> typer.Typer:
    """A command group of the CLI (``romana tenant ...``): its commands listed by
    :class:`Group`, its help shown when it is called without a command."""
    return typer.Typer(cls=Group, no_args_is_help=True, help=help)


def client_option(name: str, help: str) -> Any:
    """The global option overriding the client setting ``name``: its flag, environment
    variable and default are the setting's own (:class:`romana.client.ClientSettings`), so
    the help cannot drift from them."""
    flag = _CLIENT_SETTINGS[name]["flag"]
    return typer.Option(flag, help=f"{help} ({config.setting_facts(ClientSettings, name)}).")


class State:
    def __init__(
        self, environ: Mapping[str, str], config_file: Path, overrides: Mapping[str, Any]
    ) -> None:
        self.environ = environ
        self.config_file = config_file
        self._overrides = dict(overrides)
        self._settings: cli_settings.CliSettings | None = None
        self._client: Client | None = None
        self.anonymous = False
        """Whether the client was built without a token although the command needs one."""

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
            from romana.client import Client

            settings = self.settings
            if not settings.token and saved_token:
                token = cli_settings.usable_token(self.config_file, settings.url)
                if token:
                    settings = dataclasses.replace(settings, token=token)
            self._client = Client(settings)
            self.anonymous = saved_token and not settings.token
        return self._client

    def reach_hint(self) -> str:
        """How to point romana at a romanad: said when none answered at the configured URL."""
        urls = ", ".join(self._settings.url) if self._settings is not None else "?"
        return (
            f"is romanad running at {urls}? Point romana at it with --url URL, "
            f'ROMANA_URL=URL or url = "URL" in {self.config_file}'
        )

    def login_hint(self) -> str:
        """How to authenticate: said when romanad refused a request that carried no token."""
        return "log in first (romana login -u USER), or give a token with --token or ROMANA_TOKEN"

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


PasswordStdinOption = Annotated[
    bool,
    typer.Option("--password-stdin", help="Read the password from standard input (one line)."),
]


def stdin_password() -> str:
    """The first line of standard input, without its line end; an empty one is refused."""
    secret = typer.get_text_stream("stdin").readline().rstrip("\r\n")
    if not secret:
        raise typer.BadParameter("standard input holds no password")
    return secret


def list_command(
    app: typer.Typer,
    doc: str,
    fetch: Callable[[Client], Any],
    columns: Sequence[output.Column],
) -> None:
    """Register ``list`` on ``app``: print what ``fetch`` returns as a table of ``columns``
    (unchanged in JSON or YAML). ``doc`` is the command's help."""

    def list_(ctx: typer.Context, out: OutputOption = None) -> None:
        found = state(ctx)
        output.emit(fetch(found.client()), found.fmt(out), columns=columns)

    app.command("list", help=doc)(list_)


def show_command(
    app: typer.Typer,
    doc: str,
    fetch: Callable[[Client, str], Any],
    fields: Sequence[output.Column],
) -> None:
    """Register ``show NAME`` on ``app``: print what ``fetch`` returns for NAME as ``fields``,
    one per line (unchanged in JSON or YAML). ``doc`` is the command's help."""

    def show(ctx: typer.Context, name: str, out: OutputOption = None) -> None:
        found = state(ctx)
        output.emit(fetch(found.client(), name), found.fmt(out), fields=fields)

    app.command("show", help=doc)(show)


def remove_command(
    app: typer.Typer,
    command: str,
    doc: str,
    call: Callable[[Client, str], Any],
    done: Callable[[Any], str],
) -> None:
    """Register ``COMMAND NAME`` on ``app``: ``call`` it for NAME, then print the one line
    ``done`` makes of the answer (a table) or the answer itself (JSON or YAML)."""

    def remove(ctx: typer.Context, name: str, out: OutputOption = None) -> None:
        found = state(ctx)
        value = call(found.client(), name)
        fmt = found.fmt(out)
        if fmt is Format.table:
            output.message(done(value))
        else:
            output.emit(value, fmt)

    app.command(command, help=doc)(remove)
