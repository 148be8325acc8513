"""One CNI invocation parsed: environment, network configuration and CNI_ARGS → :class:`Request`.

Checks, in the order libcni's ``skel`` makes them: the variables the spec requires for the
command (error 4, every missing or invalid one named), stdin decoding (6: not a JSON object, or
nested deeper than Python's json follows, about 1000 levels), the version (1, also
for a CHECK/GC/STATUS that the config's version predates), then the plugin's own keys (7, every
problem at once; ``InvalidInput`` whose fields name the variable or key at fault).

Plugin configuration keys, beside the spec's ``cniVersion``/``cniVersions``/``name``/``type``:

``agent_socket``    the agent's Unix socket; default ``/run/romana/agent.sock``; at most
                    107 bytes, what a Unix socket address holds (longer is error 7, not a
                    connection failure that runtimes would retry as 11). The environment
                    variable ``ROMANA_AGENT_SOCKET``, when set and not empty, names the socket
                    instead (same rules, error 4): the compiled front reads only that
                    variable, so a socket other than the default is set there
``agent_timeout``   seconds to wait for one agent answer; default 30
``pending_dir``     where DEL records releases the agent could not take; default
                    ``/var/lib/romana/cni-pending``
``tenant``          static tenant, for runtimes without Kubernetes (see :mod:`.placement`)
``segment``         static segment; default ``default``
``segment_label``   the workload label whose value names the segment; default
                    ``romana.io/segment``
``mtu``             MTU to ask the agent for (68…65535); the agent decides otherwise
``dns``             copied into the result (nameservers, domain, search, options)

Tenant and segment are resolved by :mod:`.placement`.

DEL reads only what it needs (identity, socket, timeout, pending directory), because the runtime
also calls DEL after an ADD that failed on some other key, and that DEL must succeed.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from typing import Any

from romana.core import endpoint, errors
from romana.integrations.cni import placement, spec

DEFAULT_AGENT_SOCKET = "/run/romana/agent.sock"
AGENT_SOCKET_ENV = "ROMANA_AGENT_SOCKET"
"""Overrides ``agent_socket``; the compiled front reads this variable and never the config."""
DEFAULT_AGENT_TIMEOUT = 30.0
DEFAULT_PENDING_DIR = "/var/lib/romana/cni-pending"
VALID_ATTACHMENTS = "cni.dev/valid-attachments"
LEGACY_ATTACHMENTS = "cni.dev/attachments"

COMMANDS = ("ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION")
REQUIRED_ENV: dict[str, tuple[str, ...]] = {
    "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
    "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
    "GC": ("CNI_PATH",),
    "STATUS": (),
    "VERSION": (),
}

_CONTAINER_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
_NETWORK_NAME_RE = _CONTAINER_ID_RE
_IFNAME_MAX = 15
MAX_SOCKET_PATH = 107
"""Bytes of a Unix socket path: ``sun_path`` holds 108, the terminating NUL included."""


@dataclasses.dataclass(frozen=True, slots=True)
class Settings:
    """How to reach the agent, and where DEL keeps what it could not hand over."""

    agent_socket: str = DEFAULT_AGENT_SOCKET
    agent_timeout: float = DEFAULT_AGENT_TIMEOUT
    pending_dir: str = DEFAULT_PENDING_DIR


@dataclasses.dataclass(frozen=True, slots=True)
class Request:
    """Everything one command needs, validated. Fields a command does not use stay empty."""

    command: str
    version: str
    network: str = ""
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    cni_args: Mapping[str, str] = dataclasses.field(default_factory=dict)
    settings: Settings = dataclasses.field(default_factory=Settings)
    placement: placement.Placement | None = None
    mtu: int | None = None
    dns: Mapping[str, Any] | None = None
    prev_result: spec.Result | None = None
    valid_attachments: tuple[tuple[str, str], ...] = ()


def command_of(env: Mapping[str, str]) -> str:
    """CNI_COMMAND, checked; raises InvalidInput naming it when missing or unknown."""
    command = env.get("CNI_COMMAND", "")
    if not command:
        raise errors.InvalidInput([errors.Issue("CNI_COMMAND", "required, one of " + _ops())])
    if command not in COMMANDS:
        raise errors.InvalidInput(
            [errors.Issue("CNI_COMMAND", f"{command!r} is not one of {_ops()}")]
        )
    return command


def parse(command: str, env: Mapping[str, str], stdin: bytes) -> Request:
    """The validated request for ``command`` (any command but VERSION)."""
    issues = errors.Issues()
    _check_env(command, env, issues)
    cni_args = _cni_args(env.get("CNI_ARGS", ""), issues if command in ("ADD", "CHECK") else None)
    issues.raise_if_any()
    conf = _decode(stdin)
    version = spec.choose_version(conf.get("cniVersion"), conf.get("cniVersions"))
    if not spec.allows(version, command):
        raise spec.CniError(
            spec.ERR_INCOMPATIBLE_VERSION,
            f"config version does not allow {command}",
            f"cniVersion {version}: {command} needs {spec.INTRODUCED_IN[command]} or later",
        )
    base = Request(
        command,
        version,
        network=_network_name(conf, issues),
        container_id=env.get("CNI_CONTAINERID", ""),
        netns=env.get("CNI_NETNS", ""),
        ifname=env.get("CNI_IFNAME", ""),
        cni_args=cni_args,
        settings=_settings(conf, env, issues),
    )
    if command == "DEL":
        issues.raise_if_any()
        return base
    request = dataclasses.replace(
        base,
        placement=placement.resolve(conf, cni_args, issues, required=command == "ADD"),
        mtu=_mtu(conf, issues) if command == "ADD" else None,
        dns=_dns(conf, issues) if command == "ADD" else None,
        prev_result=_prev_result(conf, issues, required=command == "CHECK"),
        valid_attachments=_attachments(conf, issues) if command == "GC" else (),
    )
    issues.raise_if_any()
    if command == "ADD" and conf.get("ipam"):
        raise errors.Unsupported(
            f"ipam: {json.dumps(conf['ipam'])} is not supported; romana-agent allocates the "
            "addresses, remove the ipam key"
        )
    return request


def _ops() -> str:
    return ", ".join(COMMANDS)


def _check_env(command: str, env: Mapping[str, str], issues: errors.Issues) -> None:
    for name in REQUIRED_ENV[command]:
        if not env.get(name):
            issues.add(name, f"required for {command}")
    if command not in ("ADD", "CHECK", "DEL"):
        return
    container_id = env.get("CNI_CONTAINERID", "")
    if container_id and not _CONTAINER_ID_RE.fullmatch(container_id):
        issues.add(
            "CNI_CONTAINERID",
            f"{container_id!r} must start with a letter or digit, then letters, digits, _ . -",
        )
    ifname = env.get("CNI_IFNAME", "")
    if ifname:
        rule = _ifname_rule(ifname)
        if rule:
            issues.add("CNI_IFNAME", f"{ifname!r} {rule}")
    netns = env.get("CNI_NETNS", "")
    if netns and command != "DEL" and not netns.startswith("/"):
        issues.add("CNI_NETNS", f"{netns!r} must be an absolute path")


def _ifname_rule(ifname: str) -> str:
    if len(ifname) > _IFNAME_MAX:
        return f"must be at most {_IFNAME_MAX} characters"
    if ifname in (".", ".."):
        return "must not be . or .."
    if any(c in "/:" or c.isspace() for c in ifname):
        return "must not contain /, : or whitespace"
    return ""


def _cni_args(text: str, issues: errors.Issues | None) -> dict[str, str]:
    args: dict[str, str] = {}
    for pair in text.split(";"):
        if not pair:
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key:
            if issues is not None:
                issues.add("CNI_ARGS", f"{pair!r} is not KEY=VALUE")
            continue
        args[key] = value
    return args


def _decode(stdin: bytes) -> dict[str, Any]:
    try:
        conf = json.loads(stdin)
    except ValueError as exc:
        raise spec.CniError(
            spec.ERR_DECODING, "cannot decode the network configuration", str(exc)
        ) from exc
    except RecursionError as exc:
        raise spec.CniError(
            spec.ERR_DECODING,
            "cannot decode the network configuration",
            "JSON nested too deeply (Python's json follows about 1000 levels)",
        ) from exc
    if not isinstance(conf, dict):
        raise spec.CniError(
            spec.ERR_DECODING,
            "cannot decode the network configuration",
            f"stdin must hold a JSON object, not {type(conf).__name__}",
        )
    return conf


def _network_name(conf: Mapping[str, Any], issues: errors.Issues) -> str:
    name = conf.get("name")
    if not isinstance(name, str) or not name:
        issues.add("name", "required, a string")
        return ""
    if not _NETWORK_NAME_RE.fullmatch(name):
        issues.add(
            "name", f"{name!r} must start with a letter or digit, then letters, digits, _ . -"
        )
    return name


def _settings(conf: Mapping[str, Any], env: Mapping[str, str], issues: errors.Issues) -> Settings:
    # The key is checked even when the variable wins: the plugin hosted in the agent (reached
    # through the front, which forwards only CNI_* variables) checks it too, and both must give
    # the same answer to the same invocation.
    socket_path = _path(conf, "agent_socket", DEFAULT_AGENT_SOCKET, issues)
    rule = _socket_rule(socket_path)
    if rule:
        issues.add("agent_socket", rule)
        socket_path = DEFAULT_AGENT_SOCKET
    override = env.get(AGENT_SOCKET_ENV, "")
    if override:
        rule = "must be an absolute path" if not override.startswith("/") else ""
        rule = rule or _socket_rule(override)
        if rule:
            raise spec.CniError(
                spec.ERR_INVALID_ENVIRONMENT,
                f"invalid environment variables: {AGENT_SOCKET_ENV}",
                f"{AGENT_SOCKET_ENV}: {override!r} {rule}",
            )
        socket_path = override
    pending_dir = _path(conf, "pending_dir", DEFAULT_PENDING_DIR, issues)
    timeout = conf.get("agent_timeout", DEFAULT_AGENT_TIMEOUT)
    if not _is_number(timeout) or not 0 < timeout <= 3600:
        issues.add("agent_timeout", f"{timeout!r} must be a number of seconds, > 0 and <= 3600")
        timeout = DEFAULT_AGENT_TIMEOUT
    return Settings(socket_path, float(timeout), pending_dir)


def _socket_rule(path: str) -> str:
    size = len(os.fsencode(path))
    if size > MAX_SOCKET_PATH:
        return f"is {size} bytes long; a Unix socket path holds at most {MAX_SOCKET_PATH} bytes"
    return ""


def _path(conf: Mapping[str, Any], key: str, default: str, issues: errors.Issues) -> str:
    value = conf.get(key, default)
    if not isinstance(value, str) or not value.startswith("/"):
        issues.add(key, f"{value!r} must be an absolute path")
        return default
    try:
        encoded = os.fsencode(value)
    except UnicodeEncodeError:
        issues.add(key, f"{value!r} is not a valid file name (a lone surrogate)")
        return default
    if b"\0" in encoded:
        issues.add(key, "must not contain a NUL character")
        return default
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _mtu(conf: Mapping[str, Any], issues: errors.Issues) -> int | None:
    mtu = conf.get("mtu")
    if mtu is None:
        return None
    if (
        not isinstance(mtu, int)
        or isinstance(mtu, bool)
        or not endpoint.MIN_MTU <= mtu <= endpoint.MAX_MTU
    ):
        issues.add(
            "mtu", f"{mtu!r} must be an integer from {endpoint.MIN_MTU} to {endpoint.MAX_MTU}"
        )
        return None
    return mtu


def _dns(conf: Mapping[str, Any], issues: errors.Issues) -> dict[str, Any] | None:
    dns = conf.get("dns")
    if dns is None:
        return None
    if not isinstance(dns, dict):
        issues.add("dns", "must be an object")
        return None
    out: dict[str, Any] = {}
    for key in ("nameservers", "search", "options"):
        value = dns.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            issues.add(f"dns.{key}", "must be a list of strings")
        elif value:
            out[key] = list(value)
    domain = dns.get("domain")
    if domain is not None and not isinstance(domain, str):
        issues.add("dns.domain", "must be a string")
    elif domain:
        out["domain"] = domain
    return out or None


def _prev_result(
    conf: Mapping[str, Any], issues: errors.Issues, *, required: bool
) -> spec.Result | None:
    prev = conf.get("prevResult")
    if prev is None:
        if required:
            issues.add("prevResult", "required for CHECK: the result of the ADD being checked")
        return None
    if not isinstance(prev, dict):
        issues.add("prevResult", "must be an object")
        return None
    for key, required_key in (("interfaces", "name"), ("ips", "address"), ("routes", "dst")):
        items = prev.get(key, [])
        if not isinstance(items, list):
            issues.add(f"prevResult.{key}", "must be a list")
            continue
        for index, item in enumerate(items):
            if not isinstance(item, dict) or not isinstance(item.get(required_key), str):
                issues.add(f"prevResult.{key}[{index}].{required_key}", "required, a string")
    return spec.canonical(prev)


def _attachments(conf: Mapping[str, Any], issues: errors.Issues) -> tuple[tuple[str, str], ...]:
    key = VALID_ATTACHMENTS if VALID_ATTACHMENTS in conf else LEGACY_ATTACHMENTS
    raw = conf.get(key)
    if not isinstance(raw, list):
        issues.add(
            VALID_ATTACHMENTS,
            "required for GC, a list of {containerID, ifname} objects (also read from "
            f"{LEGACY_ATTACHMENTS})",
        )
        return ()
    found: list[tuple[str, str]] = []
    for index, item in enumerate(raw):
        entry = item if isinstance(item, dict) else {}
        container_id, ifname = entry.get("containerID"), entry.get("ifname")
        for name, value in (("containerID", container_id), ("ifname", ifname)):
            if not isinstance(value, str) or not value:
                issues.add(f"{key}[{index}].{name}", "required, a non-empty string")
        if isinstance(container_id, str) and isinstance(ifname, str):
            found.append((container_id, ifname))
    return tuple(found)
