"""The agent's durable record of the endpoints it made, and of releases it still owes.

The registry is the agent's source of truth for *which endpoints are ours*: the reconciler
builds the desired endpoints from it, DEL and GC act only on what it lists, and it survives
restarts (the kernel state is rebuilt from it, never the other way round).

Layout under the state directory::

    endpoints/<digest>.json   one EndpointRecord (romana.core.endpoint) per
                              (container_id, ifname), as of the last compaction
    endpoints.journal         the endpoint records written and removed since
                              (:mod:`romana.agent.journal`)
    releases/<digest>.json    {"key", "addresses"}: an allocation to release once romanad
                              answers, after forgetting the addresses' conntrack flows

Invariants:

* Every write is durable before the call returns. An endpoint record is an entry of the
  journal (one ``fdatasync``: an ADD writes two on the path its runtime waits for); a release
  record is a file replaced durably (temporary file, fsync, rename, fsync of the directory).
  A crash leaves either the old or the new record, never a torn one.
* :meth:`Ledger.load` reads the files, then the journal over them, and compacts: the records
  the journal changed are written to their files (or their files removed) before a new empty
  journal replaces the old, so a crash at any point of it loses nothing. A full journal is
  compacted the same way before the write that did not fit.
* A record is written *before* its allocation is requested (state ``allocating``), so an
  agent that dies between allocating and answering still knows the key to release.
* File names are a digest of the key, so any key fits a file name; the key itself is inside.
* Records that cannot be read are reported and skipped, never deleted: a human decides.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import logging
import shutil
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from romana import durable
from romana.agent import journal
from romana.core import addressing
from romana.core.endpoint import ALLOCATING, READY, VETH, EndpointRecord, endpoint_key

__all__ = ["ALLOCATING", "READY", "EndpointRecord", "Ledger", "endpoint_key"]

log = logging.getLogger(__name__)

VERSION = 1
"""Version of the on-disk endpoint record (:func:`record_to_dict`)."""


def record_to_dict(record: EndpointRecord) -> dict[str, Any]:
    """The on-disk form of ``record``."""
    return {
        "version": VERSION,
        "container_id": record.container_id,
        "ifname": record.ifname,
        "netns": record.netns,
        "tenant": record.tenant,
        "segment": record.segment,
        "network": record.network,
        "labels": dict(record.labels),
        "k8s": dict(record.k8s),
        "mtu": record.mtu,
        "addresses": [str(a) for a in record.addresses],
        "state": record.state,
        "created_at": record.created_at,
        "mac": record.mac,
        "host_mac": record.host_mac,
        "attachment": record.attachment,
    }


def record_from_dict(raw: Mapping[str, Any]) -> EndpointRecord:
    """A record read back from disk; KeyError, ValueError or TypeError when it is not one."""
    mtu = raw.get("mtu")
    return EndpointRecord(
        container_id=str(raw["container_id"]),
        ifname=str(raw["ifname"]),
        netns=str(raw.get("netns", "")),
        tenant=str(raw["tenant"]),
        segment=str(raw["segment"]),
        network=str(raw.get("network", "")),
        labels={str(k): str(v) for k, v in dict(raw.get("labels") or {}).items()},
        k8s={str(k): str(v) for k, v in dict(raw.get("k8s") or {}).items()},
        mtu=None if mtu is None else int(mtu),
        addresses=tuple(ipaddress.ip_address(str(a)) for a in raw.get("addresses", [])),
        state=str(raw.get("state", ALLOCATING)),
        created_at=float(raw.get("created_at", 0.0)),
        mac=str(raw.get("mac", "")),
        host_mac=str(raw.get("host_mac", "")),
        attachment=str(raw.get("attachment", VETH)),
    )


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:40]


def write_json(path: Path, value: Any) -> None:
    """Replace ``path`` with ``value`` as JSON, durably (:func:`romana.durable.replace_file`)."""
    durable.replace_file(path, json.dumps(value, sort_keys=True).encode())


class Ledger:
    """Endpoint records and owed releases, kept in memory and on disk in step."""

    def __init__(self, state_dir: str | Path, *, journal_size: int = journal.SIZE) -> None:
        self._root = Path(state_dir)
        self._endpoints_dir = self._root / "endpoints"
        self._releases_dir = self._root / "releases"
        self._records: dict[str, EndpointRecord] = {}
        self._releases: dict[str, tuple[addressing.IPAddress, ...]] = {}
        self._journal = journal.Journal(self._root / "endpoints.journal", journal_size)
        self._journalled: dict[str, dict[str, Any] | None] = {}
        """What the journal holds for each key it holds one for: its last record as
        written, or None when that write removed it; files are written from this."""
        self._writing = threading.Lock()

    @property
    def root(self) -> Path:
        return self._root

    def load(self) -> list[str]:
        """Create the directories if needed and read every record; the problems found."""
        problems: list[str] = []
        for directory in (self._endpoints_dir, self._releases_dir):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._records.clear()
        self._releases.clear()
        for path in sorted(self._endpoints_dir.glob("*.json")):
            try:
                record = record_from_dict(json.loads(path.read_bytes()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                problems.append(f"{path}: unreadable endpoint record ({exc}); left in place")
                continue
            self._records[record.key] = record
        with self._writing:
            self._journalled.clear()
            if self._replay(problems):
                # Compacting starts a new journal: the entries that could not be read are
                # kept for a human in a copy of the old one.
                kept = self._journal.path.with_name(f"{self._journal.path.name}.unreadable")
                shutil.copyfile(self._journal.path, kept)
                problems.append(f"{self._journal.path}: copied to {kept}")
            self._compact()
        for path in sorted(self._releases_dir.glob("*.json")):
            try:
                raw = json.loads(path.read_bytes())
                key = str(raw["key"])
                addresses = tuple(ipaddress.ip_address(a) for a in raw.get("addresses", ()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                problems.append(f"{path}: unreadable release record ({exc}); left in place")
                continue
            self._releases[key] = addresses
        for problem in problems:
            log.error("%s", problem)
        return problems

    # -- endpoints -----------------------------------------------------------------------

    def get(self, key: str) -> EndpointRecord | None:
        return self._records.get(key)

    def records(self) -> list[EndpointRecord]:
        """Every record, ordered by key."""
        return [self._records[k] for k in sorted(self._records)]

    def put(self, record: EndpointRecord) -> None:
        self._write(record.key, record_to_dict(record))
        self._records[record.key] = record

    def remove(self, key: str) -> EndpointRecord | None:
        self._write(key, None)
        return self._records.pop(key, None)

    def _replay(self, problems: list[str]) -> bool:
        """Apply the journal's entries over the records read from the files; whether any
        could not be read (each is added to ``problems``)."""
        unreadable = False
        for entry in journal.read(self._journal.path):
            try:
                if "remove" in entry:
                    key = str(entry["remove"])
                    self._records.pop(key, None)
                    self._journalled[key] = None
                else:
                    record = record_from_dict(entry["put"])
                    self._records[record.key] = record
                    self._journalled[record.key] = dict(entry["put"])
            except (ValueError, KeyError, TypeError) as exc:
                problems.append(f"{self._journal.path}: unreadable entry {entry!r} ({exc})")
                unreadable = True
        return unreadable

    def _write(self, key: str, value: dict[str, Any] | None) -> None:
        """Make ``value`` (a record as on disk, or None: its removal) durable for ``key`` in
        the journal, compacting first when it is full. Writes from the loop and from the
        ledger's thread are serialised."""
        entry: dict[str, Any] = {"remove": key} if value is None else {"put": value}
        if not self._journal.started:
            self.load()  # written before it was loaded: the journal is folded in first
        with self._writing:
            if not self._journal.append(entry):
                self._compact()
                if not self._journal.append(entry):
                    raise OSError(f"the endpoint record of {key} does not fit the journal")
            self._journalled[key] = value

    def _compact(self) -> None:
        """Write what the journal holds to the files, then start an empty journal (the
        caller holds the write lock)."""
        for key, value in sorted(self._journalled.items()):
            path = self._endpoints_dir / f"{_digest(key)}.json"
            if value is None:
                durable.remove_file(path)
            else:
                write_json(path, value)
        self._journal.start()
        self._journalled.clear()

    # -- releases owed to romanad --------------------------------------------------------

    def releases(self) -> list[str]:
        return sorted(self._releases)

    def owe_release(self, key: str, addresses: tuple[addressing.IPAddress, ...] = ()) -> None:
        """Record that ``key`` must be released, and which addresses' conntrack flows must
        be forgotten before (an address is never handed out again with old flows)."""
        value = {"key": key, "addresses": [str(a) for a in addresses]}
        write_json(self._releases_dir / f"{_digest(key)}.json", value)
        self._releases[key] = addresses

    def owed_addresses(self, key: str) -> tuple[addressing.IPAddress, ...]:
        return self._releases.get(key, ())

    def released(self, key: str) -> None:
        durable.remove_file(self._releases_dir / f"{_digest(key)}.json")
        self._releases.pop(key, None)
