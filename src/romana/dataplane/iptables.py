"""Apply rendered iptables and ipset text to our ``ROMANA-*`` chains and ``romana*`` sets.

The renderer (``romana.core.render.iptables``) produces ``iptables-restore`` text for our
chains only and ``ipset restore`` text for our sets. :meth:`Iptables.apply` loads the sets
first (rules may reference them), then the chains with ``iptables-restore --noflush``
(each chain the text declares is flushed and rewritten in one commit; every other chain is
left alone), then makes sure each built-in chain jumps into our entry chain exactly once
(``-C`` then ``-I ... 1``).

Entry chains follow one convention: ``ROMANA-<HOOK>`` in table ``T`` is entered from the
built-in chain ``<HOOK>`` of ``T`` (``ROMANA-FORWARD`` from ``FORWARD``). :func:`entry_jumps`
derives the jumps from the chain declarations of the text; callers may pass their own.
The filter and nat tables work alike (``ROMANA-POSTROUTING`` from ``POSTROUTING`` of
``nat``); :meth:`Iptables.remove_chains` takes away chains of either table together with
the jumps into them, which it finds by reading the built-in chains, so it also removes an
entry chain named otherwise.

Invariants:

* Text that would touch a chain or set that is not ours is refused (``InvalidInput``)
  before anything runs: :func:`foreign_names`.
* Failures are classified once: the xtables lock held by another program, or a COMMIT that
  lost a race with another writer, are temporary and retried a bounded number of times with
  jitter (:func:`romana.dataplane.proc.retry`); anything else is permanent. ``--noflush``
  restores are all-or-nothing per table, so a failed apply leaves the previous rules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from romana.core import kernelnames
from romana.core.errors import InvalidInput, Issue
from romana.dataplane import proc

CHAIN_PREFIX = kernelnames.IPTABLES_PREFIX
SET_PREFIX = kernelnames.OWNED_STEM  # compared case-folded: any set named romana…
BUILTIN_CHAINS = {
    "filter": ("INPUT", "FORWARD", "OUTPUT"),
    "nat": ("PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"),
    "mangle": ("PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"),
    "raw": ("PREROUTING", "OUTPUT"),
}
LOCK_ENV = "XTABLES_LOCKFILE"

# restore-text commands that modify a chain, by short and long name
_CHAIN_COMMANDS = frozenset(
    {
        *("-A", "-I", "-D", "-R", "-F", "-Z", "-N", "-X", "-E", "-P"),
        *("--append", "--insert", "--delete", "--replace", "--flush", "--zero"),
        *("--new-chain", "--delete-chain", "--rename-chain", "--policy"),
    }
)
# ipset restore commands, with how many set names they take
_SET_COMMANDS = {
    **dict.fromkeys(("create", "add", "del", "test", "destroy", "flush"), 1),
    **dict.fromkeys(("-N", "-A", "-D", "-T", "-X", "-F"), 1),
    **dict.fromkeys(("swap", "rename", "-W", "-E"), 2),
}
_LINE_FAILED = re.compile(r"line (\d+) failed")


@dataclass(frozen=True, slots=True)
class Jump:
    """A rule ``-t table -A chain -j target`` from a built-in chain into ours."""

    table: str
    chain: str
    target: str


def entry_jumps(text: str) -> tuple[Jump, ...]:
    """The jumps ``text`` implies: one per declared ``ROMANA-<HOOK>`` chain of a table."""
    jumps: list[Jump] = []
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith(":" + CHAIN_PREFIX):
            name = line[1:].split()[0]
            hook = name[len(CHAIN_PREFIX) :]
            if hook in BUILTIN_CHAINS.get(table, ()):
                jumps.append(Jump(table, hook, name))
    return tuple(jumps)


def foreign_names(filter_text: str, ipset_text: str) -> list[str]:
    """Chains and sets that the two texts would touch and that are not ours.

    A command without a chain (``-F`` alone flushes every chain of the table) or without
    a set name (``flush`` alone flushes every set) counts as touching all of them.
    """
    found: list[str] = []
    for line in filter_text.splitlines():
        words = line.split()
        if not words:
            continue
        if words[0].startswith(":"):
            names = [words[0][1:]]
        elif words[0] in _CHAIN_COMMANDS:
            names = words[1:3] if words[0] in ("-E", "--rename-chain") else words[1:2]
            names = [n for n in names if not n.startswith("-")] or ["(all chains)"]
        else:
            continue
        found.extend(f"chain {n}" for n in names if not n.startswith(CHAIN_PREFIX))
    for line in ipset_text.splitlines():
        words = line.split()
        if not words or words[0] not in _SET_COMMANDS:
            continue
        names = words[1 : 1 + _SET_COMMANDS[words[0]]] or ["(all sets)"]
        found.extend(f"set {n}" for n in names if not n.lower().startswith(SET_PREFIX))
    return found


def is_temporary_failure(stderr: str, input: str | None) -> bool:
    """The xtables lock was busy, or the COMMIT lost a race with another writer."""
    if "xtables lock" in stderr or "Resource temporarily unavailable" in stderr:
        return True
    match = _LINE_FAILED.search(stderr)
    if match and input is not None:
        lines = input.splitlines()
        number = int(match.group(1))
        return 0 < number <= len(lines) and lines[number - 1].strip() == "COMMIT"
    return False


class Iptables:
    """Our chains in one address family and backend, in one network namespace."""

    def __init__(
        self,
        *,
        ip6: bool = False,
        legacy: bool = False,
        netns: str | None = None,
        wait: int = 5,
        lock_file: str | None = None,
        attempts: int = 4,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        base = "ip6tables" if ip6 else "iptables"
        suffix = "-legacy" if legacy else ""
        self.iptables = base + suffix
        self.restore = f"{base}{suffix}-restore"
        self.save = f"{base}{suffix}-save"
        self.netns = netns
        self._wait = str(wait)
        self._env = None if lock_file is None else {LOCK_ENV: lock_file}
        self._attempts = attempts
        self._sleep = sleep

    def _run(
        self, argv: Sequence[str], input: str | None = None, check: bool = True
    ) -> proc.Completed:
        def once() -> proc.Completed:
            try:
                return proc.run(argv, input, netns=self.netns, env=self._env, check=check)
            except proc.CommandFailed as exc:
                exc.temporary = exc.temporary or is_temporary_failure(exc.stderr, input)
                raise

        if self._sleep is None:
            return proc.retry(once, attempts=self._attempts)
        return proc.retry(once, attempts=self._attempts, sleep=self._sleep)

    def apply(
        self, filter_text: str, ipset_text: str = "", *, jumps: Sequence[Jump] | None = None
    ) -> int:
        """Load the sets, then the chains, then ensure the jumps into our entry chains; how
        many jumps were missing (put back)."""
        others = foreign_names(filter_text, ipset_text)
        if others:
            raise InvalidInput(
                [Issue("rules", f"touches {name}, which is not ours") for name in others]
            )
        if ipset_text.strip():
            self._run(["ipset", "restore", "-exist"], ipset_text)
        if filter_text.strip():
            self._run([self.restore, "--noflush", "--wait", self._wait], filter_text)
        return self.ensure_jumps(entry_jumps(filter_text) if jumps is None else jumps)

    def _jump(self, op: str, jump: Jump, check: bool = True) -> proc.Completed:
        """``iptables -t TABLE <op> CHAIN [1] -j TARGET`` (``1``: the position for -I)."""
        position = ["1"] if op == "-I" else []
        argv = [self.iptables, "--wait", self._wait, "-t", jump.table, op, jump.chain]
        return self._run([*argv, *position, "-j", jump.target], check=check)

    def ensure_jumps(self, jumps: Sequence[Jump]) -> int:
        """Insert each missing jump at the top of its built-in chain; return how many."""
        inserted = 0
        for jump in jumps:
            found = self._jump("-C", jump, check=False)
            if found.rc == 0:
                continue
            if found.rc != 1:  # 1 is "no such rule"; anything else is a real failure
                raise proc.CommandFailed(found.argv, found.rc, found.stdout, found.stderr, None)
            self._jump("-I", jump)
            inserted += 1
        return inserted

    def counted(self, table: str = "filter") -> str:
        """``iptables-save -c`` of ``table``: every rule with its packet and byte counts."""
        return self._run([self.save, "-c", "-t", table]).stdout

    def owned_chains(self, table: str = "filter") -> tuple[str, ...]:
        """The names of our chains that exist in ``table``."""
        done = self._run([self.save, "-t", table])
        return tuple(
            line[1:].split()[0]
            for line in done.stdout.splitlines()
            if line.startswith(":" + CHAIN_PREFIX)
        )

    def remove(self, table: str = "filter", *, sets: bool = True) -> None:
        """Delete the jumps into our chains and the chains of ``table``; then, unless told
        not to (a table still to be removed may use them), our sets."""
        self.remove_chains(table, self.owned_chains(table))
        if not sets:
            return
        for name in self._set_names():
            if name.lower().startswith(SET_PREFIX):
                self._run(["ipset", "destroy", name], check=False)

    def remove_chains(self, table: str, chains: Sequence[str]) -> None:
        """Delete the jumps from the built-in chains of ``table`` into ``chains``, then the
        chains, in one restore. Only the plain jumps we insert are deleted: a rule of
        another owner that jumps to one of ours leaves the chain in place and fails the
        restore (``CommandFailed``) rather than be removed."""
        foreign = [c for c in chains if not c.startswith(CHAIN_PREFIX)]
        if foreign:
            raise InvalidInput(
                [Issue("chains", f"{name} is not ours; refusing to remove it") for name in foreign]
            )
        if not chains:
            return
        wanted = set(chains)
        builtins = BUILTIN_CHAINS.get(table, ())
        listing = self._run([self.iptables, "--wait", self._wait, "-t", table, "-S"]).stdout
        for line in listing.splitlines():
            words = line.split()
            # "-A POSTROUTING -j ROMANA-POSTROUTING": a jump as ensure_jumps inserts it
            if (
                len(words) == 4
                and (words[0], words[2]) == ("-A", "-j")
                and words[1] in builtins
                and words[3] in wanted
            ):
                self._jump("-D", Jump(table, words[1], words[3]))
        text = [
            f"*{table}",
            *(f":{c} - [0:0]" for c in chains),
            *(f"-X {c}" for c in chains),
            "COMMIT",
            "",
        ]
        self._run([self.restore, "--noflush", "--wait", self._wait], "\n".join(text))

    def _set_names(self) -> list[str]:
        return self._run(["ipset", "list", "-n"]).stdout.split()

    def owned_sets(self) -> tuple[str, ...]:
        """Our live ipsets (``ROMANA-…``), leaving out the twins of an unfinished swap."""
        return tuple(
            n
            for n in self._set_names()
            if n.startswith(kernelnames.IPSET_PREFIX)
            and not n.endswith(kernelnames.IPSET_TEMPORARY_SUFFIX)
        )

    def jumps_present(self, jumps: Sequence[Jump]) -> bool:
        """Every one of ``jumps`` is in its built-in chain."""
        return all(self._jump("-C", jump, check=False).rc == 0 for jump in jumps)


def apply(
    filter_text: str,
    ipset_text: str = "",
    *,
    ip6: bool = False,
    legacy: bool = False,
    netns: str | None = None,
) -> None:
    """One-shot :meth:`Iptables.apply` with default settings."""
    Iptables(ip6=ip6, legacy=legacy, netns=netns).apply(filter_text, ipset_text)
