"""The agent's C heap: one malloc arena, and freed memory handed back to the system.

glibc gives threads that meet on its heap lock arenas of their own (up to eight per core),
and each arena keeps what its threads once freed. The agent runs Python on one thread at a
time (the GIL), so extra arenas buy it no concurrency; they only keep the high-water mark of
every thread that decoded a host view, compiled a ruleset or rendered one. With one arena
and fixed trim and mmap thresholds of 32 KiB (blocks that large are mapped and unmapped on
their own, and free memory at the top of the heap past 32 KiB is returned), the agent under
the 1,000-tenant/2,000-policy load of ``bench/dataplane`` holds about 6 MB less (its
footprint rows in docs/benchmarks.md), and a policy change takes no longer.

Invariant: :func:`limit` only tunes the allocator (``mallopt``); it changes no behaviour and
does nothing where the C library is not glibc. It is called once, before the agent starts
its threads: a thread that already has an arena keeps it.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
"""``mallopt`` parameters, as glibc's ``malloc.h`` numbers them."""

ARENAS = 1
TRIM_BYTES = 32 * 1024
MMAP_BYTES = 32 * 1024


def limit() -> bool:
    """Apply the limits; whether the C library took them all (False elsewhere than glibc)."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    wanted = ((M_ARENA_MAX, ARENAS), (M_TRIM_THRESHOLD, TRIM_BYTES), (M_MMAP_THRESHOLD, MMAP_BYTES))
    taken = [mallopt(param, value) == 1 for param, value in wanted]
    if not all(taken):
        log.debug("the C library did not take every malloc limit: %s", taken)
    return all(taken)
