"""``POST /v1/allocations`` with ``address``: exactly that address, idempotently, or a refusal
naming the field and the rule, over a real romanad process."""

from __future__ import annotations

import ipaddress

import httpx

from unit.api.conftest import Api


def _next(address: str, by: int) -> str:
    return str(ipaddress.ip_address(address) + by)


def _refused(c: httpx.Client, body: dict[str, str], status: int) -> str:
    """The refusal's detail; asserts its status and that the key was not allocated."""
    r = c.post("/v1/allocations", json=body)
    assert r.status_code == status, r.text
    if status == 422:
        assert [i["field"] for i in r.json()["issues"]] == ["address"], r.text
    assert c.get(f"/v1/allocations/{body['key']}").status_code == 404
    detail: str = r.json()["detail"]
    return detail


def test_a_requested_address_is_allocated_exactly_and_idempotently(api: Api) -> None:
    c = api.admin
    assert c.post("/v1/tenants", json={"name": "pinned"}).status_code == 201
    base = {"host": "h1", "tenant": "pinned"}
    lowest = c.post("/v1/allocations", json={**base, "key": "pin-0"}).json()["addresses"][0]
    wanted = _next(lowest, 5)
    body = {**base, "key": "pin-1", "address": wanted}
    first = c.post("/v1/allocations", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["addresses"] == [wanted]
    again = c.post("/v1/allocations", json=body)
    assert (again.status_code, again.json()) == (200, first.json())
    assert c.get(f"/v1/decode/{wanted}").json()["allocation"]["key"] == "pin-1"

    taken = _refused(c, {**body, "key": "pin-2"}, 409)
    assert taken == f"address {wanted} is allocated to key 'pin-1'"
    other = c.post("/v1/allocations", json={**body, "address": _next(wanted, 1)})
    assert other.status_code == 409, other.text
    assert other.json()["detail"] == (
        f"key 'pin-1' holds {wanted}, not the requested address {_next(wanted, 1)}; release "
        "it first, or use another key"
    )
    # The lowest free address skips the requested one.
    plain = [c.post("/v1/allocations", json={**base, "key": f"pin-n{i}"}) for i in range(5)]
    assert [r.json()["addresses"][0] for r in plain] == [_next(lowest, i) for i in (1, 2, 3, 4, 6)]


def test_an_address_the_request_does_not_encode_is_422_naming_the_field(api: Api) -> None:
    c = api.admin
    assert c.post("/v1/tenants", json={"name": "strict"}).status_code == 201
    on_h2 = {"host": "h2", "tenant": "strict", "key": "strict-h2"}
    theirs = c.post("/v1/allocations", json=on_h2).json()["addresses"][0]
    mine = c.post("/v1/allocations", json={**on_h2, "host": "h1", "key": "strict-h1"}).json()
    h1 = c.get("/v1/hosts/h1").json()["prefixes"]["pods"]
    h2 = c.get("/v1/hosts/h2").json()["prefixes"]["pods"]
    body = {"host": "h1", "tenant": "strict", "key": "strict-x"}
    wrong_host = _refused(c, {**body, "address": _next(theirs, 1)}, 422)
    assert wrong_host == (
        f"address: {_next(theirs, 1)} encodes host 'h2' ({h2}), not host 'h1' ({h1})"
    )
    gateway = c.get("/v1/hosts/h1").json()["gateways"]["pods"]
    assert "is the gateway of host 'h1'" in _refused(c, {**body, "address": gateway}, 422)
    assert c.post("/v1/tenants", json={"name": "strict-b"}).status_code == 201
    foreign = _refused(c, {**body, "tenant": "strict-b", "address": mine["addresses"][0]}, 422)
    assert ", not tenant 'strict-b' (id " in foreign
    assert "is not an IP address" in _refused(c, {**body, "address": "10.0.0.300"}, 422)


def test_a_holder_the_caller_may_not_read_is_not_named(api: Api) -> None:
    c = api.admin
    assert c.post("/v1/tenants", json={"name": "roamer"}).status_code == 201
    body = {"host": "h1", "tenant": "roamer", "key": "roamer-vm"}
    address = c.post("/v1/allocations", json=body).json()["addresses"][0]
    assert c.put("/v1/allocations/roamer-vm/host", json={"host": "h2"}).status_code == 200
    wanted = {**body, "key": "roamer-2", "address": address}
    agent = api.user("agent-h1-pin", "agent", host="h1")
    assert _refused(agent, wanted, 409) == f"address {address} is already allocated"
    assert _refused(c, wanted, 409) == f"address {address} is allocated to key 'roamer-vm'"
