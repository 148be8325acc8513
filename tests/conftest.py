"""Suite-wide pytest configuration: the etcd fixtures, and the test :func:`env.need_root` sees."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support import env

pytest_plugins = ["support.etcd"]


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    # Fixtures are set up inside this hook, so a shared fixture that needs root is charged to
    # the first test that asks for it.
    env.RUNNING.append(item)
    try:
        return (yield)
    finally:
        env.RUNNING.pop()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    env.RUNNING.append(item)
    try:
        return (yield)
    finally:
        env.RUNNING.pop()
