"""Kernel errnos become project errors once, at the netlink adapter, chained."""

from __future__ import annotations

import errno

import pytest

from romana.core import errors
from romana.dataplane import nlsock


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        (errno.EEXIST, errors.AlreadyExists),
        (errno.ENODEV, errors.NotFound),
        (errno.ESRCH, errors.NotFound),
        (errno.EPERM, errors.Forbidden),
        (errno.EOPNOTSUPP, errors.Unsupported),
        (errno.EINVAL, errors.InvalidInput),
        (errno.EBUSY, errors.Unavailable),
        (errno.ENETUNREACH, errors.Unavailable),
        (errno.ELOOP, errors.RomanaError),
    ],
)
def test_errnos_map_to_the_exception_tree(code: int, kind: type[errors.RomanaError]) -> None:
    found = nlsock.translate(code, "route add 10.2.0.0/16", where="/run/netns/h1")
    assert type(found) is kind
    assert str(found).startswith(f"netlink route add 10.2.0.0/16: {errno.errorcode[code]} (")
    assert str(found).endswith("in network namespace /run/netns/h1")


def test_temporary_kernel_conditions_are_retryable() -> None:
    assert errors.is_temporary(nlsock.translate(errno.EBUSY, "link add"))
    assert not errors.is_temporary(nlsock.translate(errno.EINVAL, "link add"))
