"""Many agents long-polling their views at once: one change wakes every one of them at once,
changes that concern none of them wake none, and each gets the change in its view."""

from __future__ import annotations

import threading
import time
from typing import Any

from unit.api.conftest import Api

WAITERS = 60
WAIT = 30.0


def _policy(name: str, applied_to: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "name": name,
        "applied_to": applied_to,
        "ingress": [{"peers": [{"cidr": "10.1.0.0/16"}], "rules": [{"protocol": "tcp"}]}],
    }


def test_one_change_reaches_every_waiting_agent_quickly(api: Api) -> None:
    token = api.admin.headers["Authorization"].removeprefix("Bearer ")
    # A tenant no host holds an address of: its policies are in no view and wake no one.
    assert api.admin.post("/v1/tenants", json={"name": "lp-elsewhere"}).status_code == 201
    hosts = [("h1", "h2")[i % 2] for i in range(WAITERS)]
    after = {h: api.admin.get(f"/v1/hosts/{h}/view").json()["revision"] for h in set(hosts)}
    answered: list[tuple[float, dict[str, Any]] | None] = [None] * WAITERS
    ready = threading.Barrier(WAITERS + 1)

    def wait(i: int) -> None:
        with api.client(token) as client:
            client.timeout = WAIT + 30
            ready.wait()
            r = client.get(
                f"/v1/hosts/{hosts[i]}/view", params={"after": after[hosts[i]], "wait": WAIT}
            )
            answered[i] = (time.monotonic(), r.json())

    threads = [threading.Thread(target=wait, args=(i,)) for i in range(WAITERS)]
    for t in threads:
        t.start()
    ready.wait()
    time.sleep(1.0)  # every request is waiting by now
    for n in range(10):
        noise = _policy(f"lp-noise-{n}", [{"tenant": "lp-elsewhere"}])
        assert api.admin.post("/v1/policies", json=noise).is_success
    time.sleep(0.5)
    assert not any(answered), "a change that concerns no host woke a wait"
    changed = time.monotonic()
    assert api.admin.post("/v1/policies", json=_policy("lp-all", [{"dest": "host"}])).is_success
    for t in threads:
        t.join(timeout=WAIT + 60)
    assert all(answered)
    latest = max(when for when, _ in filter(None, answered))
    assert latest - changed < 5.0, f"the last wait answered {latest - changed:.1f}s after"
    for _, view in filter(None, answered):
        assert "lp-all" in {p["name"] for p in view["policies"]}
        assert view["revision"] > after[view["host"]["name"]]
