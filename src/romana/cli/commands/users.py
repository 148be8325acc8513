"""``romana user ...`` and ``romana signing-key ...``: users, their tokens, the signing keys.

Revoking works per user: ``user revoke``, ``user passwd``, ``user delete`` and ``romana
logout`` make every token the user holds fail at once, on every replica (docs/security.md,
Tokens). Passwords never come from the command line: a prompt, standard input, or (a new
password only) the environment variable :data:`NEW_PASSWORD_ENV`. That is deliberately not
``ROMANA_PASSWORD``, which holds the password romana itself logs in with: a new user must
never receive the admin's password by accident.
"""

from __future__ import annotations

import datetime
import enum
import os
from typing import Annotated, Any

import typer

from romana.cli import context, output
from romana.cli.context import OutputOption

app = context.group("Users: create, list, show, delete, change a password, revoke tokens (admin).")
keys = context.group("Token signing keys: list, rotate (admin). Rotating logs nobody out.")

NEW_PASSWORD_ENV = "ROMANA_NEW_USER_PASSWORD"


class Role(enum.StrEnum):
    """The roles a user can be created with: those of ``romana.wire.rest.UserIn``."""

    admin = "admin"
    service = "service"
    tenant = "tenant"
    agent = "agent"
    openstack = "openstack"


USER_COLUMNS: list[output.Column] = [
    ("USER", lambda u: u["username"]),
    ("ROLE", lambda u: u["role"]),
    ("TENANT", lambda u: u.get("tenant")),
    ("HOST", lambda u: u.get("host")),
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


def new_password(username: str, password_stdin: bool) -> str:
    """A new password for ``username``: standard input with ``password_stdin``, else the
    environment variable :data:`NEW_PASSWORD_ENV`, else a prompt (twice)."""
    if password_stdin:
        return context.stdin_password()
    # The prompt goes to standard error: standard output is the answer (-o json).
    return os.environ.get(NEW_PASSWORD_ENV) or typer.prompt(
        f"New password for {username}", hide_input=True, confirmation_prompt=True, err=True
    )


@app.command("create")
def create(
    ctx: typer.Context,
    username: str,
    role: Annotated[
        Role,
        typer.Option(
            "--role",
            help="admin, service, tenant (needs --tenant), agent (needs --host) or openstack.",
        ),
    ],
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="The tenant of a tenant user.")
    ] = None,
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            help="The one host an agent user acts for: it registers, reads and allocates on "
            "that host only.",
        ),
    ] = None,
    password_stdin: context.PasswordStdinOption = False,
    out: OutputOption = None,
) -> None:
    """Create a user (admin). A tenant user belongs to one tenant, an agent user to one host:
    create one agent user per host, each with its own password.

    The password comes from --password-stdin, the environment variable
    ROMANA_NEW_USER_PASSWORD, or else a prompt (twice). It is sent only to the configured
    root URL(s).

    Example: romana user create agent-node1 --role agent --host node1
    """
    # Checked before the password is asked for (twice), not after.
    if role is Role.tenant and not tenant:
        raise typer.BadParameter(
            "--tenant is required for a tenant user", param_hint="'--role tenant'"
        )
    if role is Role.agent and not host:
        raise typer.BadParameter(
            "--host is required for an agent user", param_hint="'--role agent'"
        )
    state = context.state(ctx)
    secret = new_password(username, password_stdin)
    made = state.client().create_user(username, secret, role.value, tenant, host)
    output.emit(made, state.fmt(out), fields=USER_COLUMNS)


context.list_command(
    app,
    "List users with their role, tenant (tenant users) and host (agent users) (admin).\n\n"
    "Example: romana user list",
    lambda client: client.list_users(),
    USER_COLUMNS,
)

context.show_command(
    app,
    "Show a user: its role, and its tenant (tenant users) or host (agent users) (admin).\n\n"
    "Example: romana user show agent-node1",
    lambda client, name: client.get_user(name),
    USER_COLUMNS,
)


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


def passwd(
    ctx: typer.Context,
    username: str,
    password_stdin: context.PasswordStdinOption = False,
    current: Annotated[
        bool,
        typer.Option(
            "--current",
            help="Prompt for the current password first: needed to change your own password "
            "when you are not an admin.",
        ),
    ] = False,
) -> None:
    """Change a user's password; every token of the user is revoked, so whoever uses it,
    you included when it is yours, logs in again. Admins change anyone's; other users only
    their own, with --current.

    The new password comes from --password-stdin, the environment variable
    ROMANA_NEW_USER_PASSWORD, or else a prompt (twice); the current one from a prompt.

    Example: romana user passwd alice
    """
    state = context.state(ctx)
    old = typer.prompt("Current password", hide_input=True, err=True) if current else None
    new = new_password(username, password_stdin)
    state.client().set_password(username, new, old)
    output.message(f"password of user {username} changed; every token of the user is revoked")


app.command("passwd")(passwd)
# The name of earlier releases, kept for scripts; listed under its new name only.
app.command(
    "password",
    hidden=True,
    help="The former name of `romana user passwd`, which see.\n\n"
    "Example: romana user password alice",
)(passwd)


context.list_command(
    keys,
    "List the keys tokens verify with, by fingerprint: the one signing new tokens, and the\n"
    "replaced ones that still verify the tokens they signed until those expire (admin).\n\n"
    "Example: romana signing-key list",
    lambda client: client.signing_keys(),
    KEY_COLUMNS,
)


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
