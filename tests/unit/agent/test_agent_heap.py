"""The agent's malloc limits (romana.agent.heap): taken by glibc, and with them the threads of
a process share one arena, so none keeps a high-water mark of its own."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROBE = textwrap.dedent(
    """
    import ctypes, os, tempfile, threading, zlib
    from romana.agent import heap
    print(heap.limit())
    data = os.urandom(1 << 20)

    def work():  # zlib runs without the GIL: the threads meet on the heap lock
        for _ in range(50):
            zlib.compress(data, 1)
            keep = [bytearray(2048) for _ in range(200)]
            del keep

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    libc = ctypes.CDLL(None)
    libc.fdopen.restype = ctypes.c_void_p
    libc.malloc_info.argtypes = (ctypes.c_int, ctypes.c_void_p)
    libc.fflush.argtypes = (ctypes.c_void_p,)
    with tempfile.TemporaryFile() as f:
        stream = libc.fdopen(os.dup(f.fileno()), b"w")
        libc.malloc_info(0, stream)
        libc.fflush(stream)
        f.seek(0)
        print(f.read().decode().count("<heap nr="))
    """
)


def test_the_limits_are_taken_and_every_thread_shares_one_arena() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120, check=True
    )
    taken, arenas = done.stdout.split()
    assert taken == "True"
    assert arenas == "1"
