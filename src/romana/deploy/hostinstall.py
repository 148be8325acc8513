"""The files that make a machine a romana host, as a plan, and the one way to apply it.

``romana install host`` and ``romana install cni`` (the DaemonSet's init container) compute a
plan: :class:`Entry` values naming a path on the target machine (from
:mod:`romana.deploy.layout`), its bytes and mode, or a symlink's target. :func:`apply` writes a
plan under a root directory (``/``, or the ``--root`` DESTDIR); :func:`remove` takes back
exactly what such a plan writes. The CNI part (front and network configuration) is
:func:`cni_plan` for both commands.

Invariants: input is validated before anything is written, and every problem is reported at
once, each naming its flag and the rule; every file is written to a temporary file beside it
whose mode is set before it is renamed into place, so no reader sees a partial file and the
secret is never wider than 0600; an unchanged file is not rewritten (an install is
idempotent and keeps mtimes); paths inside the files are the target machine's, never the
root's. Standard library, :mod:`romana.durable` and the core's name rules only: the commands
that run this need no romanad.
"""

from __future__ import annotations

import json
import os
import re
import sysconfig
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from romana import durable
from romana.core import names
from romana.core.errors import InvalidInput, Issue, Issues
from romana.deploy import layout

FIREWALLS = ("nftables", "iptables")
AGENT_UNIT = "romana-agent.service"
PREFIX_PLACEHOLDER = "@PREFIX@"
CAPABILITIES_PLACEHOLDER = "@CAPABILITIES@"
IFNAME_RE = re.compile(r"^[^/\s:]{1,15}$")

#: Directories an uninstall removes when it leaves them empty (never /etc/systemd/system).
OWN_DIRS = (layout.CONFIG_DIR, layout.CNI_CONF_DIR, "/etc/cni", layout.CNI_BIN_DIR, "/opt/cni")


@dataclass(frozen=True, slots=True)
class Entry:
    """One path of the target machine: a file (``data``, ``mode``) or a symlink (``link``)."""

    path: str
    data: bytes = b""
    mode: int = 0o644
    link: str = ""


@dataclass(frozen=True, slots=True)
class Report:
    """What :func:`apply` or :func:`remove` did, by target path."""

    written: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    kept: tuple[tuple[str, str], ...] = ()
    """(path, why) of what :func:`remove` left in place."""


@dataclass(frozen=True, slots=True)
class HostOptions:
    """What ``romana install host`` is given; :func:`host_plan` validates it."""

    url: tuple[str, ...]
    labels: tuple[str, ...]
    password: str
    firewall: str = "nftables"
    username: str = ""
    """The agent user; ``agent-HOST`` when empty."""
    host: str = ""
    """The name the agent registers under; the system host name when empty."""
    ca: str = ""
    interface: str = ""
    prefix: Path = field(default_factory=lambda: default_prefix())


def default_prefix() -> Path:
    """The installation whose ``bin/`` holds the running interpreter's scripts (for a virtual
    environment, the environment itself)."""
    return Path(sysconfig.get_path("scripts")).absolute().parent


def front_path(prefix: Path) -> Path:
    """The compiled CNI front of the installation at ``prefix``."""
    return Path(prefix).absolute() / "bin" / layout.CNI_FRONT


def conflist() -> bytes:
    """The CNI network configuration (docs/operations.md, section 4). The front reaches the
    agent at its default socket, so nothing about the installation goes into it."""
    network = {
        "cniVersion": "1.1.0",
        "name": "romana",
        "plugins": [{"type": layout.CNI_FRONT, "segment_label": "romana.io/segment"}],
    }
    return (json.dumps(network, indent=2) + "\n").encode()


def cni_plan(prefix: Path, *, copy: bool = False) -> tuple[Entry, ...]:
    """The front in the CNI bin directory (a symlink to ``prefix``'s, or with ``copy`` a copy
    of it) and the network configuration. InvalidInput when the front is missing."""
    front = front_path(prefix)
    if not front.is_file():
        raise InvalidInput(
            [Issue("--prefix", f"{front} does not exist (build it: scripts/build-cni.sh)")]
        )
    bin_path = f"{layout.CNI_BIN_DIR}/{layout.CNI_FRONT}"
    plugin = (
        Entry(bin_path, front.read_bytes(), 0o755) if copy else Entry(bin_path, link=str(front))
    )
    return (Entry(f"{layout.CNI_CONF_DIR}/{layout.CNI_CONFLIST}", conflist()), plugin)


