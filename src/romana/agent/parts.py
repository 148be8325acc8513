"""The agent's long-lived collaborators, made once by :func:`romana.agent.main.run`.

The endpoint use cases (:class:`~romana.agent.endpoints.Endpoints`,
:class:`~romana.agent.releases.Releases`) and the view watcher
(:class:`~romana.agent.viewpoll.Watcher`) work on the same host, ledger, reconciler, romanad
client, metrics and romanad connection state; they hold them together in one :class:`Parts`
so that each sees the very same objects. ``Parts`` is frozen: what it names never changes
while the agent runs; the objects it names keep their own state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from romana.agent import view
from romana.agent.ledger import Ledger
from romana.agent.metrics import Metrics
from romana.agent.reconciler import Reconciler
from romana.agent.romanad import Romanad
from romana.core.errors import Unavailable


@dataclasses.dataclass(slots=True)
class Sync:
    """Whether the agent currently hears from romanad; written by the watcher."""

    connected: bool = False
    detail: str = "not connected to romanad yet"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Parts:
    """What the endpoint use cases and the watcher share (see the module docstring)."""

    host: str
    """This host's name in the topology."""
    ledger: Ledger
    reconciler: Reconciler
    romanad: Romanad
    metrics: Metrics
    sync: Sync
    mtu: Callable[[], int]
    """The endpoint MTU now (the underlay's unless configured)."""

    def synced_view(self) -> view.HostView:
        """The host view an endpoint is wired from; Unavailable (retry) before the first one
        came. Once one came, a romanad that is away only makes an allocation wait for it."""
        hv = self.reconciler.host_view
        if hv is None:
            raise Unavailable(f"romana-agent is not synced with romanad: {self.sync.detail}")
        return hv
