"""Apply a rendered nftables script to our one table, atomically, with ``nft -f -``.

The renderer (``romana.core.render.nftables``) produces a complete script that replaces
table ``inet romana``; this adapter feeds it to ``nft`` in one transaction, so the kernel
holds either the whole new table or, on any error, the previous one untouched.

Invariants:

* Only our table is ever named. :func:`foreign_tables` is checked before every apply, so a
  script that mentions another table or the whole ruleset (``flush ruleset``) is refused
  with ``InvalidInput`` before ``nft`` runs.
* :meth:`Nftables.delete` is idempotent: ``add table`` then ``delete table`` in one
  transaction succeeds whether or not the table existed.
* A failure raises ``CommandFailed`` carrying the script (stdin), stdout and stderr.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from romana.core import kernelnames
from romana.core.errors import InvalidInput, Issue
from romana.dataplane import proc

FAMILY = kernelnames.NFT_FAMILY
TABLE = kernelnames.NFT_TABLE

_TABLE_REF = re.compile(
    r"\btable\s+(?:(ip|ip6|inet|arp|bridge|netdev)\s+)?([A-Za-z_][A-Za-z0-9_.-]*)"
)
_RULESET = re.compile(r"\b(?:flush|delete|destroy|reset)\s+ruleset\b|\binclude\b")
_QUOTED_OR_COMMENT = re.compile(r'"[^"\n]*"|#[^\n]*')


def foreign_tables(script: str, family: str = FAMILY, table: str = TABLE) -> list[str]:
    """Tables other than ours that ``script`` names; ``ruleset`` for a whole-ruleset
    command or an ``include`` (which could name anything)."""
    code = _QUOTED_OR_COMMENT.sub(" ", script)
    found: list[str] = []
    for match in _TABLE_REF.finditer(code):
        fam = match.group(1) or "ip"
        if (fam, match.group(2)) != (family, table):
            found.append(f"{fam} {match.group(2)}")
    if _RULESET.search(code):
        found.append("ruleset")
    return found


@dataclasses.dataclass(frozen=True, kw_only=True)
class Nftables:
    """Our nftables table in one network namespace (``netns=None``: the current one)."""

    netns: str | None = None
    family: str = FAMILY
    table: str = TABLE
    nft: str = "nft"
    """The ``nft`` program to run."""
    timeout: float = proc.DEFAULT_TIMEOUT

    def _guard(self, script: str) -> None:
        others = foreign_tables(script, self.family, self.table)
        if others:
            raise InvalidInput(
                [
                    Issue(
                        "script",
                        f"names {', '.join(others)}; only table "
                        f"{self.family} {self.table} may be touched",
                    )
                ]
            )

    def _run(
        self, argv: list[str], script: str | None = None, check: bool = True
    ) -> proc.Completed:
        return proc.run([self.nft, *argv], script, self.timeout, netns=self.netns, check=check)

    def apply(self, script: str) -> None:
        """Run ``script`` as one transaction; on failure nothing of it takes effect."""
        self._guard(script)
        self._run(["-f", "-"], script)

    def check(self, script: str) -> None:
        """Parse and validate ``script`` against the kernel without committing it."""
        self._guard(script)
        self._run(["-c", "-f", "-"], script)

    def exists(self) -> bool:
        # The names of the family's tables only: listing ours would print all its rules.
        done = self._run(["list", "tables", self.family])
        return f"table {self.family} {self.table}" in done.stdout.splitlines()

    def delete(self) -> None:
        """Remove our table and everything in it; a table that is absent is fine."""
        ref = f"{self.family} {self.table}"
        self._run(["-f", "-"], f"add table {ref}\ndelete table {ref}\n")

    def read(self) -> dict[str, Any] | None:
        """Our table as ``nft -j`` JSON (for status and tests), or None when absent."""
        return self._list_json("table")

    def read_counters(self) -> dict[str, Any] | None:
        """The named counters of our table as ``nft -j`` JSON, or None when it is absent."""
        return self._list_json("counters", "table")

    def _list_json(self, *what: str) -> dict[str, Any] | None:
        """``nft -j list WHAT... <family> <table>`` parsed; None when our table is absent."""
        done = self._run(["-j", "list", *what, self.family, self.table], check=False)
        if done.rc != 0:
            if "No such file or directory" in done.stderr:
                return None
            raise proc.CommandFailed(done.argv, done.rc, done.stdout, done.stderr, None)
        parsed: dict[str, Any] = json.loads(done.stdout)
        return parsed


def apply(script: str, *, netns: str | None = None) -> None:
    """One-shot :meth:`Nftables.apply` on our table in the namespace at ``netns``."""
    Nftables(netns=netns).apply(script)
