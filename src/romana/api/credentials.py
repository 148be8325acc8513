"""The admin credential file: created at the first start, reused afterwards.

The file is readable by root only (mode 0600, written under a temporary name and renamed
into place, so it never exists with wider permissions or half written); one ``key = value``
per line, values unquoted (the password is URL-safe base64, so no quoting is ever needed)::

    url = http://127.0.0.1:9600
    username = admin
    password = ...

Invariants:

* The password exists in clear only in this file; the store keeps its scrypt hash.
* An existing file is never overwritten, except on an explicit reset, which also revokes
  every token of the admin user (a password change increases its token generation).
* When the store already has the admin user but this machine has no file (a second replica
  on another machine), nothing is changed: the operator copies the file from the first
  machine, or resets the password, which invalidates the other copies.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path

from romana.core.errors import AlreadyExists, NotFound
from romana.services.auth import AuthService, Role

log = logging.getLogger(__name__)

MODE = 0o600


def ensure_admin(
    auth: AuthService, path: Path, username: str, url: str, *, reset: bool = False
) -> Path | None:
    """Make sure ``path`` holds working admin credentials; the path, or None when it cannot."""
    if path.exists() and not reset:
        if path.stat().st_mode & 0o077:
            log.warning("admin credentials file %s is readable by others; fixing its mode", path)
            path.chmod(MODE)
        log.info("admin credentials: %s", path)
        return path
    password = secrets.token_urlsafe(24)
    try:
        existing = auth.get_user(username)
    except NotFound:
        existing = None
    if existing is not None and not reset:
        log.warning(
            "the store already has admin user %r but %s does not exist: copy the file from "
            "the machine that created it, or restart once with --reset-admin to set a new "
            "password (old copies of the file stop working)",
            username,
            path,
        )
        return None
    if existing is None:
        try:
            auth.create_user(username, password, Role.ADMIN)
        except AlreadyExists:
            log.warning("admin user %r was created concurrently elsewhere", username)
            return None
    else:
        auth.set_password(username, password)
    write(path, url, username, password)
    log.info("created admin credentials in %s (readable by root only)", path)
    return path


def write(path: Path, url: str, username: str, password: str) -> None:
    try:
        path.parent.mkdir(parents=True, mode=0o700)
    except FileExistsError:
        pass
    else:
        # mkdir applies the umask, which may take the owner's own bits: set the mode outright.
        path.parent.chmod(0o700)
    text = (
        "# romanad admin credentials; keep secret.\n"
        f"url = {url}\nusername = {username}\npassword = {password}\n"
    )
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MODE)
    try:
        os.fchmod(fd, MODE)
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
