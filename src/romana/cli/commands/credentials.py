"""``romana agent-credential create HOST``: the credential one host's agent logs in with.

An agent credential is an ``agent`` user bound to one host (``agent-HOST`` by default) and a
random password nobody chose or typed. The password is shown once: written to a new file of
mode 0600 (``--password-file``), or printed on standard output. Invariants:

* the password file is never readable by anyone but its owner, not even while it is written:
  it is made with mode 0600 beside its final name and renamed into place, and written before
  romanad learns the password, so a failed write leaves romanad unchanged;
* an existing file is never replaced without ``--force``, and an existing user never given a
  new password without ``--rotate``; ``--rotate`` changes the password of an agent user bound
  to HOST only, and revokes its tokens (an agent running with the old password logs in again
  with the new one only after its file is replaced).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from romana.cli import context, output
from romana.core.errors import AlreadyExists, Conflict, InvalidInput, NotFound

if TYPE_CHECKING:
    from romana.client import Client

app = context.group("Agent credentials: the user and password one host's agent logs in with.")

PASSWORD_BYTES = 32
"""Random bytes of a generated password (43 URL-safe characters)."""


def _stage(path: Path, secret: str) -> Path:
    """A new file of mode 0600 beside ``path`` holding ``secret``; renamed into place by
    :func:`_place` once romanad accepted the password, removed otherwise."""
    import tempfile

    try:
        fd, staged = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise InvalidInput(f"password file {path}: {exc.strerror or exc}") from exc
    try:
        # mkstemp creates the file 0600 already; fchmod states the invariant, whatever umask.
        os.fchmod(fd, 0o600)
        os.write(fd, f"{secret}\n".encode())
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        Path(staged).unlink(missing_ok=True)
        raise InvalidInput(f"password file {path}: {exc.strerror or exc}") from exc
    os.close(fd)
    return Path(staged)


def _place(staged: Path, path: Path, force: bool) -> None:
    """Give ``staged`` its final name: replacing an existing file only with ``force``."""
    try:
        if force:
            os.replace(staged, path)
            return
        # A hard link never replaces: a file created meanwhile is kept, and named.
        os.link(staged, path)
    except FileExistsError as exc:
        raise AlreadyExists(
            f"password file {path} appeared meanwhile; the new password is in {staged}"
        ) from exc
    except OSError as exc:
        raise InvalidInput(
            f"password file {path}: {exc.strerror or exc}; the new password is in {staged}"
        ) from exc
    staged.unlink()


def _rotate(client: Client, username: str, host: str, secret: str) -> bool:
    """Give the agent user of ``host`` the password ``secret``; False when it does not exist.
    Any other user of that name is refused, naming it: rotating is for agent credentials."""
    try:
        user = client.get_user(username)
    except NotFound:
        return False
    if user["role"] != "agent":
        raise Conflict(
            f"user {username!r} is a user of role {user['role']}, not the agent user of host "
            f"{host!r}: --rotate changes agent credentials only"
        )
    if user.get("host") != host:
        # An agent user of an earlier release is bound to no host.
        of = "no host" if user.get("host") is None else f"host {user['host']!r}"
        raise Conflict(
            f"user {username!r} is the agent user of {of}, not of host {host!r}: --rotate "
            "changes agent credentials only"
        )
    client.set_password(username, secret)
    return True


@app.command("create")
def create(
    ctx: typer.Context,
    host: str,
    username: Annotated[
        str | None,
        typer.Option("--username", help="The agent user's name (default: agent-HOST)."),
    ] = None,
    password_file: Annotated[
        Path | None,
        typer.Option(
            "--password-file",
            help="Write the password to this new file (mode 0600) instead of standard output.",
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option("--force", help="Replace the password file when it exists already."),
    ] = False,
    rotate: Annotated[
        bool,
        typer.Option(
            "--rotate",
            help="When the agent user exists already, give it a new password, revoking its "
            "tokens (it is created otherwise).",
        ),
    ] = False,
) -> None:
    """Create the agent user of HOST with a random password, shown once: written to
    --password-file (mode 0600) or printed on standard output (admin).

    The user registers, relabels, reads and allocates on HOST only. An existing user is
    refused unless --rotate; an existing password file unless --force. The agent on HOST logs
    in with --username and the password file as --password-file.

    Example: romana agent-credential create node1 --password-file node1.password
    """
    # Imported here, not at the top: every command module loads for `romana --help`.
    import secrets

    state = context.state(ctx)
    name = username or f"agent-{host}"
    if password_file is not None and not force and password_file.exists():
        raise AlreadyExists(f"password file {password_file} exists; --force replaces it")
    secret = secrets.token_urlsafe(PASSWORD_BYTES)
    staged = None if password_file is None else _stage(password_file, secret)
    try:
        client = state.client()
        rotated = rotate and _rotate(client, name, host, secret)
        if not rotated:
            try:
                client.create_user(name, secret, "agent", host=host)
            except AlreadyExists as exc:
                raise AlreadyExists(
                    f"user {name!r} exists already; --rotate gives it a new password"
                ) from exc
    except BaseException:
        if staged is not None:
            staged.unlink(missing_ok=True)
        raise
    done = "given a new password; its tokens are revoked" if rotated else "created"
    if password_file is None:
        typer.echo(secret)
        typer.echo(
            f"agent user {name} of host {host} {done}; its password (above) is shown this "
            "once: keep it in a file of mode 0600",
            err=True,
        )
        where = "FILE"
    else:
        assert staged is not None
        _place(staged, password_file, force)
        output.message(
            f"agent user {name} of host {host} {done}; its password is in {password_file} "
            "(mode 0600)"
        )
        where = str(password_file)
    url = ",".join(state.settings.url) or "URL"
    typer.echo(
        f"next, on host {host}: romana install host --url {url} --username {name} "
        f"--password-file {where} --labels ...",
        err=True,
    )
