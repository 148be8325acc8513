"""On etcd, the signing key and the password hashes are readable with romanad's credentials only.

A real etcd with auth enabled grants user ``romanad`` the store's prefix and nothing else.
romanad started with that user serves and is ready; a client without a user, or with another
user, is refused the keys; romanad without credentials refuses to start, saying why. An
expired token is replaced without failing the request (unit level, a fake gateway).
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from romana.core import errors
from romana.lab.etcd import EtcdCluster
from romana.lab.romanad import Romanad
from romana.store.etcd import EtcdStore
from support import env

pytestmark = pytest.mark.etcd

PREFIX = "/romana/"
PASSWORD = "romanad-secret"


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.fixture(scope="module")
def etcd() -> Iterator[EtcdCluster]:
    """One etcd member with auth on: root, ``romanad`` (readwrite on PREFIX), ``intruder``."""
    binary = env.need_binary("etcd")
    etcdctl = env.need_binary("etcdctl")
    cluster = EtcdCluster(1, binary=binary)
    cluster.start()
    try:
        ctl = [etcdctl, "--endpoints", cluster.client_urls[0]]
        for command in (
            ["user", "add", "root:root-secret"],
            ["role", "add", "root"],
            ["user", "grant-role", "root", "root"],
            ["user", "add", f"romanad:{PASSWORD}"],
            ["role", "add", "romanad"],
            ["role", "grant-permission", "romanad", "--prefix=true", "readwrite", PREFIX],
            ["user", "grant-role", "romanad", "romanad"],
            ["user", "add", "intruder:intruder-secret"],
            ["auth", "enable"],
        ):
            done = subprocess.run([*ctl, *command], capture_output=True, text=True, timeout=20)
            assert done.returncode == 0, (command, done.stderr)
        yield cluster
    finally:
        cluster.stop()


def daemon(tmp_path: Path, etcd: EtcdCluster, **environ: str) -> Romanad:
    port = etcd.members[0].client_port
    made = Romanad(tmp_path, store=f"etcd://127.0.0.1:{port}{PREFIX.rstrip('/')}")
    made.env.update(environ)
    return made


def range_prefix(etcd: EtcdCluster, token: str | None) -> dict[str, Any]:
    key = f"{PREFIX}/romana/v1/auth/".encode()
    body = {"key": b64(key), "range_end": b64(key[:-1] + b"0")}
    headers = {"Authorization": token} if token else {}
    url = f"{etcd.client_urls[0]}/v3/kv/range"
    answer: dict[str, Any] = httpx.post(url, json=body, headers=headers, trust_env=False).json()
    return answer


def token_of(etcd: EtcdCluster, user: str, password: str) -> str:
    url = f"{etcd.client_urls[0]}/v3/auth/authenticate"
    answer = httpx.post(url, json={"name": user, "password": password}, trust_env=False)
    return str(answer.json()["token"])


def test_only_romanads_etcd_user_reads_the_keys(tmp_path: Path, etcd: EtcdCluster) -> None:
    with daemon(
        tmp_path, etcd, ROMANAD_ETCD_USER="romanad", ROMANAD_ETCD_PASSWORD=PASSWORD
    ) as romanad:
        with httpx.Client(base_url=romanad.url, trust_env=False) as http:
            assert http.get("/readyz").status_code == 200
        romanad.admin_token()

    own = range_prefix(etcd, token_of(etcd, "romanad", PASSWORD))
    names = {base64.b64decode(str(kv["key"])).decode() for kv in own["kvs"]}
    assert f"{PREFIX}/romana/v1/auth/signing-key" in names
    assert f"{PREFIX}/romana/v1/auth/users/admin" in names

    anonymous = range_prefix(etcd, None)
    assert "kvs" not in anonymous and "user name is empty" in str(anonymous["message"])
    other = range_prefix(etcd, token_of(etcd, "intruder", "intruder-secret"))
    assert "kvs" not in other and "permission denied" in str(other["message"])


def test_another_etcd_user_is_refused_the_keys(etcd: EtcdCluster) -> None:
    store = EtcdStore(etcd.client_urls, prefix=PREFIX, user="intruder", password="intruder-secret")
    try:
        with pytest.raises(errors.Unavailable, match="refused user 'intruder'"):
            store.get("/romana/v1/auth/signing-key")
    finally:
        store.close()


def test_romanad_without_etcd_credentials_refuses_to_start(
    tmp_path: Path, etcd: EtcdCluster
) -> None:
    romanad = daemon(tmp_path, etcd).spawn()
    assert romanad.process is not None
    assert romanad.process.wait(30) == 1
    log = romanad.log_tail()
    assert "etcd has auth enabled and this store has no etcd user" in log, log


def test_a_wrong_etcd_password_is_named(tmp_path: Path, etcd: EtcdCluster) -> None:
    romanad = daemon(
        tmp_path, etcd, ROMANAD_ETCD_USER="romanad", ROMANAD_ETCD_PASSWORD="wrong"
    ).spawn()
    assert romanad.process is not None
    assert romanad.process.wait(30) == 1
    log = romanad.log_tail()
    assert "refused to authenticate user 'romanad'" in log, log


def test_an_etcd_user_needs_a_prefix() -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        EtcdStore(["127.0.0.1:2379"], user="romanad", password="x")
    assert [i.field for i in caught.value.issues] == ["prefix"]


def test_an_expired_token_is_replaced_once() -> None:
    """The gateway refuses the first token as expired; the store takes a new one and the
    request succeeds, sent twice in all (a refused request was never applied)."""
    seen: list[tuple[str, str | None]] = []
    tokens = iter(["t1", "t2"])

    def handle(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        seen.append((path, request.headers.get("Authorization")))
        if path == "/v3/auth/authenticate":
            assert json.loads(request.content) == {"name": "romanad", "password": "pw"}
            return httpx.Response(200, json={"header": {"revision": "1"}, "token": next(tokens)})
        if request.headers.get("Authorization") == "t1":
            message = "etcdserver: invalid auth token"
            return httpx.Response(401, json={"error": message, "message": message, "code": 16})
        return httpx.Response(200, json={"header": {"revision": "7"}, "succeeded": True})

    store = EtcdStore(
        ["127.0.0.1:2379"],
        prefix="/romana/",
        user="romanad",
        password="pw",
        transport=httpx.MockTransport(handle),
    )
    assert store.txn((), ()).revision == 7
    assert seen == [
        ("/v3/auth/authenticate", None),
        ("/v3/kv/txn", "t1"),
        ("/v3/auth/authenticate", None),
        ("/v3/kv/txn", "t2"),
    ]
