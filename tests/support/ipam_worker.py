"""A separate process that allocates addresses and reports each acknowledged one.

    python -m support.ipam_worker --store URL --host H --tenant T --prefix P --count N

Prints ``ACK <key> <address>`` (flushed) for every allocation the store acknowledged, so a
test that kills this process mid-run knows exactly which allocations must survive.
"""

from __future__ import annotations

import argparse
import sys

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
    args = parser.parse_args()
    store = open_store(args.store)
    topology = TopologyService(store)
    ipam = IpamService(store, topology, TenantService(store, topology))
    for i in range(args.count):
        key = f"{args.prefix}-{i}"
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
        print("ACK", key, *[str(a) for a in alloc.addresses], flush=True)
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
