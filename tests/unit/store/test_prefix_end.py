"""The upper bound of a prefix range, for both adapters: nothing outside the prefix below it."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from romana.store import etcd, sqlitesql


def test_etcd_prefix_end_follows_etcd_rules() -> None:
    assert etcd.prefix_end(b"a/") == b"a0"
    assert etcd.prefix_end(b"a\xff") == b"b"
    assert etcd.prefix_end(b"\xff\xff") == b"\0"
    assert etcd.prefix_end(b"") == b"\0"


def test_sqlite_prefix_end_handles_the_edges_of_unicode() -> None:
    assert sqlitesql.prefix_end("a/") == "a0"
    assert sqlitesql.prefix_end("") is None
    assert sqlitesql.prefix_end("\U0010ffff") is None
    assert sqlitesql.prefix_end("a\U0010ffff") == "b"
    assert sqlitesql.prefix_end("\ud7ff") == "\ue000"


@given(st.text(min_size=1), st.text())
def test_sqlite_bound_separates_keys_with_and_without_the_prefix(prefix: str, key: str) -> None:
    end = sqlitesql.prefix_end(prefix)
    encoded = key.encode("utf-8", "surrogatepass")
    inside = key.startswith(prefix)
    below_end = end is None or encoded < end.encode("utf-8", "surrogatepass")
    at_or_above_start = encoded >= prefix.encode("utf-8", "surrogatepass")
    assert inside == (at_or_above_start and below_end)


@given(st.binary(min_size=1), st.binary())
def test_etcd_bound_separates_keys_with_and_without_the_prefix(prefix: bytes, key: bytes) -> None:
    end = etcd.prefix_end(prefix)
    inside = key.startswith(prefix)
    assert inside == (key >= prefix and (end == b"\0" or key < end))
