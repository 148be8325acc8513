"""podman's configuration for tests: every file of podman under one work directory.

podman reads ``CONTAINERS_CONF`` and ``CONTAINERS_STORAGE_CONF``; with both in a test's own
directory, nothing of the machine's configuration or storage is read or changed. runc on this
machine needs ``default_ulimits`` (its hard limits are above what an unprivileged rlimit may
ask), cgroupfs and file locks (no systemd in the test's environment).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path


def write(
    workdir: Path,
    *,
    network_config_dir: Path,
    plugin_dirs: tuple[Path, ...] = (),
    no_network: bool = False,
    driver: str = "overlay",
) -> dict[str, str]:
    """Write ``containers.conf`` and ``storage.conf`` into ``workdir``; the environment that
    points podman at them. ``no_network``: containers get no network unless a run names one
    (so a forgotten ``--network`` never wires a container with the machine's CNI bridge)."""
    w = workdir
    lines = ["[containers]"]
    if no_network:
        lines.append('netns = "none"')
    lines += [
        'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]',
        "[engine]",
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        f'events_logfile_path = "{w}/events.log"',
        'runtime = "runc"',
        'lock_type = "file"',
        f'tmp_dir = "{w}/tmp"',
        "[network]",
        'network_backend = "cni"',
        f'network_config_dir = "{network_config_dir}"',
    ]
    if plugin_dirs:
        lines.append("cni_plugin_dirs = [" + ", ".join(f'"{d}"' for d in plugin_dirs) + "]")
    (w / "containers.conf").write_text("\n".join(lines) + "\n")
    (w / "storage.conf").write_text(
        f'[storage]\ndriver = "{driver}"\ngraphroot = "{w}/root"\nrunroot = "{w}/run"\n'
    )
    return {
        "CONTAINERS_CONF": str(w / "containers.conf"),
        "CONTAINERS_STORAGE_CONF": str(w / "storage.conf"),
    }


class MachineDirs:
    """Machine-wide directories the runtimes create: removed again if new and empty."""

    def __init__(self, paths: Sequence[str]) -> None:
        self._new = [p for p in paths if not os.path.exists(p)]

    def clean(self) -> list[str]:
        """Remove what is new and empty; return what is new and still holds something."""
        left = []
        for top in self._new:
            for root, _, _ in os.walk(top, topdown=False):  # deepest first
                with contextlib.suppress(OSError):
                    os.rmdir(root)
            if os.path.exists(top):
                left.append(top)
        return left
