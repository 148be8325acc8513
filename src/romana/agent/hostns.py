"""The host's own network namespaces, which no endpoint may be wired into.

An ADD whose ``netns`` is the agent's own network namespace or the init (host) one is
refused with 422, field ``netns``, whatever path names it (``/proc/<pid>/ns/net``, a bind
mount under ``/run/netns``): the path is resolved and its namespace compared, by device and
inode, with those of ``/proc/thread-self/ns/net`` and ``/proc/1/ns/net`` as they were when
:class:`romana.agent.endpoints.Endpoints` was made. Wiring an endpoint there would put its
address and default route on the host. A path that exists but cannot be resolved
(permission denied, as ``/proc/1/ns/net`` is in some containers) is refused the same way: it
cannot be told apart from those two.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence

from romana.core.errors import InvalidInput, Issue

log = logging.getLogger(__name__)

HOST_NAMESPACES: tuple[tuple[str, str], ...] = (
    ("/proc/thread-self/ns/net", "the agent's own network namespace"),
    ("/proc/1/ns/net", "the init (host) network namespace"),
)
"""Namespaces no endpoint may be wired into: (a path naming it, what it is)."""

NamespaceId = tuple[int, int]
"""(st_dev, st_ino) of a network namespace, the same whichever path names it."""


def namespace_ids(named: Sequence[tuple[str, str]] = HOST_NAMESPACES) -> dict[NamespaceId, str]:
    """The namespaces of ``named`` paths → what they are; a path that cannot be read is left out
    (``/proc/1/ns/net`` needs root)."""
    ids: dict[NamespaceId, str] = {}
    for path, what in named:
        try:
            st = os.stat(path)
        except OSError as exc:
            log.warning("cannot resolve %s (%s): %s", path, what, exc.strerror or exc)
            continue
        key = (st.st_dev, st.st_ino)
        ids[key] = f"{ids[key]} and {what}" if key in ids else what
    return ids


def check(netns: str, refused: Mapping[NamespaceId, str]) -> None:
    """InvalidInput naming ``netns`` when the path resolves to one of the ``refused``
    namespaces, or exists but cannot be resolved (it cannot be told apart from them); a
    path that does not exist is left to the ADD (404)."""
    try:
        st = os.stat(netns)
    except (FileNotFoundError, NotADirectoryError):
        return
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise InvalidInput(
            [Issue("netns", f"{netns} cannot be resolved to a network namespace: {why}")]
        ) from exc
    what = refused.get((st.st_dev, st.st_ino))
    if what:
        raise InvalidInput(
            [Issue("netns", f"{netns} is {what}; an endpoint needs a network namespace of its own")]
        )
