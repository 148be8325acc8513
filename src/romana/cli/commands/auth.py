"""``romana login`` and ``romana logout``: get a token and keep it, or forget it."""

from __future__ import annotations

import datetime
from typing import Annotated

import typer

from romana.cli import context, output
from romana.cli import settings as cli_settings


def login(
    ctx: typer.Context,
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="(env ROMANA_USERNAME)")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option("--password", "-p", help="Prompted when absent (env ROMANA_PASSWORD)."),
    ] = None,
) -> None:
    """Log in: exchange a user name and password for a token, saved beside the config file.

    The token file is readable by you only (mode 0600); later commands send it.

    Example: romana login -u admin
    """
    state = context.state(ctx)
    user = username or state.settings.username or typer.prompt("Username")
    secret = password or state.settings.password or typer.prompt("Password", hide_input=True)
    token = state.client().login(user, secret)
    path = cli_settings.save_token(state.config_file, {**token, "username": user})
    expires = datetime.datetime.fromtimestamp(token["expires_at"], datetime.UTC)
    output.message(
        f"logged in as {user} (role {token['role']}); token saved to {path}, "
        f"valid until {expires:%Y-%m-%d %H:%M} UTC"
    )


def logout(ctx: typer.Context) -> None:
    """Forget the saved token.

    Example: romana logout
    """
    state = context.state(ctx)
    had = cli_settings.forget_token(state.config_file)
    output.message("logged out" if had else "no saved token")
