"""Fixtures of the dataplane functional tests: the lab and a routed three-host cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from romana.lab import Lab
from support import env
from support.routed import Cluster, build


@pytest.fixture
def lab() -> Iterator[Lab]:
    """A fresh :class:`Lab`; skipped without root (failed under CI=true)."""
    env.need_root()
    env.need_binary("ip")
    with Lab() as created:
        yield created


@pytest.fixture
def cluster(lab: Lab) -> Iterator[Cluster]:
    """Three hosts with gateways, forwarding and routes in place; no endpoints yet."""
    made = build(lab, 3)
    try:
        yield made
    finally:
        for nl in made.netlink.values():
            nl.close()
