"""The CNI protocol vocabulary: spec versions, error codes, errors, and results per version.

Results travel through the plugin as JSON objects in one canonical shape, the 1.1.0 result
(``interfaces``, ``ips``, ``routes``, ``dns``; ``ips`` without ``version``). They are converted
only when written out, by :func:`convert`, to the version the runtime asked for:

==========  ===============================================================================
version     what differs from the canonical 1.1.0 shape
==========  ===============================================================================
1.1.0       nothing
1.0.0       no ``interfaces[].mtu/socketPath/pciID``; routes carry only ``dst`` and ``gw``
0.4.0       as 1.0.0, plus ``ips[].version`` ("4" or "6")
0.3.0/0.3.1 as 0.4.0 (0.3.0's ``ip`` key was a spec typo; libcni and every runtime use ``ips``)
==========  ===============================================================================

Invariants:

* :data:`SUPPORTED_VERSIONS` is what VERSION prints and the only versions a command is served in.
* A converted result contains only keys its version defines, and never empty lists or ``dns``.
* This module imports only ``json``, ``re`` and ``typing``, so that VERSION, which needs nothing
  else, answers at interpreter start-up speed.
"""

from __future__ import annotations

import json
import re
from typing import Any

CURRENT_VERSION = "1.1.0"
SUPPORTED_VERSIONS: tuple[str, ...] = ("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

# The spec version that introduced each command; configs older than that are refused.
INTRODUCED_IN: dict[str, str] = {
    "ADD": "0.3.0",
    "DEL": "0.3.0",
    "VERSION": "0.3.0",
    "CHECK": "0.4.0",
    "GC": "1.1.0",
    "STATUS": "1.1.0",
}

# Well-known error codes (0-99 are reserved by the spec).
ERR_INCOMPATIBLE_VERSION = 1
ERR_UNSUPPORTED_FIELD = 2
ERR_UNKNOWN_CONTAINER = 3
ERR_INVALID_ENVIRONMENT = 4
ERR_IO = 5
ERR_DECODING = 6
ERR_INVALID_CONFIG = 7
ERR_TRY_AGAIN_LATER = 11
ERR_NOT_AVAILABLE = 50
ERR_LIMITED_CONNECTIVITY = 51

MAX_STDIN_BYTES = 1 << 20
"""The most stdin a command reads (1 MiB): network configurations are a few KiB, and anything
longer is refused with :func:`stdin_too_large` after reading one byte more, never in full."""

# Plugin-specific codes (100+). 999 is libcni's "internal error" and means a bug in the plugin.
ERR_AGENT = 100
"""romana-agent refused or failed the request and no well-known code says why."""
ERR_INTERFACE_EXISTS = 101
"""ADD found the interface already present in the container's network namespace."""
ERR_CHECK_FAILED = 102
"""CHECK found the endpoint missing or different from what ADD returned."""
ERR_INTERNAL = 999

_VERSION_RE = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")
_V1_0 = (1, 0, 0)
_V1_1 = (1, 1, 0)
_INTERFACE_KEYS_1_1 = ("mtu", "socketPath", "pciID")
_ROUTE_KEYS_1_0 = ("dst", "gw")

Result = dict[str, Any]
"""A CNI result as a JSON object; canonical results have the 1.1.0 shape."""


class CniError(Exception):
    """A failure as the runtime sees it: a code, a short message and optional details."""

    def __init__(self, code: int, msg: str, details: str = "") -> None:
        super().__init__(f"{msg}: {details}" if details else msg)
        self.code = code
        self.msg = msg
        self.details = details

    def to_json(self, version: str) -> dict[str, Any]:
        body: dict[str, Any] = {"cniVersion": version, "code": self.code, "msg": self.msg}
        if self.details:
            body["details"] = self.details
        return body


def stdin_too_large() -> CniError:
    """The error for stdin longer than :data:`MAX_STDIN_BYTES` (code 6, naming the cap)."""
    return CniError(
        ERR_DECODING,
        "network configuration too large",
        f"stdin holds more than {MAX_STDIN_BYTES} bytes (1 MiB), the most romana-cni reads; "
        "a CNI network configuration is a few KiB",
    )


def parse_version(text: object) -> tuple[int, int, int] | None:
    """``"1.0.0"`` → ``(1, 0, 0)``; None for anything that is not a plain x.y.z version."""
    if not isinstance(text, str):
        return None
    match = _VERSION_RE.fullmatch(text)
    if match is None:
        return None
    return int(match[1]), int(match[2]), int(match[3])


def choose_version(cni_version: object, cni_versions: object) -> str:
    """The spec version a request is served in.

    ``cniVersion`` wins when this plugin supports it: the runtime picked it and parses the answer
    in it. Only when it is missing or unknown (a runtime newer than this plugin) is the highest
    supported entry of ``cniVersions`` used; libcni reads a result in the version the result
    declares, so an older answer is still understood. Raises ``CniError`` code 1 otherwise.
    """
    if isinstance(cni_version, str) and cni_version in SUPPORTED_VERSIONS:
        return cni_version
    offered = cni_versions if isinstance(cni_versions, list) else []
    usable = [v for v in offered if isinstance(v, str) and v in SUPPORTED_VERSIONS]
    if usable:
        return max(usable, key=lambda v: parse_version(v) or (0, 0, 0))
    asked = repr(cni_version) if cni_version is not None else "missing"
    if offered:
        asked += f" (cniVersions {offered!r})"
    raise CniError(
        ERR_INCOMPATIBLE_VERSION,
        "incompatible CNI version",
        f"cniVersion {asked} is not supported; supported versions: "
        + ", ".join(SUPPORTED_VERSIONS),
    )


def allows(version: str, command: str) -> bool:
    """Whether a config of ``version`` may be used with ``command`` (CHECK ≥ 0.4.0, …)."""
    have = parse_version(version)
    need = parse_version(INTRODUCED_IN.get(command, CURRENT_VERSION))
    return have is not None and need is not None and have >= need


def stdin_version(stdin: bytes) -> object:
    """The ``cniVersion`` that stdin declares, or None when it declares none or is not JSON."""
    try:
        conf = json.loads(stdin or b"{}")
    except (ValueError, RecursionError):  # RecursionError: nested too deeply for json
        return None
    return conf.get("cniVersion") if isinstance(conf, dict) else None


def version_answer(stdin_version: object) -> dict[str, Any]:
    """What VERSION prints: the input's ``cniVersion`` echoed, and every supported version."""
    echoed = stdin_version if parse_version(stdin_version) is not None else CURRENT_VERSION
    return {"cniVersion": echoed, "supportedVersions": list(SUPPORTED_VERSIONS)}


def convert(result: Result, version: str) -> Result:
    """The canonical ``result`` in the shape of spec ``version`` (one of SUPPORTED_VERSIONS)."""
    target = parse_version(version)
    if target is None or version not in SUPPORTED_VERSIONS:
        raise ValueError(f"cannot convert a result to unsupported version {version!r}")
    out: Result = {"cniVersion": version}
    interfaces = [dict(i) for i in result.get("interfaces", [])]
    ips = [dict(i) for i in result.get("ips", [])]
    routes = [dict(r) for r in result.get("routes", [])]
    if target < _V1_1:
        for iface in interfaces:
            for key in _INTERFACE_KEYS_1_1:
                iface.pop(key, None)
        routes = [{k: r[k] for k in _ROUTE_KEYS_1_0 if k in r} for r in routes]
    if target < _V1_0:
        ips = [{"version": ip_version(ip["address"]), **ip} for ip in ips]
    if interfaces:
        out["interfaces"] = interfaces
    if ips:
        out["ips"] = ips
    if routes:
        out["routes"] = routes
    dns = result.get("dns")
    if isinstance(dns, dict) and any(dns.values()):
        out["dns"] = dict(dns)
    return out


def canonical(result: Result) -> Result:
    """A result of any supported version in the canonical 1.1.0 shape (drops ``ips[].version``)."""
    out: Result = {}
    for key in ("interfaces", "ips", "routes"):
        items = result.get(key)
        if isinstance(items, list) and items:
            out[key] = [dict(item) for item in items]
    for ip in out.get("ips", []):
        ip.pop("version", None)
    dns = result.get("dns")
    if isinstance(dns, dict) and any(dns.values()):
        out["dns"] = dict(dns)
    return out


def ip_version(address: str) -> str:
    """ "4" or "6" for an address in CIDR notation, as 0.x results spell ``ips[].version``."""
    return "6" if ":" in address else "4"
