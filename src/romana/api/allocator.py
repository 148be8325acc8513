"""The C allocator's setting for romanad: large freed buffers go back to the system.

A password check (a login, a new user or password) is scrypt, which allocates one 16 MiB
buffer and frees it. glibc maps so large a block with ``mmap`` and unmaps it when freed, but
on that free it raises its ``mmap`` threshold to the block's size (its dynamic threshold):
every later such buffer is carved from a heap instead, and stays resident once freed, one
per thread arena that ran a check. romanad then held about 17 MB for every thread that had
checked a password, for the life of the process (about 67 of its 142 MB idle).

:func:`release_large_buffers` fixes the threshold (``mallopt(M_MMAP_THRESHOLD)``), which
turns the dynamic one off: blocks of :data:`MMAP_THRESHOLD` and more are always mapped and
returned when freed; smaller ones (request bodies, rendered host views) come from the heaps
as before, so the request path allocates as it did.

Invariants:

* An operator's own setting wins: with ``MALLOC_MMAP_THRESHOLD_`` or a
  ``glibc.malloc.mmap_threshold`` tunable (``GLIBC_TUNABLES``) in the environment, nothing
  is changed.
* On a C library without glibc's ``mallopt`` (musl) nothing is changed, and nothing fails.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping

MMAP_THRESHOLD = 4 * 1024 * 1024
"""Blocks at least this large are mapped and unmapped: scrypt's 16 MiB is, a host view is not."""
M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter number (``malloc.h``)."""


def operator_set(environ: Mapping[str, str]) -> bool:
    """Whether ``environ`` sets glibc's mmap threshold itself."""
    return "MALLOC_MMAP_THRESHOLD_" in environ or "glibc.malloc.mmap_threshold" in environ.get(
        "GLIBC_TUNABLES", ""
    )


def release_large_buffers(environ: Mapping[str, str] | None = None) -> bool:
    """Fix glibc's mmap threshold at :data:`MMAP_THRESHOLD` unless ``environ`` (the process
    environment when None) sets it; True when it was set here."""
    if operator_set(os.environ if environ is None else environ):
        return False
    try:
        os.confstr("CS_GNU_LIBC_VERSION")
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError, ValueError):
        return False  # not glibc
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
