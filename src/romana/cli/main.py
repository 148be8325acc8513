"""Composition root of the ``romana`` CLI: global options, command groups, exit codes.

Every project error a command raises ends here, in :class:`RomanaGroup.invoke`, which prints
it as one line on stderr and exits with the code the one table (:mod:`romana.core.problems`)
gives its class, listed by :data:`EXIT_CODES` — the one place where errors become exit codes.
"""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

import romana
from romana.cli import coercion, context, lazy
from romana.cli import settings as cli_settings
from romana.core import errors, problems

EXIT_CODES: tuple[tuple[type[errors.RomanaError], int, str], ...] = (
    *sorted(
        (
            (kind, row.exit_code, row.exit_label)
            for kind, row in problems.TABLE.items()
            if row.exit_code != 1
        ),
        key=lambda entry: entry[1],
    ),
    (errors.RomanaError, 1, "error"),
)
"""(error class, exit code, label) of each code of the one table, in order, the catch-all 1
last (the classes it covers, such as Throttled, are not listed one by one)."""


def exit_code(exc: errors.RomanaError) -> tuple[int, str]:
    row = problems.row_of(type(exc))
    return row.exit_code, row.exit_label


def _codes_help() -> str:
    rows = ["0 success", "2 usage error (bad option or argument)"]
    rows += [f"{code} {label}" for _, code, label in EXIT_CODES if code != 1]
    rows.append("1 any other error")
    return "Exit codes: " + "; ".join(rows) + "."


class RomanaGroup(context.Group):
    """The root command group; turns project errors into one line and an exit code.

    Its commands are :data:`COMMANDS`, each imported and built on first lookup
    (:mod:`romana.cli.lazy`). Before it parses a command line it defers the conversion of every
    parameter built so far (:mod:`romana.cli.coercion`): by then Typer has added its completion
    options too; a command built later is deferred as it is built."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        given = dict(self.commands)
        self.commands = lazy.Commands(COMMANDS, self._build)
        self.commands.update(given)

    def _build(self, name: str, module: str, attribute: str) -> typer._click.Command:
        command = lazy.build(app, name, lazy.load(module, attribute))
        coercion.defer(command)
        return command

    def list_commands(self, ctx: typer._click.Context) -> list[str]:
        return list(self.commands)  # names only: Typer's own would build every command

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: typer._click.Context | None = None,
        **extra: Any,
    ) -> typer._click.Context:
        coercion.defer(self)
        return super().make_context(info_name, args, parent, **extra)

    def invoke(self, ctx: typer._click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except errors.RomanaError as exc:
            code, label = exit_code(exc)
            line = " ".join(str(exc).split())
            hint = _hint(ctx, exc)
            typer.echo(f"romana: {label}: {line}" + (f"; {hint}" if hint else ""), err=True)
            raise typer.Exit(code) from exc


def _hint(ctx: typer._click.Context, exc: errors.RomanaError) -> str:
    """What to do about an error that comes from how romana is set up, not from the request:
    no romanad answered at the configured URL, another server answered there, or romanad
    wants a token and none was sent."""
    state = ctx.obj
    if not isinstance(state, context.State):
        return ""
    from romana.client.transport import HTTPStatusError, TransportError

    cause = exc.__cause__
    if isinstance(cause, HTTPStatusError) and "json" not in cause.response.headers.get(
        "content-type", ""
    ):
        # romanad's every error answer is JSON: this one came from another server.
        return f"the answer is not romanad's (no JSON error body): {state.reach_hint()}"
    if isinstance(exc, errors.Unauthorized) and state.anonymous:
        return state.login_hint()
    unreached = isinstance(cause, TransportError) or str(exc).startswith("no root answered")
    if isinstance(exc, errors.Unavailable) and exc.temporary and unreached:
        return state.reach_hint()
    return ""


app = typer.Typer(
    cls=RomanaGroup,
    name="romana",
    no_args_is_help=True,
    # Click's own help and usage errors, the same text: Rich's formatting loads Rich and a
    # Markdown parser for every --help (281 ms p50 for `romana --help` with it, 144 without).
    rich_markup_mode=None,
    help=(
        "Manage a Romana network: tenants and segments, topology and hosts, address "
        "allocations, policies and routes.\n\n"
        "Settings come from the config file (~/.config/romana/config.toml, or --config), "
        "the environment (ROMANA_URL, ROMANA_TOKEN, ROMANA_OUTPUT, ...) and options, in "
        "increasing priority.\n\n"
        "Example: romana --url https://10.0.0.1:9600 --ca ca.crt login -u admin\n\n" + _codes_help()
    ),
)


URL_HELP = "romanad root URL(s), comma-separated"
CA_HELP = "CA certificate that verifies romanad on https://"
CERT_HELP = "Client certificate, for a romanad that requires one"
KEY_HELP = "Key of --client-cert"
TIMEOUT_HELP = "Seconds to wait for a response"


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"romana {romana.__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    url: Annotated[str | None, context.client_option("url", URL_HELP)] = None,
    token: Annotated[str | None, context.client_option("token", "Bearer token")] = None,
    ca: Annotated[str | None, context.client_option("ca", CA_HELP)] = None,
    client_cert: Annotated[str | None, context.client_option("client_cert", CERT_HELP)] = None,
    client_key: Annotated[str | None, context.client_option("client_key", KEY_HELP)] = None,
    timeout: Annotated[float | None, context.client_option("timeout", TIMEOUT_HELP)] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            help="Config file; the login token is kept beside it (env ROMANA_CONFIG).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print romana's version and exit.",
        ),
    ] = False,
) -> None:
    environ = dict(os.environ)
    path = cli_settings.config_path(environ, config)
    overrides = {
        "url": url,
        "token": token,
        "ca": ca,
        "client_cert": client_cert,
        "client_key": client_key,
        "timeout": timeout,
    }
    state = context.State(environ, path, overrides)
    ctx.obj = state
    ctx.call_on_close(state.close)


COMMANDS: tuple[lazy.Entry, ...] = (
    # Single commands first, then groups: the order Typer gives registered ones in --help.
    ("login", "auth", "login"),
    ("logout", "auth", "logout"),
    ("decode", "ipam", "decode"),
    ("explain", "explain", "explain"),
    ("status", "status", "status"),
    ("drops", "drops", "drops"),
    ("user", "users", "app"),
    ("signing-key", "users", "keys"),
    ("agent-credential", "credentials", "app"),
    ("tenant", "tenants", "app"),
    ("segment", "tenants", "segments"),
    ("quota", "quota", "app"),
    ("network", "networks", "app"),
    ("topology", "topology", "app"),
    ("host", "hosts", "app"),
    ("ipam", "ipam", "app"),
    ("external-pool", "external", "pools"),
    ("external-ip", "external", "ips"),
    ("egress-nat", "external", "nat"),
    ("vip", "vips", "app"),
    ("policy", "policies", "app"),
    ("route", "routes", "app"),
    ("install", "install", "app"),
)
"""Every command of the root: (name, module of ``romana.cli.commands``, the attribute holding
a Typer group or a command function). A command's module is imported only when the command
line names it, or when the root's help lists it (:mod:`romana.cli.lazy`); a new command is
one row here."""


def main() -> None:
    app(prog_name="romana")
