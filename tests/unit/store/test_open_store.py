"""``open_store``: every accepted URL form opens the right adapter; bad URLs say what is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from romana.core import errors
from romana.store import etcd, memory, open_store, sqlite


def test_memory_url_opens_a_memory_store() -> None:
    assert isinstance(open_store("memory://"), memory.MemoryStore)


def test_sqlite_url_with_absolute_path(tmp_path: Path) -> None:
    path = tmp_path / "abs.db"
    store = open_store(f"sqlite://{path}")
    try:
        assert isinstance(store, sqlite.SQLiteStore)
        assert path.exists()
    finally:
        store.close()


def test_sqlite_url_with_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    store = open_store("sqlite://data/rel.db")
    try:
        assert (tmp_path / "data" / "rel.db").exists()
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "endpoints", "prefix"),
    [
        ("etcd://127.0.0.1:2379", ("http://127.0.0.1:2379",), ""),
        ("etcd://127.0.0.1:2379/", ("http://127.0.0.1:2379",), ""),
        (
            "etcd://10.0.0.1:2379,etcd-b:12379/romana",
            ("http://10.0.0.1:2379", "http://etcd-b:12379"),
            "/romana/",
        ),
        ("etcd://[::1]:2379/a/b/", ("http://[::1]:2379",), "/a/b/"),
    ],
)
def test_etcd_url_names_endpoints_and_namespace(
    url: str, endpoints: tuple[str, ...], prefix: str
) -> None:
    store = open_store(url)
    try:
        assert isinstance(store, etcd.EtcdStore)
        assert (store.endpoints, store.prefix) == (endpoints, prefix)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "problems"),
    [
        ("", ["is not a URL"]),
        ("/var/lib/romana.db", ["is not a URL"]),
        ("postgres://db/romana", ["unknown scheme 'postgres'"]),
        ("memory://x", ["memory:// takes nothing"]),
        ("sqlite://", ["sqlite needs a file path"]),
        ("sqlite:///", ["sqlite needs a file path"]),
        ("etcd://", ["at least one host:port"]),
        ("etcd://127.0.0.1", ["'127.0.0.1' must be host:port"]),
        ("etcd://:2379", ["':2379' must be host:port"]),
        ("etcd://a:0,b:http,c:2379", ["port '0'", "port 'http'"]),
    ],
)
def test_bad_url_is_invalid_input_on_the_store_field_listing_every_problem(
    url: str, problems: list[str]
) -> None:
    with pytest.raises(errors.InvalidInput) as caught:
        open_store(url)
    issues = caught.value.issues
    assert [i.field for i in issues] == ["store"] * len(problems)
    for issue, expected in zip(issues, problems, strict=True):
        assert expected in issue.rule
    message = str(caught.value)
    assert "memory://" in message and "sqlite:///" in message and "etcd://HOST:PORT" in message