def _validated(options: HostOptions, system_host: str) -> Issues:
    issues = Issues()
    if not options.url:
        issues.add("--url", "at least one romanad URL is required")
    for url in options.url:
        if not url.startswith(("http://", "https://")):
            issues.add("--url", f"{url!r} must start with http:// or https://")
    if not options.labels:
        issues.add("--labels", "at least one key=value label is required (rack=r1)")
    for item in options.labels:
        key, sep, value = item.partition("=")
        if not sep or not key:
            issues.add("--labels", f"{item!r} must be key=value")
        elif names.check_label_key(key, "--labels", issues):
            names.check_label_value(value, "--labels", issues)
    if options.firewall not in FIREWALLS:
        issues.add("--firewall", f"{options.firewall!r} must be one of {', '.join(FIREWALLS)}")
    host = options.host or system_host
    if not names.matches(names.HOST_RE, host):
        issues.add("--host", f"{host!r} {names.HOST_RULE}")
    username = options.username or f"agent-{host}"
    if not re.fullmatch(names.USERNAME_PATTERN, username):
        issues.add("--username", f"{username!r} {names.USERNAME_RULE}")
    if options.ca and not options.ca.startswith("/"):
        issues.add("--ca", "must be an absolute path (the agent reads it from its own directory)")
    if options.interface and not IFNAME_RE.match(options.interface):
        issues.add("--interface", f"{options.interface!r} is not a valid interface name")
    if not options.password:
        issues.add("--password-file", "the agent user's password is empty")
    elif "\n" in options.password.rstrip("\n") or "\r" in options.password:
        issues.add("--password-file", "the password must be one line")
    if not Path(options.prefix).is_absolute():
        issues.add("--prefix", "must be an absolute path")
    else:
        agent = Path(options.prefix) / "bin" / "romana-agent"
        if not agent.is_file():
            issues.add("--prefix", f"{agent} does not exist")
    return issues


def _toml(value: str | tuple[str, ...]) -> str:
    """A TOML basic string (JSON's escapes are TOML's) or an array of them."""
    if isinstance(value, tuple):
        return "[" + ", ".join(json.dumps(v) for v in value) + "]"
    return json.dumps(value)


def agent_config(options: HostOptions, host: str, username: str) -> bytes:
    settings: list[tuple[str, str | tuple[str, ...]]] = [
        ("url", options.url),
        ("labels", options.labels),
        ("firewall", options.firewall),
        ("username", username),
        ("password_file", layout.AGENT_PASSWORD_FILE),
    ]
    if options.host:
        settings.append(("host", host))
    if options.ca:
        settings.append(("ca", options.ca))
    if options.interface:
        settings.append(("interface", options.interface))
    lines = [
        "# Written by `romana install host`; every setting: docs/operations.md, section 6.",
        "[agent]",
        *(f"{key} = {_toml(value)}" for key, value in settings),
    ]
    return ("\n".join(lines) + "\n").encode()


def agent_unit(prefix: Path) -> bytes:
    """The agent's systemd unit, its ExecStart naming the executables under ``prefix`` and
    its capabilities :data:`layout.AGENT_CAPABILITIES`, the DaemonSet's too."""
    text = resources.files("romana.deploy").joinpath("units", AGENT_UNIT).read_text()
    capabilities = " ".join(f"CAP_{name}" for name in layout.AGENT_CAPABILITIES)
    text = text.replace(CAPABILITIES_PLACEHOLDER, capabilities)
    return text.replace(PREFIX_PLACEHOLDER, str(Path(prefix).absolute())).encode()


