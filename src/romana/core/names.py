"""Names and labels: the syntax every layer checks, and how names compare.

Each kind of name has one pattern, kept here as a string (``*_PATTERN``, what the OpenAPI
document states: :mod:`romana.wire.rest` imports these strings, so the schema cannot drift
from the server) and compiled (``*_RE``), and one rule, the text every refusal of it quotes.
:data:`RULES` maps a pattern to its rule, so a refusal by the API's schema reads the same as
one by the services.

* **DNS-1123 label** (``[a-z0-9]([-a-z0-9]*[a-z0-9])?``, at most 63): network names.
* **Label keys and values**, Kubernetes' syntax: a key is an optional DNS-1123 subdomain
  prefix (at most 253) and ``/``, then a name of at most 63 letters, digits, ``-``, ``_``,
  ``.``, starting and ending alphanumeric; a value is empty or such a name. Host labels and
  the assignments of topology groups (which match host labels) follow it.
* **Tenant and segment names**, **host names**: romana's own rules, unchanged from earlier
  releases (host names allow the ``_`` and upper case that DNS-1123 does not).

Invariants:

* Names are looked up exactly, in the spelling the user chose, but are unique ignoring case:
  :func:`clash` is the one comparison, and a refusal names the object that exists.
* A pattern needs no lookaround, so property-based tests can generate from it; where its
  length limit cannot be said in the pattern (a label key's prefix), the schema states the
  whole key's maximum and the server checks the part (:func:`check_label_key`).
* The validating constructors (:func:`host_name`, :func:`tenant_name`, :func:`segment_name`,
  :func:`network_name`) are where a user's string becomes one of the identifier types of
  :mod:`romana.core.identifiers`; they raise InvalidInput naming the field and the rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from romana.core.errors import Issues
from romana.core.identifiers import HostName, NetworkName, SegmentName, TenantName

_LABEL = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_LABEL_NAME = r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?"

DNS_LABEL_PATTERN = rf"^{_LABEL}$"
DNS_LABEL_MAX = 63
DNS_LABEL_RULE = (
    "must be a DNS-1123 label: 1-63 lower-case letters, digits and '-', starting and ending "
    "with a letter or digit"
)
NETWORK_PATTERN, NETWORK_MAX, NETWORK_RULE = DNS_LABEL_PATTERN, DNS_LABEL_MAX, DNS_LABEL_RULE

LABEL_PREFIX_MAX = 253
LABEL_NAME_MAX = 63
LABEL_KEY_MAX = LABEL_PREFIX_MAX + 1 + LABEL_NAME_MAX
LABEL_KEY_PATTERN = rf"^({_LABEL}(\.{_LABEL})*/)?{_LABEL_NAME}$"
LABEL_KEY_RULE = (
    "must be a Kubernetes label key: an optional DNS-1123 subdomain prefix of at most 253 "
    "characters and '/', then a name of 1-63 letters, digits, '-', '_', '.', starting and "
    "ending with a letter or digit"
)
LABEL_VALUE_PATTERN = rf"^({_LABEL_NAME})?$"
LABEL_VALUE_MAX = 63
LABEL_VALUE_RULE = (
    "must be a Kubernetes label value: empty, or 1-63 letters, digits, '-', '_', '.', "
    "starting and ending with a letter or digit"
)

NAME_PATTERN = r"^[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?$"
NAME_MAX = 63
NAME_RULE = (
    "must be 1-63 characters of letters, digits, '_', '.', '-', starting and ending alphanumeric"
)

HOST_PATTERN = r"^[A-Za-z0-9]([A-Za-z0-9_.-]{0,251}[A-Za-z0-9])?$"
HOST_MAX = 253
HOST_RULE = (
    "must be 1-253 letters, digits, '_', '.', '-', starting and ending with a letter or digit"
)

USERNAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_.@-]{0,63}$"
USERNAME_MAX = 64
USERNAME_RULE = "must be 1-64 characters of letters, digits and _ . @ -, starting alphanumeric"

URL_PATTERN = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"
URL_MAX = 2048
URL_RULE = "must be an absolute http:// or https:// URL"

TEXT_PATTERN = r"^[ -~]*$"
TEXT_RULE = (
    "must be printable ASCII (space to '~'): no control characters (newlines, terminal "
    "escapes), which readers would print as they are"
)
"""Free text an agent reports (BIRD's words, drop reasons), shown by the CLI and web view."""

DNS_LABEL_RE = re.compile(DNS_LABEL_PATTERN)
NETWORK_RE = DNS_LABEL_RE
LABEL_KEY_RE = re.compile(LABEL_KEY_PATTERN)
LABEL_VALUE_RE = re.compile(LABEL_VALUE_PATTERN)
NAME_RE = re.compile(NAME_PATTERN)
HOST_RE = re.compile(HOST_PATTERN)
_UNPRINTABLE = re.compile(r"[^ -~]")

RULES: dict[str, str] = {
    DNS_LABEL_PATTERN: DNS_LABEL_RULE,
    LABEL_KEY_PATTERN: LABEL_KEY_RULE,
    LABEL_VALUE_PATTERN: LABEL_VALUE_RULE,
    NAME_PATTERN: NAME_RULE,
    HOST_PATTERN: HOST_RULE,
    USERNAME_PATTERN: USERNAME_RULE,
    URL_PATTERN: URL_RULE,
    TEXT_PATTERN: TEXT_RULE,
}
"""Pattern → the rule refusals quote; other modules add theirs with :func:`register`."""


def register(pattern: str, rule: str) -> str:
    """Record the rule of a pattern defined elsewhere (allocation keys),
    so a schema refusal of it quotes that rule; returns ``pattern``."""
    RULES[pattern] = rule
    return pattern


def printable(text: str, limit: int) -> str:
    """``text`` made to follow :data:`TEXT_RULE` and cut to ``limit`` characters: every
    character outside it becomes ``?``. What an agent does to what it reads before
    reporting it, so that one odd byte never keeps a whole report out."""
    return _UNPRINTABLE.sub("?", text[:limit])


def matches(pattern: re.Pattern[str], value: object) -> bool:
    """Whether ``value`` is a string ``pattern`` matches in full (a trailing newline too
    would satisfy ``$`` alone)."""
    return isinstance(value, str) and pattern.fullmatch(value) is not None


def check_network(value: object, where: str, issues: Issues) -> bool:
    """A network name: a DNS-1123 label."""
    if matches(NETWORK_RE, value):
        return True
    issues.add(where, f"{value!r} {NETWORK_RULE}")
    return False


def _checked(pattern: re.Pattern[str], rule: str, value: object, where: str) -> str:
    issues = Issues()
    if not matches(pattern, value):
        issues.add(where, rule)
    issues.raise_if_any()
    assert isinstance(value, str)
    return value


def host_name(value: object, where: str = "host") -> HostName:
    """``value`` as a :data:`HostName`; InvalidInput at ``where`` unless it is one."""
    return HostName(_checked(HOST_RE, HOST_RULE, value, where))


def tenant_name(value: object, where: str = "tenant") -> TenantName:
    """``value`` as a :data:`TenantName`; InvalidInput at ``where`` unless it is one."""
    return TenantName(_checked(NAME_RE, NAME_RULE, value, where))


def segment_name(value: object, where: str = "segment") -> SegmentName:
    """``value`` as a :data:`SegmentName`; InvalidInput at ``where`` unless it is one."""
    return SegmentName(_checked(NAME_RE, NAME_RULE, value, where))


def network_name(value: object, where: str = "network") -> NetworkName:
    """``value`` as a :data:`NetworkName`; InvalidInput at ``where`` unless it is one."""
    return NetworkName(_checked(NETWORK_RE, NETWORK_RULE, value, where))


def check_label_key(key: object, where: str, issues: Issues) -> bool:
    if matches(LABEL_KEY_RE, key):
        assert isinstance(key, str)
        prefix, slash, _ = key.rpartition("/")
        if not slash or len(prefix) <= LABEL_PREFIX_MAX:
            return True
    issues.add(where, f"key {key!r} {LABEL_KEY_RULE}")
    return False


def check_label_value(value: object, where: str, issues: Issues) -> bool:
    if matches(LABEL_VALUE_RE, value):
        return True
    issues.add(where, f"value {value!r} {LABEL_VALUE_RULE}")
    return False


def check_labels(raw: Mapping[object, object], where: str, issues: Issues) -> dict[str, str]:
    """The pairs of ``raw`` that are valid labels; one issue per bad key or value, the key's
    at ``where``, the value's at ``where.key``."""
    good: dict[str, str] = {}
    for key, value in raw.items():
        if not check_label_key(key, where, issues):
            continue
        assert isinstance(key, str)
        if check_label_value(value, f"{where}.{key}", issues):
            assert isinstance(value, str)
            good[key] = value
    return good


def clash(name: str, existing: Iterable[str]) -> str | None:
    """The name in ``existing`` that ``name`` equals ignoring case (itself when present),
    or None: a new object of that name would be a second one in all but case."""
    folded = name.casefold()
    same = None
    for other in existing:
        if other == name:
            return other
        if same is None and other.casefold() == folded:
            same = other
    return same
