"""Two romanad replicas over one etcd: tokens, state and long-poll wake-ups cross replicas."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from romana.lab.etcd import EtcdCluster
from romana.lab.romanad import Romanad
from support import env
from unit.api.conftest import TOPOLOGY, Api


@pytest.mark.etcd
def test_replicas_share_tokens_state_and_wake_ups(tmp_path: Path) -> None:
    env.need_binary("etcd")
    with EtcdCluster(1) as cluster:
        store = f"etcd://{cluster.client_urls[0].split('://', 1)[1]}/romana-test"
        creds = tmp_path / "admin.credentials"
        one = Romanad(tmp_path, name="one", store=store, credentials=creds).start()
        two = None
        try:
            two = Romanad(tmp_path, name="two", store=store, credentials=creds).start()
            a, b = Api(one), Api(two)
            # A token issued by one replica is accepted by the other.
            token = a.admin.headers["Authorization"]
            assert b.client(token.split()[1]).get("/v1/users").status_code == 200
            assert a.admin.put("/v1/topology", json=TOPOLOGY).status_code == 200
            host = {"name": "h1", "ip": "192.0.2.1", "labels": {"rack": "a"}}
            assert b.admin.post("/v1/hosts", json=host).status_code == 201
            assert b.admin.post("/v1/tenants", json={"name": "web"}).status_code == 201
            assert a.admin.get("/v1/tenants/web").status_code == 200
            revision = b.admin.get("/v1/hosts/h1/view").json()["revision"]
            out: dict[str, Any] = {}

            def poll() -> None:
                started = time.monotonic()
                r = b.admin.get("/v1/hosts/h1/view", params={"after": revision, "wait": 20})
                out["elapsed"], out["view"] = time.monotonic() - started, r.json()

            thread = threading.Thread(target=poll)
            thread.start()
            time.sleep(0.5)
            body = {"key": "k1", "host": "h1", "tenant": "web"}
            assert a.admin.post("/v1/allocations", json=body).status_code == 201
            thread.join()
            assert out["elapsed"] < 5
            assert [e["key"] for e in out["view"]["endpoints"]] == ["k1"]
            services = httpx.get(f"{one.url}/v1/services", trust_env=False).json()
            assert {r["url"] for r in services if r["name"] == "ipam"} == {one.url, two.url}
        finally:
            if two is not None:
                two.stop()
            one.stop()
