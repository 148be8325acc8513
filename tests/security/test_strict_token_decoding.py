"""A token verifies only exactly as it was issued.

Issue 12, Low: base64 decoding was lenient, so a signature with ``==``, ``***`` or ``$``
appended (characters outside the alphabet were skipped, extra padding ignored) still
verified. Now both parts must be the canonical unpadded base64url text of their bytes: any
character appended, inserted or changed is a 401.

One real romanad over SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from romana.lab.romanad import Romanad
from unit.api.conftest import start


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Romanad, str]]:
    work: Path = tmp_path_factory.mktemp("strict")
    with start(work) as d:
        yield d, d.admin_token()


def _status(d: Romanad, token: str) -> int:
    r = httpx.get(
        f"{d.url}/v1/users", headers={"Authorization": f"Bearer {token}"}, trust_env=False
    )
    return r.status_code


@pytest.mark.parametrize("suffix", ["==", "=", "***", "$", "A", "AA", "AAAA", "+/", "%3D%3D"])
def test_a_token_with_anything_appended_is_refused(
    daemon: tuple[Romanad, str], suffix: str
) -> None:
    d, token = daemon
    assert _status(d, token) == 200
    assert _status(d, token + suffix) == 401


@pytest.mark.parametrize("extra", ["=", "==", "$", "***"])
def test_a_payload_with_anything_inserted_is_refused(
    daemon: tuple[Romanad, str], extra: str
) -> None:
    d, token = daemon
    body, signature = token.split(".")
    for edited in (f"{body}{extra}.{signature}", f"{extra}{body}.{signature}"):
        assert _status(d, edited) == 401, edited


def test_a_token_with_another_spelling_of_the_same_signature_bytes_is_refused(
    daemon: tuple[Romanad, str],
) -> None:
    """A 32-byte signature is 43 characters whose last one carries 2 unused bits: changing
    only them keeps the bytes, so a lenient decoder accepts 4 spellings of one signature."""
    d, token = daemon
    body, signature = token.split(".")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(signature[-1])
    siblings = [alphabet[(last & ~3) | low] for low in range(4) if (last & ~3) | low != last]
    assert len(siblings) == 3
    for c in siblings:
        assert _status(d, f"{body}.{signature[:-1]}{c}") == 401
    assert _status(d, f"{body}.{signature}.{signature}") == 401