def host_plan(options: HostOptions, system_host: str) -> tuple[Entry, ...]:
    """Everything ``romana install host`` writes; InvalidInput listing every problem."""
    issues = _validated(options, system_host)
    try:
        cni = cni_plan(options.prefix)
    except InvalidInput as exc:
        issues.extend(exc.issues)
        cni = ()
    issues.raise_if_any()
    host = options.host or system_host
    username = options.username or f"agent-{host}"
    password = options.password.rstrip("\n") + "\n"
    return (
        Entry(f"{layout.SYSTEMD_DIR}/{AGENT_UNIT}", agent_unit(options.prefix)),
        Entry(layout.AGENT_CONFIG, agent_config(options, host, username)),
        Entry(layout.AGENT_PASSWORD_FILE, password.encode(), 0o600),
        *cni,
    )


def host_removal(prefix: Path) -> tuple[Entry, ...]:
    """The paths ``romana install host --uninstall`` takes back (contents do not matter)."""
    files = (f"{layout.SYSTEMD_DIR}/{AGENT_UNIT}", layout.AGENT_CONFIG, layout.AGENT_PASSWORD_FILE)
    return (*(Entry(p) for p in files), *cni_removal(prefix, copy=False))


def cni_removal(prefix: Path, *, copy: bool) -> tuple[Entry, ...]:
    front = f"{layout.CNI_BIN_DIR}/{layout.CNI_FRONT}"
    plugin = Entry(front, mode=0o755) if copy else Entry(front, link=str(front_path(prefix)))
    return (Entry(f"{layout.CNI_CONF_DIR}/{layout.CNI_CONFLIST}"), plugin)


def under(root: Path, path: str) -> Path:
    """Where the target path ``path`` lies when the target machine's / is ``root``."""
    return Path(root) / path.lstrip("/")


def _same(target: Path, entry: Entry) -> bool:
    try:
        if entry.link:
            return target.is_symlink() and os.readlink(target) == entry.link
        info = target.lstat()
    except OSError:
        return False
    if target.is_symlink() or (info.st_mode & 0o7777) != entry.mode:
        return False
    return target.read_bytes() == entry.data


def _write(target: Path, entry: Entry) -> None:
    """Replace ``target`` at once: a temporary file (its mode set before anything is written
    into it) or symlink beside it, renamed over it (:mod:`romana.durable`)."""
    _make_dirs(target.parent)
    if entry.link:
        durable.replace_link(target, entry.link)
    else:
        durable.replace_file(target, entry.data, entry.mode)


def _make_dirs(directory: Path) -> None:
    missing = []
    while not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for made in reversed(missing):
        made.mkdir(mode=0o755)
        os.chmod(made, 0o755)  # whatever the umask


def apply(plan: tuple[Entry, ...], root: Path) -> Report:
    """Write ``plan`` under ``root``; what was written and what was already as planned."""
    written, unchanged = [], []
    for entry in plan:
        target = under(root, entry.path)
        if target.is_dir() and not target.is_symlink():
            raise InvalidInput([Issue("--root", f"{target} is a directory")])
        if _same(target, entry):
            unchanged.append(entry.path)
        else:
            _write(target, entry)
            written.append(entry.path)
    return Report(written=tuple(written), unchanged=tuple(unchanged))


def remove(plan: tuple[Entry, ...], root: Path) -> Report:
    """Remove under ``root`` what ``plan`` writes: its files, its symlinks when they still
    point where the plan points them; then the directories of :data:`OWN_DIRS` left empty."""
    removed, kept = [], []
    for entry in plan:
        target = under(root, entry.path)
        if not target.is_symlink() and not target.exists():
            continue
        if entry.link and not (target.is_symlink() and os.readlink(target) == entry.link):
            why = f"points at {os.readlink(target)}" if target.is_symlink() else "not our symlink"
            kept.append((entry.path, why))
            continue
        if not entry.link and (target.is_symlink() or not target.is_file()):
            kept.append((entry.path, "not a regular file"))
            continue
        target.unlink()
        removed.append(entry.path)
    for directory in OWN_DIRS:
        path = under(root, directory)
        if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
            path.rmdir()
    return Report(removed=tuple(removed), kept=tuple(kept))
