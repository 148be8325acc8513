"""``romana login`` and ``romana logout``: get a token and keep it, or revoke and forget it."""

from __future__ import annotations

import datetime
from typing import Annotated

import typer

from romana.cli import context, output
from romana.cli import settings as cli_settings
from romana.core import errors


def login(
    ctx: typer.Context,
    username: Annotated[
        str | None, typer.Option("--username", "-u", help="(env ROMANA_USERNAME)")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            "-p",
            help="The password. Other users see it in `ps` and it stays in shell history: "
            "prefer the prompt, --password-stdin or ROMANA_PASSWORD.",
        ),
    ] = None,
    password_stdin: context.PasswordStdinOption = False,
) -> None:
    """Log in: exchange a user name and password for a token, saved beside the config file.

    The password comes from --password-stdin, --password, the environment variable
    ROMANA_PASSWORD, or else a prompt. It is sent only to the configured root URL(s), never
    to a discovered instance. The token file is readable by you only (mode 0600) and records
    those URLs; later commands send the token only while romana is configured for them.

    Example: romana login -u admin
    """
    state = context.state(ctx)
    if password_stdin and password is not None:
        raise typer.BadParameter("give --password or --password-stdin, not both")
    if password_stdin and not (username or state.settings.username):
        raise typer.BadParameter("--password-stdin needs --username (or ROMANA_USERNAME)")
    user = username or state.settings.username or typer.prompt("Username")
    if password_stdin:
        secret = context.stdin_password()
    else:
        secret = password or state.settings.password or typer.prompt("Password", hide_input=True)
    client = state.client(saved_token=False)
    token = client.login(user, secret)
    record = {**token, "username": user, "urls": list(client.roots)}
    path = cli_settings.save_token(state.config_file, record)
    expires = datetime.datetime.fromtimestamp(token["expires_at"], datetime.UTC)
    output.message(
        f"logged in as {user} (role {token['role']}); token saved to {path}, "
        f"valid until {expires:%Y-%m-%d %H:%M} UTC"
    )


def logout(
    ctx: typer.Context,
    local: Annotated[
        bool,
        typer.Option(
            "--local",
            help="Only delete the saved token, without asking romanad to revoke it (it then "
            "stays valid until it expires).",
        ),
    ] = False,
) -> None:
    """Log out: romanad revokes every token of your user at once, then the saved token is
    deleted.

    Revoking is per user: your other sessions (other machines, scripts using the same user)
    must log in again too. When romanad cannot be reached the saved token is kept, so you can
    try again; --local deletes it anyway.

    Example: romana logout
    """
    state = context.state(ctx)
    token = state.settings.token or cli_settings.saved_token(state.config_file)
    revoked = ""
    if token and not local:
        try:
            state.client().logout()
            revoked = "; romanad revoked every token of the user"
        except errors.Unauthorized:
            revoked = "; romanad did not accept the token (expired, revoked or not its own)"
    had = cli_settings.forget_token(state.config_file)
    output.message(("logged out" if had else "no saved token") + revoked)
