"""The agent's probe endpoints on its metrics server, as the DaemonSet's kubelet calls them:
alive at once, ready only after a host view from romanad was reconciled."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path

from agent_fakes import FakeDataplane, host_view

from romana.agent import ledger
from romana.agent.metrics import Metrics
from romana.agent.reconciler import Reconciler


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_alive_at_once_ready_after_the_first_reconciled_view_and_metrics_still_served(
    tmp_path: Path,
) -> None:
    metrics = Metrics()
    registry = ledger.Ledger(tmp_path / "state")
    registry.load()
    dp = FakeDataplane()
    reconciler = Reconciler(
        ledger=registry,
        metrics=metrics,
        make_dataplane=lambda: dp,  # type: ignore[arg-type, return-value]
        make_reaper=lambda: dp,  # type: ignore[arg-type, return-value]
        mtu=lambda: 1500,
        interval=3600,
    )
    server, thread = metrics.serve("127.0.0.1:0")
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        assert get(f"{base}/healthz")[0] == 200
        assert get(f"{base}/readyz")[0] == 503

        async def scenario() -> None:
            task = asyncio.create_task(reconciler.run())
            no_view = await reconciler.reconcile(full=True)
            assert not no_view.ok
            assert get(f"{base}/readyz")[0] == 503, "a reconcile without a view is not ready"
            reconciler.set_view(host_view(1))
            assert (await reconciler.reconcile()).ok
            task.cancel()

        asyncio.run(scenario())
        assert get(f"{base}/readyz") == (200, b"ok\n")
        status, body = get(f"{base}/metrics")
        assert status == 200 and b"romana_agent_synced 1.0" in body
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
