"""Render a :class:`Ruleset` for iptables + ipset: the compatibility backend.

Output, all of it text for the adapter to feed to the tools, in this order:

1. ``ipsets`` — ``ipset restore`` input. Each set is rebuilt beside itself and swapped in:
   ``create NAME ... -exist`` (makes sure it exists), ``create NAME~``, ``flush NAME~``,
   ``add NAME~ ...``, ``swap NAME~ NAME``, ``destroy NAME~``. Rules referring to ``NAME`` never
   see a partial set, and only our names (``ROMANA-…``) are touched. ``maxelem`` is one fixed
   value so that ``create -exist`` keeps matching the set after swaps;
2. ``filter_v4`` / ``filter_v6`` — ``iptables-restore --noflush`` / ``ip6tables-restore
   --noflush`` input. Declaring ``:ROMANA-X - [0:0]`` creates or flushes that chain only, so a
   restore rewrites exactly our chains in one commit and leaves every other chain alone;
3. ``nat_v4`` / ``nat_v6`` — the same for the NAT chains, in table ``nat`` (empty when the
   ruleset has none);
4. ``hooks`` — the jumps from the built-in chains (``FORWARD`` → ``ROMANA-FORWARD``, ...;
   ``PREROUTING`` and ``POSTROUTING`` of table ``nat`` for the NAT chains).
   A restore cannot add a rule idempotently (``-A`` would duplicate it and ``-D`` fails when
   it is absent), so the adapter ensures each jump with ``--check`` and, if missing,
   ``--insert <builtin> 1``: first in the built-in chain, as Calico does, because in iptables
   an ``ACCEPT`` ends the built-in chain and our verdict on our endpoints' traffic must not
   be pre-empted by rules that know nothing of tenants.

Names are the IR names upper-cased (``romana-forward`` → ``ROMANA-FORWARD``); the IR
guarantees that this is one-to-one and within iptables' 28 and ipset's 31 characters.
Non-contiguous masks are written ``--destination 10.0.16.0/255.0.240.0``; a dispatch becomes
one rule per entry, and so does a match on an interface set (ipset holds no interface names):
one rule per name, ``--in-interface tap0123abcd-ef`` without the ``+`` of a prefix, none for
an empty set. Every flag is long-form so that golden files read like the dataplane.

Address rewrites are ``--jump MASQUERADE``, ``--jump SNAT --to-source A`` and ``--jump DNAT
--to-destination A``. A dnat to n addresses becomes n rules in a row, as kube-proxy writes
them: the first matches with ``--match statistic --mode random --probability 1/n``, the next
with 1/(n-1) of what is left, the last always; each address gets 1/n of the new flows.
A :class:`ruleset.LocalDestination` is ``--match addrtype --dst-type LOCAL``; a
:class:`ruleset.OriginalDestination` is ``--match conntrack --ctorigdst 203.0.113.5``, in the
restore input of that address's family only.

An attributed drop (:attr:`ruleset.Rule.drop`) is preceded, expansion by expansion, by the
same matches with ``--match limit --limit 10/sec --limit-burst 20 --match hashlimit
--hashlimit-upto 100/sec --hashlimit-burst 200 --hashlimit-name romana-drop-log --match nfacct
--nfacct-name romana-logged-<id> --jump NFLOG --nflog-group 7 --nflog-prefix
romana-drop:<id>``, and the drop is ``--match nfacct --nfacct-name romana-dropped-<id> --jump
DROP``: the packets logged to netlink log group 7,
at most at the rule's own rate (``limit``, :data:`dropreasons.DROP_LOG_RATE`) and at the
host's (:data:`dropreasons.DROP_LOG_HOST_RATE`). The host's bound is a ``hashlimit`` without
``--hashlimit-mode``: every packet falls in its one bucket, and every rule naming the same
``--hashlimit-name`` shares that bucket, whichever chain it is in, across restores — the
iptables spelling of the named ``limit`` object of the nftables backend. The kernel keeps a
hashlimit table per family, so IPv4 and IPv6 have a bucket each: together they log at most
twice the host's rate. A rule's own counters start from zero whenever a restore rewrites its
chain, so the counts are kept in kernel accounting objects instead
(:mod:`romana.dataplane.nfacct`), two per reason, named in ``accounts`` for the backend to
make before the rules that use them: the ``nfacct`` match adds every packet that reaches it
(after the limits, so only those logged) and outlives any restore. ``drop_log=False`` leaves
the NFLOG rules out; the drops are counted all the same.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from romana.core import addressing, dropreasons, kernelnames, ruleset
from romana.core.errors import InvalidInput, Unsupported
from romana.core.render import nftables

OWNED_PREFIX = kernelnames.IPTABLES_PREFIX
TEMPORARY_SUFFIX = kernelnames.IPSET_TEMPORARY_SUFFIX
MAXELEM = 1 << 20
_MULTIPORT_SLOTS = 15  # a range takes two of multiport's fifteen slots
_SIDE = {ruleset.Side.SRC: "source", ruleset.Side.DST: "destination"}
_SET_SIDE = {ruleset.Side.SRC: "src", ruleset.Side.DST: "dst"}
_INTERFACE = {ruleset.Side.SRC: "--in-interface", ruleset.Side.DST: "--out-interface"}
_TABLE = {ruleset.ChainKind.FILTER: "filter", ruleset.ChainKind.NAT: "nat"}
_PROTOCOL = {
    ruleset.Proto.TCP: "tcp",
    ruleset.Proto.UDP: "udp",
    ruleset.Proto.SCTP: "sctp",
    ruleset.Proto.ICMP: "icmp",
    ruleset.Proto.ICMPV6: "ipv6-icmp",
}


@dataclass(frozen=True, slots=True)
class HookJump:
    """The jump from a built-in chain of ``table`` to ours; the adapter runs these argv tails."""

    builtin: str
    chain: str
    table: str = "filter"

    def _table_args(self) -> tuple[str, ...]:
        # filter is the tools' default table, and its jumps read as they always have
        return () if self.table == "filter" else ("--table", self.table)

    def check_args(self) -> tuple[str, ...]:
        return (*self._table_args(), "--check", self.builtin, "--jump", self.chain)

    def insert_args(self) -> tuple[str, ...]:
        return (*self._table_args(), "--insert", self.builtin, "1", "--jump", self.chain)

    def delete_args(self) -> tuple[str, ...]:
        return (*self._table_args(), "--delete", self.builtin, "--jump", self.chain)


@dataclass(frozen=True, slots=True)
class RenderedIptables:
    """``chains``: our filter chains; ``nat_chains``: our NAT chains (table ``nat``)."""

    filter_v4: str
    filter_v6: str
    ipsets: str
    hooks: tuple[HookJump, ...] = ()
    chains: tuple[str, ...] = ()
    sets: tuple[str, ...] = ()
    nat_v4: str = ""
    nat_v6: str = ""
    nat_chains: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    """The accounting objects the rules count drops in (they must exist first)."""


def name(ir_name: str) -> str:
    """The iptables/ipset spelling of an IR name."""
    return kernelnames.iptables_name(ir_name)


def render(rs: ruleset.Ruleset, *, drop_log: bool = True) -> RenderedIptables:
    """The restore inputs and hook jumps for ``rs``; :class:`Unsupported` if inexpressible."""
    nat = any(c.kind is ruleset.ChainKind.NAT for c in rs.chains)
    return RenderedIptables(
        filter_v4=_table(rs, 4, ruleset.ChainKind.FILTER, drop_log),
        filter_v6=_table(rs, 6, ruleset.ChainKind.FILTER, drop_log),
        ipsets="".join(_ipset(s) for s in rs.sets),
        hooks=tuple(
            HookJump(c.hook.value.upper(), name(c.name), _TABLE[c.kind])
            for c in rs.hooked
            if c.hook
        ),
        chains=tuple(name(c.name) for c in rs.chains if c.kind is ruleset.ChainKind.FILTER),
        sets=tuple(name(s.name) for s in rs.sets),
        nat_v4=_table(rs, 4, ruleset.ChainKind.NAT) if nat else "",
        nat_v6=_table(rs, 6, ruleset.ChainKind.NAT) if nat else "",
        nat_chains=tuple(name(c.name) for c in rs.chains if c.kind is ruleset.ChainKind.NAT),
        accounts=_accounts(rs, drop_log),
    )


def _accounts(rs: ruleset.Ruleset, drop_log: bool) -> tuple[str, ...]:
    found = {r.drop for c in rs.chains for r in c.rules if r.drop is not None}
    pairs = [dropreasons.account_names(reason) for reason in found]
    return tuple(sorted(n for dropped, logged in pairs for n in (dropped, logged)[: 1 + drop_log]))


def render_removal(chains: Iterable[str], sets: Iterable[str]) -> RenderedIptables:
    """Restore inputs that flush and delete the given chains and destroy the given sets.

    Apply after removing any hook jump to these chains; sets go after the chains that use
    them. Only our names are accepted.
    """
    chains, sets = sorted(set(chains)), sorted(set(sets))
    foreign = [n for n in (*chains, *sets) if not n.startswith(OWNED_PREFIX)]
    if foreign:
        raise InvalidInput(f"refusing to remove objects that are not ours: {', '.join(foreign)}")
    lines = ["*filter", *(f":{c} - [0:0]" for c in chains), *(f"-X {c}" for c in chains)]
    text = "\n".join([*lines, "COMMIT"]) + "\n"
    return RenderedIptables(
        filter_v4=text,
        filter_v6=text,
        ipsets="".join(f"destroy {s}\n" for s in sets),
        chains=tuple(chains),
        sets=tuple(sets),
    )


def _table(
    rs: ruleset.Ruleset, version: int, kind: ruleset.ChainKind, drop_log: bool = True
) -> str:
    devices = {s.name: s.elements for s in rs.interface_sets}
    chains = [c for c in rs.chains if c.kind is kind]
    lines = [f"*{_TABLE[kind]}"]
    lines += [f":{name(c.name)} - [0:0]" for c in chains]
    for chain in chains:
        for rule in chain.rules:
            if rule.version in (None, version):
                bodies = _rule(rule, chain.name, devices, drop_log)
                lines += [f"-A {name(chain.name)} {body}" for body in bodies]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def _address(match: addressing.Match) -> str:
    if match.is_prefix:
        return str(match.as_network())
    return f"{match.value_address}/{match.mask_address}"


def _rule(
    rule: ruleset.Rule,
    chain: str,
    devices: Mapping[str, tuple[str, ...]],
    drop_log: bool = True,
) -> list[str]:
    """One rule body per expansion (dispatch entries, interface names, multiport chunks)."""
    verdict = rule.verdict
    if isinstance(verdict, ruleset.Dispatch):
        expanded = []
        for value, target in verdict.targets:
            match = addressing.Match(verdict.version, value, verdict.mask)
            expanded += _rule(
                ruleset.Rule(
                    (*rule.matches, ruleset.Address(verdict.side, match)),
                    ruleset.jump(target),
                    rule.comment,
                ),
                chain,
                devices,
                drop_log,
            )
        return expanded
    head: list[str] = []
    tail: list[str] = []
    port_chunks: list[str] = [""]
    device_chunks: list[str] = [""]
    sides: set[ruleset.Side] = set()
    proto = next((m.protocol for m in rule.matches if isinstance(m, ruleset.Protocol)), None)
    for m in rule.matches:
        if isinstance(m, ruleset.Interface):
            head.append(f"{_INTERFACE[m.side]} {m.prefix}+")
        elif isinstance(m, ruleset.InInterfaces):
            device_chunks = [f"{_INTERFACE[m.side]} {d}" for d in devices[m.set_name]]
        elif isinstance(m, ruleset.Address):
            if m.side in sides:
                raise Unsupported(f"chain {chain}: iptables takes one {_SIDE[m.side]} per rule")
            sides.add(m.side)
            head.append(f"--{_SIDE[m.side]} {_address(m.match)}")
        elif isinstance(m, ruleset.Protocol):
            head.append(f"--protocol {_PROTOCOL[m.protocol]}")
        elif isinstance(m, ruleset.InSet):
            tail.append(f"--match set --match-set {name(m.set_name)} {_SET_SIDE[m.side]}")
        elif isinstance(m, ruleset.Ports):
            assert proto is not None
            port_chunks = _ports(proto, m)
        elif isinstance(m, ruleset.Icmp):
            tail.append(_icmp(proto, m))
        elif isinstance(m, ruleset.LocalDestination):
            tail.append("--match addrtype --dst-type LOCAL")
        elif isinstance(m, ruleset.OriginalDestination):
            tail.append(f"--match conntrack --ctorigdst {m.address}")
        else:
            states = ",".join(s.value.upper() for s in m.states)
            tail.append(f"--match conntrack --ctstate {states}")
    if rule.comment:
        tail.append(f'--match comment --comment "{nftables.comment(rule.comment)}"')
    if rule.drop is not None:
        # Before each drop: the same matches, rate-limited, to NFLOG; both count into the
        # reason's accounting objects.
        dropped = dropreasons.account_names(rule.drop)[0]
        drop = f"--match nfacct --nfacct-name {dropped} --jump {verdict.action.value.upper()}"
        targets = [_drop_log(rule.drop), drop] if drop_log else [drop]
        return [
            " ".join(p for p in (device, *head, chunk, *tail, target) if p)
            for device in device_chunks
            for chunk in port_chunks
            for target in targets
        ]
    if verdict.to:
        targets = _rewrites(verdict)
    elif verdict.chain is None:
        targets = [f"--jump {verdict.action.value.upper()}"]
    else:
        flag = "--goto" if verdict.action is ruleset.Action.GOTO else "--jump"
        targets = [f"{flag} {name(verdict.chain)}"]
    return [
        " ".join(p for p in (device, *head, chunk, *tail, target) if p)
        for device in device_chunks
        for chunk in port_chunks
        for target in targets
    ]


def _drop_log(reason: ruleset.DropReason) -> str:
    limit = f"--match limit --limit {ruleset.DROP_LOG_RATE}/sec"
    burst = f"--limit-burst {ruleset.DROP_LOG_BURST}"
    host = (
        f"--match hashlimit --hashlimit-upto {dropreasons.DROP_LOG_HOST_RATE}/sec "
        f"--hashlimit-burst {dropreasons.DROP_LOG_HOST_BURST} "
        f"--hashlimit-name {dropreasons.DROP_LOG_LIMIT}"
    )
    counted = f"--match nfacct --nfacct-name {dropreasons.account_names(reason)[1]}"
    group = f"--jump NFLOG --nflog-group {kernelnames.DROP_LOG_GROUP}"
    prefix = f"--nflog-prefix {kernelnames.DROP_LOG_PREFIX}{reason.label}"
    return f"{limit} {burst} {host} {counted} {group} {prefix}"


def _rewrites(verdict: ruleset.Verdict) -> list[str]:
    """The rule tails of a snat or dnat: one per address, each but the last taking its
    share of the flows the earlier ones left (1/n, 1/(n-1), ..., 1)."""
    flag = "--to-source" if verdict.action is ruleset.Action.SNAT else "--to-destination"
    jump = f"--jump {verdict.action.value.upper()}"
    count = len(verdict.to)
    return [
        (
            f"--match statistic --mode random --probability {1 / (count - i):.10f} "
            if i < count - 1
            else ""
        )
        + f"{jump} {flag} {address}"
        for i, address in enumerate(verdict.to)
    ]


def _ports(proto: ruleset.Proto, m: ruleset.Ports) -> list[str]:
    flag = "destination" if m.side is ruleset.Side.DST else "source"
    items = [str(lo) if lo == hi else f"{lo}:{hi}" for lo, hi in m.ranges]
    if len(items) == 1:
        return [f"--match {proto.value} --{flag}-port {items[0]}"]
    chunks: list[list[str]] = [[]]
    used = 0
    for item in items:
        cost = 2 if ":" in item else 1
        if used + cost > _MULTIPORT_SLOTS:
            chunks.append([])
            used = 0
        chunks[-1].append(item)
        used += cost
    return [f"--match multiport --{flag}-ports {','.join(c)}" for c in chunks]


def _icmp(proto: ruleset.Proto | None, m: ruleset.Icmp) -> str:
    code = f"/{m.code}" if m.code is not None else ""
    if proto is ruleset.Proto.ICMPV6:
        return f"--match icmp6 --icmpv6-type {m.type}{code}"
    return f"--match icmp --icmp-type {m.type}{code}"


def _ipset(s: ruleset.AddressSet) -> str:
    elements = _ipset_elements(s.elements)
    if len(elements) > MAXELEM:
        raise Unsupported(f"set {s.name} has {len(elements)} elements; at most {MAXELEM} fit")
    real = name(s.name)
    temp = real + TEMPORARY_SUFFIX
    family = "inet" if s.version == 4 else "inet6"
    create = f"hash:net family {family} maxelem {MAXELEM} -exist"
    lines = [f"create {real} {create}", f"create {temp} {create}", f"flush {temp}"]
    lines += [f"add {temp} {e}" for e in elements]
    lines += [f"swap {temp} {real}", f"destroy {temp}"]
    return "\n".join(lines) + "\n"


def _ipset_elements(elements: Iterable[addressing.IPNetwork]) -> list[str]:
    out = []
    for net in elements:
        # hash:net refuses prefix length 0; two halves cover the same addresses.
        halves = net.subnets(prefixlen_diff=1) if net.prefixlen == 0 else (net,)
        out += [str(h) for h in halves]
    return out
