"""The fakes every Docker plugin test starts from: one fake romanad, and hosts 1 and 2 whose
plugins talk to it (:mod:`unit.docker.test_docker_plugin`), each with its own state dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from unit.docker.test_docker_plugin import FakeRomanad, Host


@pytest.fixture
def romanad() -> FakeRomanad:
    return FakeRomanad()


@pytest.fixture
def host_a(romanad: FakeRomanad, tmp_path: Path) -> Host:
    return Host(1, romanad, tmp_path / "a")


@pytest.fixture
def host_b(romanad: FakeRomanad, tmp_path: Path) -> Host:
    return Host(2, romanad, tmp_path / "b")
