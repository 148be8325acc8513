"""The agent's ``proc_sys`` setting: sysctls read and written under another root, as in a
container whose own /proc/sys is read-only and the host's /proc/sys/net is mounted elsewhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from romana.core import hostplan
from romana.dataplane import sysctl


@pytest.fixture
def root(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "net" / "ipv4").mkdir(parents=True)
    (tmp_path / "net" / "ipv4" / "ip_forward").write_text("0\n")
    sysctl.use_root(str(tmp_path))
    try:
        yield tmp_path
    finally:
        sysctl.use_root(sysctl.PROC_SYS)


def test_sysctls_are_written_under_the_root_the_agent_names(root: Path) -> None:
    wanted = [hostplan.Sysctl("net.ipv4.ip_forward", "1")]
    assert sysctl.ensure(wanted) == ("net.ipv4.ip_forward",)
    assert (root / "net" / "ipv4" / "ip_forward").read_text() == "1\n"
    assert sysctl.read("net.ipv4.ip_forward") == "1"
    assert sysctl.ensure(wanted) == ()  # in place already: nothing written


def test_the_default_root_is_proc_sys() -> None:
    assert sysctl.path_of("net.ipv4.ip_forward") == "/proc/sys/net/ipv4/ip_forward"
