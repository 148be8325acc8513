"""romanad does not keep the memory of its password checks (:mod:`romana.api.allocator`).

Each check is scrypt over a 16 MiB buffer. With glibc's dynamic mmap threshold, every thread
that had checked a password kept one such buffer resident for good; romanad sets a fixed
threshold at start, unless the operator's environment sets one. Checked in a fresh process,
so that what this test process allocated before does not blur the resident set.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from romana.api import allocator

CHECKS = """
import sys, threading
from romana.api import allocator
from romana.services import users

set_here = allocator.release_large_buffers({})
record = users.password_record("a password to check")

def rss_mb():
    with open("/proc/self/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024

def check():
    assert users.password_matches(record, "a password to check")

check()
before = rss_mb()
for _ in range(4):  # each thread its own glibc arena, as romanad's worker threads
    t = threading.Thread(target=check)
    t.start()
    t.join()
print(set_here, rss_mb() - before)
"""


@pytest.mark.skipif(
    not hasattr(os, "confstr") or "glibc" not in (os.confstr("CS_GNU_LIBC_VERSION") or ""),
    reason="glibc's allocator only",
)
def test_password_checks_in_many_threads_leave_no_buffer_resident() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECKS], capture_output=True, text=True, check=True, timeout=60
    )
    set_here, grown = done.stdout.split()
    assert set_here == "True"
    # One kept buffer is 16 MiB: without the fixed threshold these checks kept at least one.
    assert float(grown) < 8, f"4 password checks left {float(grown):.1f} MiB resident"


def test_the_operators_own_threshold_is_left_alone() -> None:
    assert not allocator.release_large_buffers({"MALLOC_MMAP_THRESHOLD_": "131072"})
    tunables = {"GLIBC_TUNABLES": "glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=65536"}
    assert not allocator.release_large_buffers(tunables)
    assert not allocator.operator_set({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
