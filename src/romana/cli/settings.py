"""The CLI's settings and the files it keeps: config file location and the saved token.

The config file is ``$XDG_CONFIG_HOME/romana/config.toml`` (``~/.config/romana/config.toml``),
or the path given by ``--config`` / ``ROMANA_CONFIG``; it is optional. ``romana login`` saves
its token beside it, in ``token``, readable by the owner only (mode 0600, directory 0700),
with the root URLs it logged in at. The saved token is sent only while romana is configured
for those URLs (:func:`usable_token`): pointed at another server, romana refuses to send it and
asks for a new login. A token given by ``--token`` / ``ROMANA_TOKEN`` / the config file wins
over the saved one.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from romana import config
from romana.client.settings import ClientSettings, check_client
from romana.core.errors import InvalidInput, Issues, Unauthorized

FORMATS = ("table", "json", "yaml")


@dataclass(frozen=True, slots=True)
class CliSettings(ClientSettings):
    output: str = config.setting(
        "table", "Output of commands: table, json or yaml.", env="ROMANA_OUTPUT", flag="--output"
    )
    username: str = config.setting(
        "", "User name for `romana login`.", env="ROMANA_USERNAME", flag="--username"
    )
    password: str = config.setting(
        "",
        "Password for `romana login` (prompted when empty; see also --password-stdin).",
        env="ROMANA_PASSWORD",
    )

    def validate(self) -> None:
        issues = Issues("settings")
        check_client(self, issues)
        if self.output not in FORMATS:
            issues.add("output", f"must be one of {', '.join(FORMATS)}")
        issues.raise_if_any()


def config_path(environ: Mapping[str, str], explicit: str | None) -> Path:
    """The config file to read: --config, else ROMANA_CONFIG, else the XDG location."""
    if explicit:
        return Path(explicit).expanduser()
    if environ.get("ROMANA_CONFIG"):
        return Path(environ["ROMANA_CONFIG"]).expanduser()
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "romana" / "config.toml"


def load(
    environ: Mapping[str, str], path: Path, overrides: Mapping[str, Any]
) -> config.Loaded[CliSettings]:
    """Settings from defaults < config file (when present) < environment < options. A
    directory named as the config file is refused: the saved token would go beside it."""
    if path.is_dir():
        raise InvalidInput(
            f"config: {str(path)!r} is a directory; give the path of a file "
            f"(e.g. {str(path / 'config.toml')!r})"
        )
    return config.load(
        CliSettings,
        environ=environ,
        file=path if path.is_file() else None,
        overrides=overrides,
    )


def token_path(config_file: Path) -> Path:
    return config_file.parent / "token"


def save_token(config_file: Path, token: Mapping[str, Any]) -> Path:
    """Write the token beside the config file, readable and writable by the owner only."""
    path = token_path(config_file)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    # The file may predate us with wider permissions; O_CREAT's mode only applies to new files.
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(dict(token), f)
        f.write("\n")
    return path


def _saved(config_file: Path) -> dict[str, Any]:
    """The token file's record, or {} when there is none."""
    path = token_path(config_file)
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"saved token {path}: {exc}") from exc
    return raw if isinstance(raw, dict) else {}


def saved_token(config_file: Path) -> str:
    """The token saved by `romana login`, or "" when there is none."""
    token = _saved(config_file).get("token")
    return token if isinstance(token, str) else ""


def usable_token(config_file: Path, urls: Sequence[str]) -> str:
    """The saved token when it was issued for every one of ``urls`` (romana's root URLs now),
    "" when there is none; Unauthorized when it was issued elsewhere, so it is never sent to a
    server that did not issue it."""
    raw = _saved(config_file)
    token = raw.get("token")
    if not isinstance(token, str) or not token:
        return ""
    issuers = raw.get("urls")
    if not isinstance(issuers, list) or not issuers:
        raise Unauthorized(
            f"the saved token ({token_path(config_file)}) does not say which romanad issued "
            "it, so it is not sent; log in again (romana login)"
        )
    issued = {str(u).rstrip("/") for u in issuers}
    foreign = [u for u in (u.rstrip("/") for u in urls) if u not in issued]
    if foreign:
        raise Unauthorized(
            f"the saved token was issued by {', '.join(sorted(issued))}, not by "
            f"{', '.join(foreign)}, so it is not sent there; point romana at the romanad that "
            "issued it (--url or ROMANA_URL), or log in to this one (romana login)"
        )
    return token


def forget_token(config_file: Path) -> bool:
    """Delete the saved token; whether there was one."""
    try:
        token_path(config_file).unlink()
    except FileNotFoundError:
        return False
    return True
