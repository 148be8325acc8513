"""Fixtures of the dataplane functional tests: the lab and a routed three-host cluster."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.netns import Lab, lab  # noqa: F401  (the fixture)
from support.routed import Cluster, build


@pytest.fixture
def cluster(lab: Lab) -> Iterator[Cluster]:  # noqa: F811
    """Three hosts with gateways, forwarding and routes in place; no endpoints yet."""
    made = build(lab, 3)
    try:
        yield made
    finally:
        for nl in made.netlink.values():
            nl.close()
