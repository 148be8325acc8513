"""Entering namespaces: never creates one, and reports a bad path clearly."""

from __future__ import annotations

import pytest

from romana.core.errors import InvalidInput, NotFound
from romana.dataplane import netns


def test_none_means_stay_where_we_are() -> None:
    with netns.entered(None):
        assert netns.same(netns.THREAD_NETNS, "/proc/self/ns/net")


def test_a_missing_namespace_is_not_found_and_not_created(tmp_path: object) -> None:
    missing = f"{tmp_path}/gone"
    with pytest.raises(NotFound, match="does not exist"), netns.entered(missing):
        pytest.fail("the block must not run")


def test_a_file_that_is_not_a_namespace_is_invalid_input(tmp_path: object) -> None:
    path = f"{tmp_path}/plain"
    with open(path, "w") as f:
        f.write("x")
    with pytest.raises(InvalidInput, match="not a network namespace"), netns.entered(path):
        pytest.fail("the block must not run")
    assert netns.same(netns.THREAD_NETNS, "/proc/self/ns/net")
