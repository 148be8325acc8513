"""The ``Lab`` for tests: :mod:`romana.demo.lab` plus a pytest fixture.

Everything is re-exported so tests keep importing ``support.netns``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from romana.demo.lab import *  # noqa: F403 — this module is the tests' name for the lab
from romana.demo.lab import Lab
from support import env


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A fresh :class:`Lab`; skipped without root (failed under CI=true)."""
    env.need_root()
    env.need_binary("ip")
    with Lab() as created:
        yield created
