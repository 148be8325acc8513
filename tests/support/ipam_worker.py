"""A separate process that allocates addresses and reports each acknowledged one.

    python -m support.ipam_worker --store URL --host H --tenant T --prefix P --count N [--threads K]

Prints ``ACK <key> <address>`` (flushed) for every allocation the store acknowledged, so a
test that kills this process mid-run knows exactly which allocations must survive. With
``--threads`` K callers allocate at once (keys ``P-<thread>-<i>``, N each), so that their
allocations share commits as a server's do.
"""

from __future__ import annotations

import argparse
import sys
import threading

from romana.core import errors
from romana.core.identifiers import AllocationKey, HostName, SegmentName, TenantName
from romana.services.ipam import IpamService
from romana.services.tenants import TenantService
from romana.services.topology import TopologyService
from romana.store import open_store


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--host", required=True)
    parser.add_argument("--tenant", required=True)
    parser.add_argument("--segment", default="default")
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    store = open_store(args.store)
    topology = TopologyService(store)
    ipam = IpamService(store, topology, TenantService(store, topology))
    if not args.threads:
        _allocate(ipam, args, args.prefix)
    else:
        threads = [
            threading.Thread(target=_allocate, args=(ipam, args, f"{args.prefix}-{n}"))
            for n in range(args.threads)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    store.close()
    return 0


_printing = threading.Lock()


def _allocate(ipam: IpamService, args: argparse.Namespace, prefix: str) -> None:
    for i in range(args.count):
        key = f"{prefix}-{i}"
        while True:
            try:
                alloc = ipam.allocate(
                    AllocationKey(key),
                    HostName(args.host),
                    TenantName(args.tenant),
                    SegmentName(args.segment),
                )
                break
            except errors.RomanaError as exc:
                if not errors.is_temporary(exc):
                    raise
        with _printing:
            print("ACK", key, *[str(a) for a in alloc.addresses], flush=True)


if __name__ == "__main__":
    sys.exit(main())
