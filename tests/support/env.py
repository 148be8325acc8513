"""What a test needs from the machine, and what happens when it is missing.

Outside CI a missing requirement skips the test. Under ``CI=true`` (CI runs as root on a
machine whose bootstrap installed everything) a missing requirement fails it: a skipped
root, namespace, etcd or runtime test there would hide a broken install step.
"""

from __future__ import annotations

import os
import shutil

import pytest

IN_CI = os.environ.get("CI") == "true"

RUNNING: list[pytest.Item] = []
"""The test being set up or run (kept by ``tests/conftest.py``), so that :func:`need_root`
can tell whether it carries the ``root`` marker that ``make unit`` deselects by."""


def need(condition: bool, reason: str) -> None:
    """Skip (or, in CI, fail) the calling test unless ``condition`` holds."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI=true but missing: {reason}")
    pytest.skip(reason)


def need_root() -> None:
    """Skip (or, in CI, fail) without root; fail a test that needs root unmarked.

    A test that reaches here without ``@pytest.mark.root`` (on it, its class or its module)
    would run in ``make unit``, where nothing may need root: that is a failure everywhere.
    """
    item = RUNNING[-1] if RUNNING else None
    if item is not None and item.get_closest_marker("root") is None:
        pytest.fail(f"{item.nodeid} needs root but is not marked: add pytest.mark.root")
    need(os.geteuid() == 0, "needs root")


def need_binary(name: str) -> str:
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None
    )
    need(path is not None, f"needs the {name} binary")
    assert path is not None
    return path


LAB_BINARIES = ("ip", "nft", "iptables-restore", "ipset", "ping")
"""What a lab cluster of agents needs on either firewall backend."""


def need_agent_lab(*more: str) -> None:
    """Root and the binaries a lab cluster of agents needs, and ``more``."""
    need_root()
    for binary in (*LAB_BINARIES, *more):
        need_binary(binary)


DOCKER_CLIENT = "/usr/bin/docker"
"""The client Debian's docker.io ships beside its dockerd (another ``docker`` may come first
in PATH and speak a newer API)."""


def need_docker() -> str:
    """What the Docker lab needs (:mod:`romana.lab.docker`): the agent lab, dockerd with its
    docker-init (the tests' containers run ``--init``) and its own client, etcd for the cluster
    store, and busybox-static for the image; busybox's path."""
    need_agent_lab("dockerd", "docker-init", "etcd", "unshare", "nsenter", "mount")
    need(os.access(DOCKER_CLIENT, os.X_OK), f"needs {DOCKER_CLIENT} (Debian's docker.io)")
    busybox = need_binary("busybox")
    # The image holds busybox alone, so it must not need a dynamic loader.
    need(not _interpreted(busybox), f"{busybox} is dynamically linked (needs busybox-static)")
    return busybox


def _interpreted(path: str) -> bool:
    """True when the 64-bit little-endian ELF at ``path`` names a program interpreter."""
    with open(path, "rb") as f:
        elf = f.read(1 << 16)
    phoff = int.from_bytes(elf[0x20:0x28], "little")
    size = int.from_bytes(elf[0x36:0x38], "little")
    count = int.from_bytes(elf[0x38:0x3A], "little")
    kinds = (
        int.from_bytes(elf[phoff + i * size : phoff + i * size + 4], "little") for i in range(count)
    )
    return 3 in kinds  # PT_INTERP
