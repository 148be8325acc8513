"""Fixtures for the CNI plugin tests: a fake agent on a Unix socket and a network config."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cni_fake_agent import FakeAgent


@pytest.fixture
def socket_dir() -> Iterator[str]:
    # Unix socket paths are limited to 107 bytes; pytest's tmp_path can be longer.
    path = tempfile.mkdtemp(prefix="rcni", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def agent(socket_dir: str) -> Iterator[FakeAgent]:
    fake = FakeAgent(f"{socket_dir}/agent.sock").start()
    yield fake
    fake.stop()


@pytest.fixture
def pending_dir(tmp_path: Path) -> str:
    return str(tmp_path / "pending")


@pytest.fixture
def conf(agent: FakeAgent, pending_dir: str) -> dict[str, Any]:
    """A 1.1.0 plugin configuration pointing at the fake agent, with a static tenant."""
    return {
        "cniVersion": "1.1.0",
        "name": "romana",
        "type": "romana-cni",
        "agent_socket": agent.socket_path,
        "agent_timeout": 5,
        "pending_dir": pending_dir,
        "tenant": "acme",
    }
