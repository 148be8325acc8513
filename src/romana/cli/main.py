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
from romana.cli import coercion, context
from romana.cli import settings as cli_settings
from romana.cli.commands import (
    auth,
    hosts,
    ipam,
    kube,
    kubeinstall,
    networks,
    policies,
    routes,
    status,
    tenants,
)
from romana.cli.commands import credentials as credential_commands
from romana.cli.commands import explain as explain_commands
from romana.cli.commands import external as external_commands
from romana.cli.commands import install as install_commands
from romana.cli.commands import quota as quota_commands
from romana.cli.commands import topology as topology_commands
from romana.cli.commands import users as user_commands
from romana.cli.commands import vips as vip_commands
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

    Before it parses a command line it defers the conversion of every parameter of the tree
    (:mod:`romana.cli.coercion`): by then Typer has added its completion options too."""

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
            typer.echo(f"romana: {label}: {line}", err=True)
            raise typer.Exit(code) from exc


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


app.command("login")(auth.login)
app.command("logout")(auth.logout)
app.add_typer(user_commands.app, name="user")
app.add_typer(user_commands.keys, name="signing-key")
app.add_typer(credential_commands.app, name="agent-credential")
app.add_typer(tenants.app, name="tenant")
app.add_typer(tenants.segments, name="segment")
app.add_typer(quota_commands.app, name="quota")
app.add_typer(networks.app, name="network")
app.add_typer(topology_commands.app, name="topology")
app.add_typer(hosts.app, name="host")
app.add_typer(ipam.app, name="ipam")
app.command("decode")(ipam.decode)
app.add_typer(external_commands.pools, name="external-pool")
app.add_typer(external_commands.ips, name="external-ip")
app.add_typer(external_commands.nat, name="egress-nat")
app.add_typer(vip_commands.app, name="vip")
policies.app.command("apply")(kube.apply)
app.command("explain")(explain_commands.explain)
app.add_typer(policies.app, name="policy")
app.add_typer(routes.app, name="route")
app.command("status")(status.status)
install_commands.app.command("kubernetes")(kubeinstall.kubernetes_manifests)
app.add_typer(install_commands.app, name="install")


def main() -> None:
    app(prog_name="romana")
