"""The etcd fixtures of the suite, registered by ``pytest_plugins`` in ``tests/conftest.py``.

``etcd_single`` and ``etcd_cluster3`` are module-scoped :class:`romana.lab.etcd.EtcdCluster`
instances; tests sharing one isolate themselves with :func:`romana.lab.etcd.unique_prefix`.
Without the ``etcd`` binary they skip (under ``CI=true``, fail).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from romana.lab.etcd import EtcdCluster
from support import env


def _cluster(size: int) -> Iterator[EtcdCluster]:
    binary = env.need_binary("etcd")
    cluster = EtcdCluster(size, binary=binary)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def etcd_single() -> Iterator[EtcdCluster]:
    """One etcd member, shared by the tests of a module."""
    yield from _cluster(1)


@pytest.fixture(scope="module")
def etcd_cluster3() -> Iterator[EtcdCluster]:
    """Three etcd members on loopback, shared by the tests of a module."""
    yield from _cluster(3)
