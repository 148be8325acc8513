"""``romana user ...`` and ``romana signing-key ...``: users, their tokens, the signing keys.

Revoking works per user: ``user revoke``, ``user password``, ``user delete`` and ``romana
logout`` make every token the user holds fail at once, on every replica (docs/security.md,
Tokens). Passwords are only ever prompted for, never taken from the command line.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Any

import typer

from romana.cli import context, output
from romana.cli.context import OutputOption

app = typer.Typer(
    no_args_is_help=True, help="Users: list, delete, change a password, revoke tokens (admin)."
)
keys = typer.Typer(
    no_args_is_help=True,
    help="Token signing keys: list, rotate (admin). Rotating logs nobody out.",
)

USER_COLUMNS: list[output.Column] = [
    ("USER", lambda u: u["username"]),
    ("ROLE", lambda u: u["role"]),
    ("TENANT", lambda u: u.get("tenant")),
]


def _when(value: Any) -> str | None:
    if value is None:
        return None
    moment = datetime.datetime.fromtimestamp(float(value), datetime.UTC)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


KEY_COLUMNS: list[output.Column] = [
    ("ID", lambda k: k["id"]),
    ("SIGNS NEW TOKENS", lambda k: k["current"]),
    ("CREATED", lambda k: _when(k.get("created"))),
    ("VERIFIES UNTIL", lambda k: _when(k.get("retire_at"))),
]


@app.command("list")
def list_users(ctx: typer.Context, out: OutputOption = None) -> None:
    """List users with their role and tenant (admin).

    Example: romana user list
    """
    state = context.state(ctx)
    output.emit(state.client().list_users(), state.fmt(out), columns=USER_COLUMNS)


@app.command("delete")
def delete(ctx: typer.Context, username: str) -> None:
    """Delete a user; its tokens stop working at once (admin; never the last admin).

    Example: romana user delete alice
    """
    context.state(ctx).client().delete_user(username)
    output.message(f"user {username} deleted; its tokens are revoked")


@app.command("revoke")
def revoke(ctx: typer.Context, username: str) -> None:
    """Revoke every token of a user at once, on every replica; the password stays, so the
    user can log in again (admin). Revoking yourself logs you out.

    Example: romana user revoke alice
    """
    context.state(ctx).client().revoke_tokens(username)
    output.message(f"every token of user {username} is revoked")


@app.command("password")
def password(
    ctx: typer.Context,
    username: str,
    current: Annotated[
        bool,
        typer.Option(
            "--current",
            help="Prompt for the current password first: needed to change your own password "
            "when you are not an admin.",
        ),
    ] = False,
) -> None:
    """Change a user's password (prompted twice); every token of the user is revoked, so
    whoever uses it, you included when it is yours, logs in again. Admins change anyone's;
    other users only their own, with --current.

    Example: romana user password alice
    """
    state = context.state(ctx)
    old = typer.prompt("Current password", hide_input=True) if current else None
    new = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    state.client().set_password(username, new, old)
    output.message(f"password of user {username} changed; every token of the user is revoked")


@keys.command("list")
def list_keys(ctx: typer.Context, out: OutputOption = None) -> None:
    """List the keys tokens verify with, by fingerprint: the one signing new tokens, and the
    replaced ones that still verify the tokens they signed until those expire (admin).

    Example: romana signing-key list
    """
    state = context.state(ctx)
    output.emit(state.client().signing_keys(), state.fmt(out), columns=KEY_COLUMNS)


@keys.command("rotate")
def rotate(
    ctx: typer.Context,
    retire_now: Annotated[
        bool,
        typer.Option(
            "--retire-now",
            help="Refuse tokens of every older key at once (a leaked key): every user, you "
            "included, logs in again.",
        ),
    ] = False,
    out: OutputOption = None,
) -> None:
    """Sign new tokens with a fresh key, on every replica at once; tokens signed before keep
    working until they expire (the token TTL), unless --retire-now (admin).

    Example: romana signing-key rotate
    """
    state = context.state(ctx)
    found = state.client().rotate_signing_key(retire_now)
    output.emit(found, state.fmt(out), columns=KEY_COLUMNS)
