"""Waiting for something the system does shortly after answering, with a deadline.

CNI DEL answers once the workload is disconnected; forgetting its flows and returning its
address to romanad follow within milliseconds. Tests that assert on such follow-ups wait for
them here instead of sleeping a fixed time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

RELEASE_WITHIN = 5.0
"""Seconds a released address may take to leave romanad after DEL answered."""


def eventually(check: Callable[[], bool], within: float = RELEASE_WITHIN) -> bool:
    """Poll ``check`` every 20 ms until it holds or ``within`` seconds have passed."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return check()
