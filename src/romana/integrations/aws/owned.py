"""The routes ``romana-aws`` created: ``routes.json`` in its state directory.

Shape: ``{"version": 1, "tables": {"rtb-…": ["10.1.0.0/16", "fd00:10::/64", ...]}}``, each
list sorted. A route whose destination is listed under its table is the publisher's to replace
or delete; no other route ever is (:mod:`romana.core.vpcroutes`). The file is replaced
durably (:func:`romana.durable.replace_file`), so a crash leaves the old set or the new one.

Invariant kept by the publisher: a destination is recorded *before* the route is created, so
a crash between the two leaves a recorded destination without a route (forgotten at the next
reconcile) rather than a route nobody owns; it is forgotten only after its deletion succeeded.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from pathlib import Path

from romana import durable
from romana.core import addressing
from romana.core.errors import InvalidInput

VERSION = 1
FILE = "routes.json"

Owned = dict[str, frozenset[addressing.IPNetwork]]


class OwnedRoutes:
    """The recorded set, in memory and on disk in step."""

    def __init__(self, state_dir: str | Path) -> None:
        self.path = Path(state_dir) / FILE
        self._tables: Owned = {}

    def load(self) -> Owned:
        """Read the file (creating the directory, mode 0700, when missing); InvalidInput when
        it is not a file this module wrote: owning the wrong routes is worse than stopping."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            raw = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            raw = {"version": VERSION, "tables": {}}
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{self.path}: {exc}") from exc
        if not isinstance(raw, dict) or raw.get("version") != VERSION:
            raise InvalidInput(f"{self.path}: not a version {VERSION} route record")
        try:
            self._tables = {
                str(table): frozenset(ipaddress.ip_network(d) for d in dsts)
                for table, dsts in raw["tables"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidInput(f"{self.path}: {exc}") from exc
        return dict(self._tables)

    @property
    def tables(self) -> Owned:
        return dict(self._tables)

    def set(self, table: str, dsts: Iterable[addressing.IPNetwork]) -> None:
        """Record ``dsts`` as the table's owned routes (an empty set drops the table)."""
        new = dict(self._tables)
        kept = frozenset(dsts)
        if kept:
            new[table] = kept
        else:
            new.pop(table, None)
        if new == self._tables:
            return
        durable.replace_file(self.path, _encode(new))
        self._tables = new


def _encode(tables: Mapping[str, frozenset[addressing.IPNetwork]]) -> bytes:
    body = {
        "version": VERSION,
        "tables": {
            table: [str(d) for d in sorted(dsts, key=lambda n: (n.version, str(n)))]
            for table, dsts in sorted(tables.items())
        },
    }
    return json.dumps(body, indent=1, sort_keys=True).encode()
