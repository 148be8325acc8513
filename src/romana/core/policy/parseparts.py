"""Parse the parts Romana policies are made of: endpoints (targets and peers) and rules.

:class:`PartParser` reads one endpoint (``peer``, ``dest``, ``cidr``, ``tenant`` with its
``segment``, ``address_set``) or one rule (protocol, ports, port ranges, ICMP type and code)
into :mod:`romana.core.policy.model`; :mod:`romana.core.policy.parse` extends it to whole
policies and their clauses. Its checks of JSON types and of unknown keys serve both.

Invariants:

* A problem is added to the parser's :class:`Issues` with its field path
  (:func:`field_at`), never raised: one parse reports every problem of a document at once.
* A part with a problem parses to None and nothing is built from it; the input is never
  modified.
* Messages Romana v1 had (``No protocol specified.``, ``Invalid protocol: x.``, the invalid
  ports) are kept word for word.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from romana.core import addressing, names
from romana.core.errors import Issues
from romana.core.policy import model

_RULE_KEYS = frozenset(
    {"protocol", "ports", "port_ranges", "icmp_type", "icmp_code", "is_stateful"}
)
_TENANT_KEYS = ("tenant", "tenant_id", "tenant_external_id", "tenant_network_id")
_ENDPOINT_KEYS = frozenset(
    {"peer", "dest", "cidr", "address_set", "segment", "segment_id", "segment_network_id"}
    | set(_TENANT_KEYS)
)
_PROTOCOLS = frozenset(p.value for p in model.Protocol)
# Romana v1's ICMP code limits: type -> highest code (types not listed take code 0 only).
_ICMP_MAX_CODE = {3: 15, 4: 0, 5: 3, 11: 1}


def field_at(prefix: str, key: str | int) -> str:
    """The path of ``key`` (a member's name or an item's index) inside the field ``prefix``."""
    if isinstance(key, int):
        return f"{prefix}[{key}]"
    return f"{prefix}.{key}" if prefix else key


def is_int(value: object) -> bool:
    """Whether ``value`` is a JSON integer (a boolean is not)."""
    return isinstance(value, int) and not isinstance(value, bool)


class PartParser:
    """Reads endpoints and rules, adding every problem to ``issues``."""

    def __init__(self, issues: Issues) -> None:
        self.issues = issues

    def add(self, field: str, rule: str) -> None:
        self.issues.add(field, rule)

    def _count(self) -> int:
        return sum(1 for _ in self.issues)

    def _object(self, raw: object, at: str, keys: frozenset[str]) -> Mapping[str, Any] | None:
        if not isinstance(raw, Mapping):
            self.add(at, "must be an object")
            return None
        for key in sorted(set(raw) - keys, key=str):
            self.add(field_at(at, str(key)), "unknown key")
        return raw

    def _list(self, raw: object, at: str, what: str) -> Sequence[Any] | None:
        if not isinstance(raw, list):
            self.add(at, f"must be a list of {what}")
            return None
        if not raw:
            self.add(at, f"must list at least one of {what}")
        return raw

    def _string(self, raw: Mapping[str, Any], key: str, at: str) -> str | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.add(field_at(at, key), "must be a non-empty string")
            return None
        return value

    def _choice(self, raw: Mapping[str, Any], key: str, at: str, allowed: tuple[str, ...]) -> str:
        value = raw.get(key)
        if value is None or value == "":
            return ""
        if not isinstance(value, str) or value.lower() not in allowed:
            self.add(field_at(at, key), f"must be one of {', '.join(allowed)}")
            return ""
        return value.lower()

    def endpoint(self, raw: object, at: str, *, target: bool) -> model.Endpoint | None:
        obj = self._object(raw, at, _ENDPOINT_KEYS)
        if obj is None:
            return None
        before = self._count()
        peer = self._choice(obj, "peer", at, ("any", "host", "local"))
        dest = self._choice(obj, "dest", at, ("local", "host"))
        cidr = self._cidr(obj, at)
        address_set = self._string(obj, "address_set", at)
        tenant = self._tenant(obj, at)
        segment = self._segment(obj, at)
        given = [k for k in ("peer", "dest", "cidr", "address_set") if obj.get(k) not in (None, "")]
        given += ["tenant"] if any(obj.get(k) not in (None, "") for k in _TENANT_KEYS) else []
        if segment is not None and "tenant" not in given:
            self.add(at, "a segment needs a tenant")
        if target and given == ["address_set", "tenant"] and segment is None:
            # A set narrowed to one tenant: its members there (see model.Endpoint).
            given = ["address_set"]
        if len(given) > 1:
            self.add(
                at,
                f"give only one of peer, dest, cidr, tenant, address_set (got {', '.join(given)})",
            )
        elif not given and segment is None:
            self.add(
                at,
                "give one of dest, tenant, address_set"
                if target
                else "give one of peer, cidr, tenant, address_set",
            )
        if target and ("peer" in given or "cidr" in given):
            self.add(at, "applied_to takes dest, tenant (with segment) or address_set")
        if not target and "dest" in given:
            self.add(field_at(at, "dest"), "dest is only meaningful in applied_to")
        if self._count() != before:
            return None
        return model.Endpoint(
            peer=model.Peer(peer) if peer else None,
            dest=model.Dest(dest) if dest else None,
            cidr=cidr,
            tenant=tenant,
            segment=segment,
            address_set=address_set,
        )

    def _cidr(self, obj: Mapping[str, Any], at: str) -> addressing.IPNetwork | None:
        value = obj.get("cidr")
        if value is None or value == "":
            return None
        try:
            return ipaddress.ip_network(value, strict=True)
        except (TypeError, ValueError) as exc:
            self.add(
                field_at(at, "cidr"), f"must be an IPv4 or IPv6 network with no host bits ({exc})"
            )
            return None

    def _number(self, obj: Mapping[str, Any], key: str, at: str) -> int | None:
        value = obj.get(key)
        if value is None:
            return None
        if not is_int(value) or value < 0:
            self.add(field_at(at, key), "must be a non-negative integer")
            return None
        return int(value)

    def _name_or_number(
        self, obj: Mapping[str, Any], at: str, name_key: str, id_key: str, number_key: str
    ) -> tuple[str | None, int | None]:
        name = self._name(obj, name_key, at)
        number = self._number(obj, number_key, at)
        raw_id = obj.get(id_key)
        if isinstance(raw_id, str) and raw_id:
            if not names.matches(names.NAME_RE, raw_id):
                # Only a name tenants and segments can have may reach every host's view.
                self.add(field_at(at, id_key), names.NAME_RULE)
            elif name is not None and name != raw_id:
                self.add(field_at(at, id_key), f"names {raw_id!r} but {name_key} says {name!r}")
            name = raw_id
        elif raw_id is not None:
            as_number = self._number(obj, id_key, at)
            if as_number is not None and number is not None and as_number != number:
                self.add(field_at(at, id_key), f"is {as_number} but {number_key} says {number}")
            number = as_number if as_number is not None else number
        return name, number

    def _name(self, obj: Mapping[str, Any], key: str, at: str) -> str | None:
        """A tenant's or segment's name (:data:`names.NAME_RULE`): a name no tenant or
        segment can have would match nothing, and would be shown as it is wherever the
        policy is listed."""
        value = self._string(obj, key, at)
        if value is not None and not names.matches(names.NAME_RE, value):
            self.add(field_at(at, key), names.NAME_RULE)
        return value

    def _tenant(self, obj: Mapping[str, Any], at: str) -> model.TenantRef | None:
        name, number = self._name_or_number(obj, at, "tenant", "tenant_id", "tenant_network_id")
        external_id = self._name(obj, "tenant_external_id", at)
        if name is None and number is None and external_id is None:
            return None
        return model.TenantRef(name=name, external_id=external_id, number=number)

    def _segment(self, obj: Mapping[str, Any], at: str) -> model.SegmentRef | None:
        name, number = self._name_or_number(obj, at, "segment", "segment_id", "segment_network_id")
        if name is not None and number is not None:
            self.add(at, "name the segment or give its number, not both")
        if name is None and number is None:
            return None
        return model.SegmentRef(name=name, number=number)

    def rule(self, raw: object, at: str) -> model.Rule | None:
        obj = self._object(raw, at, _RULE_KEYS)
        if obj is None:
            return None
        before = self._count()
        protocol = self._protocol(obj, at)
        ports = self._ports(obj, at)
        ranges = self._port_ranges(obj, at)
        icmp_type = self._number(obj, "icmp_type", at)
        icmp_code = self._number(obj, "icmp_code", at)
        if "is_stateful" in obj and not isinstance(obj["is_stateful"], bool):
            self.add(field_at(at, "is_stateful"), "must be true or false")
        if protocol is not None:
            self._protocol_fits(obj, at, protocol, icmp_type, icmp_code)
        if self._count() != before or protocol is None:
            return None
        return model.Rule(
            protocol=protocol,
            ports=tuple(sorted(set(ports))),
            port_ranges=tuple(sorted(set(ranges), key=lambda r: (r.lo, r.hi))),
            icmp_type=icmp_type,
            icmp_code=icmp_code,
        )

    def _protocol(self, obj: Mapping[str, Any], at: str) -> model.Protocol | None:
        value = obj.get("protocol")
        if value is None or value == "":
            self.add(field_at(at, "protocol"), "No protocol specified.")
            return None
        if not isinstance(value, str) or value.lower() not in _PROTOCOLS:
            self.add(field_at(at, "protocol"), f"Invalid protocol: {value}.")
            return None
        return model.Protocol(value.lower())

    def _optional_list(self, obj: Mapping[str, Any], key: str, at: str, rule: str) -> list[Any]:
        """``obj[key]`` when it is a list; [] when absent, and [] with ``rule`` when not a list."""
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.add(field_at(at, key), rule)
            return []
        return value

    def _ports(self, obj: Mapping[str, Any], at: str) -> list[int]:
        value = self._optional_list(obj, "ports", at, "must be a list of port numbers")
        bad = [p for p in value if not is_int(p) or not 0 <= p <= 65535]
        if bad:
            listed = ", ".join(str(p) for p in bad)
            self.add(field_at(at, "ports"), f"The following ports are invalid: {listed}.")
        return [p for p in value if p not in bad]

    def _port_ranges(self, obj: Mapping[str, Any], at: str) -> list[model.PortRange]:
        value = self._optional_list(obj, "port_ranges", at, "must be a list of [lo, hi] pairs")
        good: list[model.PortRange] = []
        bad: list[str] = []
        for item in value:
            pair = item if isinstance(item, list) and len(item) == 2 else None
            if pair and all(is_int(p) for p in pair) and 0 <= pair[0] <= pair[1] <= 65535:
                good.append(model.PortRange(pair[0], pair[1]))
            else:
                bad.append("-".join(str(p) for p in pair) if pair else repr(item))
        if bad:
            listed = ", ".join(bad)
            self.add(
                field_at(at, "port_ranges"), f"The following port ranges are invalid: {listed}."
            )
        return good

    def _protocol_fits(
        self,
        obj: Mapping[str, Any],
        at: str,
        protocol: model.Protocol,
        icmp_type: int | None,
        icmp_code: int | None,
    ) -> None:
        has_ports = bool(obj.get("ports")) or bool(obj.get("port_ranges"))
        if has_ports and protocol not in model.PORT_PROTOCOLS:
            self.add(at, f"a {protocol} rule takes no ports (ports need tcp, udp or sctp)")
        if protocol not in model.ICMP_PROTOCOLS:
            for key in ("icmp_type", "icmp_code"):
                if key in obj:
                    self.add(field_at(at, key), f"only icmp and icmpv6 rules take {key}")
            return
        if icmp_code is not None and icmp_type is None:
            self.add(field_at(at, "icmp_code"), "needs icmp_type")
        if icmp_type is not None and icmp_type > 255:
            self.add(field_at(at, "icmp_type"), "must be at most 255")
        if icmp_code is None or icmp_type is None:
            return
        limit = 255 if protocol is model.Protocol.ICMPV6 else _ICMP_MAX_CODE.get(icmp_type, 0)
        if icmp_code > limit:
            self.add(
                field_at(at, "icmp_code"), f"must be at most {limit} for ICMP type {icmp_type}"
            )
