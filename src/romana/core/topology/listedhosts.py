"""Read the hosts a topology document lists: each host element, the hosts of one leaf, and
the host's one identity across the document's trees.

:class:`HostLister` keeps the hosts and underlay addresses seen so far and adds every problem
to its :class:`Issues`; :mod:`romana.core.topology.parse` extends it to whole documents (see
that module for the document's shape and rules).

Invariants:

* A host listed in several trees is one host: the same ``ip``, ``ip6`` and labels in each; a
  name listed twice in one tree, or a name or underlay address of two hosts, is refused.
* Host names are unique ignoring case, and underlay addresses are none :mod:`.underlay`
  refuses, unless the lister reads a stored document (``strict`` false).
* A listed host takes its ``index`` inside its leaf's indices, or the lowest index of the
  leaf no other listed host took, in list order; a host whose name, address or identity is
  refused is left out of the leaf.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from romana.core import addressing, names
from romana.core.errors import Issues
from romana.core.identifiers import HostName
from romana.core.topology import bgp, model, networks, underlay

_HOST_KEYS = frozenset({"name", "ip", "ip6", "labels", "assignment", "index", "cidr", "asn"})


@dataclass(slots=True)
class _Listed:
    host: model.Host
    field: str
    tree: int


@dataclass(slots=True)
class HostLister:
    """Reads listed hosts, adding every problem to ``issues``; see the module docstring."""

    strict: bool = True
    """The rules of :mod:`romana.core.names` (see :func:`romana.core.topology.parse.parse`)."""
    issues: Issues = field(default_factory=Issues)
    declared: networks.Declared = field(default_factory=networks.Declared)
    hosts: dict[str, _Listed] = field(default_factory=dict)
    ips: dict[addressing.IPAddress, str] = field(default_factory=dict)

    def members(
        self,
        raw: Sequence[object],
        where: str,
        path: str,
        first: int,
        bits: int,
        required: model.Labels,
        t: int,
    ) -> tuple[model.Member, ...]:
        capacity = 1 << bits
        if len(raw) > capacity:
            self.issues.add(
                where,
                f"{len(raw)} hosts do not fit: the group has {bits} topology bits "
                f"({capacity} host indices) (group too small for the layout)",
            )
        listed: list[tuple[HostName, int | None]] = []
        taken: set[int] = set()
        for k, item in enumerate(raw):
            at = f"{where}[{k}]"
            host, index = self.host(item, at, t)
            if host is None:
                continue
            if not model.satisfies(host.labels, required):
                self.issues.add(
                    at,
                    f"host {host.name!r} lacks labels {show_labels(required)} that group "
                    f"{path or '(root)'} assigns; give the host those labels",
                )
            if index is not None:
                if not first <= index < first + capacity:
                    self.issues.add(
                        f"{at}.index",
                        f"{index} is outside the group's indices {first}..{first + capacity - 1}",
                    )
                elif index in taken:
                    self.issues.add(f"{at}.index", f"index {index} is taken by another host")
                taken.add(index)
            listed.append((host.name, index))
        free = (i for i in range(first, first + capacity) if i not in taken)
        return tuple(
            model.Member(name, index if index is not None else next(free, -1))
            for name, index in listed
        )

    def host(self, raw: object, where: str, t: int) -> tuple[model.Host | None, int | None]:
        doc = model.check_object(raw, where, _HOST_KEYS, self.issues)
        if "groups" in doc:
            self.issues.add(f"{where}.groups", "an element with an ip is a host: no groups")
        name = doc.get("name")
        ok = True
        if not names.matches(model.HOST_NAME_RE, name):
            self.issues.add(f"{where}.name", model.HOST_NAME_RULE)
            ok = False
        ip = model.parse_ip(doc.get("ip"))
        if ip is None:
            self.issues.add(f"{where}.ip", f"{doc.get('ip')!r} is not an IPv4 or IPv6 address")
            ok = False
        ip6 = model.check_ip6(doc.get("ip6"), ip, f"{where}.ip6", self.issues)
        if doc.get("ip6") is not None and ip6 is None:
            ok = False
        if self.strict:
            layouts = [n.layout for n in self.declared.valid.values()]
            underlay.check(ip, f"{where}.ip", layouts, self.issues)
            underlay.check(ip6, f"{where}.ip6", layouts, self.issues)
        if "labels" in doc and "assignment" in doc:
            self.issues.add(where, "give labels (or v2's assignment), not both")
        labels = model.check_labels(
            doc.get("labels", doc.get("assignment")),
            f"{where}.labels",
            self.issues,
            syntax=self.strict,
        )
        index = doc.get("index")
        if index is not None and (not isinstance(index, int) or isinstance(index, bool)):
            self.issues.add(f"{where}.index", "must be an integer")
            index = None
        if not ok:
            return None, None
        asn = bgp.parse_asn(doc.get("asn"), f"{where}.asn", self.issues)
        assert isinstance(name, str) and ip is not None
        host = model.Host(HostName(name), ip, labels, ip6, asn)
        if not self.register(host, where, t):
            return None, None
        return host, index

    def register(self, host: model.Host, where: str, t: int) -> bool:
        seen = self.hosts.get(host.name)
        same = names.clash(host.name, self.hosts) if self.strict else None
        if seen is None and same is not None:
            listed = self.hosts[same].field
            self.issues.add(
                f"{where}.name",
                f"host {host.name!r} differs from host {same!r} at {listed} only in case; "
                "host names are unique ignoring case",
            )
            return False
        if seen is not None:
            if seen.tree == t:
                self.issues.add(f"{where}.name", f"duplicate host name (also at {seen.field})")
                return False
            if seen.host != host:
                self.issues.add(
                    where,
                    f"host {host.name!r} differs from its listing at {seen.field}; "
                    "a host has one ip, one ip6 and one set of labels",
                )
                return False
            seen.tree = t
            return True
        clash = False
        for key, address in (("ip", host.ip), ("ip6", host.ip6)):
            owner = None if address is None else self.ips.get(address)
            if owner is not None:
                self.issues.add(
                    f"{where}.{key}",
                    f"duplicate host ip {address} (host {owner!r} at {self.hosts[owner].field})",
                )
                clash = True
        if clash:
            return False
        self.hosts[host.name] = _Listed(host, where, t)
        for address in host.addresses:
            self.ips[address] = host.name
        return True


def show_labels(labels: model.Labels) -> str:
    """``labels`` as a refusal lists them (``k=v, k=v``, or ``(none)``)."""
    return ", ".join(f"{k}={v}" for k, v in labels) or "(none)"
