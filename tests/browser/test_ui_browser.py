"""The web view in a real browser: chromium (through Playwright) against a real romanad that
holds the demo's world (:mod:`support.uiworld`).

Each page's numbers are checked against the REST API's answers; the decode box must decode
as an address is typed; a reachability cell must open the explanation ``romana explain``
prints for the same pair (the CLI is run as a process); a tenant user must see only its
tenant, in the browser and through the view's routes asked directly; logging out must clear
the cookie and send every page back to the login form. Each page's screenshot is written to
docs/ui/, which docs/ui.md shows.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from romana.client import Client, ClientSettings
from romana.client import reach as reach_client
from romana.core.policy import listing, reach
from romana.demo.__main__ import OPENED
from romana.lab.browser import Browser
from romana.lab.romanad import Romanad
from support import uiworld

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "ui"
CLI = Path(sys.executable).with_name("romana")
USED = re.compile(r"(\d+) / (\d+)")


def shot(page: Browser, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.do("screenshot", path=str(SHOTS / f"{name}.png"))


def log_in(page: Browser, username: str, password: str) -> None:
    page.do("goto", url="/ui/login")
    if page.do("url").endswith("/ui/topology"):
        return
    page.do("fill", selector="#username", text=username)
    page.do("fill", selector="#password", text=password)
    page.do("click", selector="#login")
    page.do("wait_url", pattern="**/ui/topology")


def session(page: Browser) -> dict[str, object] | None:
    return next((c for c in page.do("cookies") if c["name"] == "romana_ui"), None)


def http(romanad: Romanad, page: Browser) -> httpx.Client:
    """Plain HTTP requests with the browser's session cookie."""
    cookie = session(page)
    assert cookie is not None
    client = httpx.Client(base_url=romanad.url, timeout=30, trust_env=False)
    client.cookies.set("romana_ui", str(cookie["value"]), path="/ui")
    return client


@pytest.fixture(scope="module")
def blue_page(browser_bin: Path, romanad: Romanad, world: uiworld.World) -> Iterator[Browser]:
    with Browser(browser_bin, romanad.url) as b:
        log_in(b, uiworld.BLUE_USER, world.blue_password)
        yield b


def test_login_opens_the_topology_of_every_host(
    page: Browser, romanad: Romanad, admin: Client
) -> None:
    assert page.do("goto", url="/ui/topology").endswith("/ui/login")
    shot(page, "login")
    log_in(page, *romanad.admin())
    cookie = session(page)
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.do("text", selector="#who").startswith("admin (admin")
    hosts = {h["name"]: h for h in admin.list_hosts()}
    shown = page.do("texts", selector="li.host")
    assert len(shown) == len(hosts) == 3
    for text in shown:
        name = text.split()[0]
        for prefix in hosts[name]["prefixes"].values():
            assert prefix in text, (name, prefix)
    host_1 = next(t for t in shown if t.startswith("host-1"))
    assert "routing direct" in host_1
    assert "romana 0.1.0, last reconcile 3 s before that (revision 7)" in host_1
    assert "no routing report" in next(t for t in shown if t.startswith("host-2"))
    assert page.do("errors") == []
    shot(page, "topology")


def test_the_address_plan_is_drawn_to_scale_and_decodes_as_you_type(
    page: Browser, romanad: Romanad, admin: Client, world: uiworld.World
) -> None:
    log_in(page, *romanad.admin())
    page.do("goto", url="/ui/plan")
    sections = page.do("attrs", selector="section.network", name="data-network")
    networks = admin.list_networks()
    assert sections == [n["name"] for n in networks]
    for net in networks:
        widths = page.do(
            "attrs", selector=f'section[data-network="{net["name"]}"] svg rect', name="width"
        )
        bits = [
            ipaddress.ip_network(net["cidr"]).prefixlen,
            net["topology_bits"],
            net["tenant_bits"],
            net["segment_bits"],
            net["endpoint_bits"],
        ]
        total = sum(bits)
        assert [round(float(w) * total / 640) for w in widths] == [b for b in bits if b]
    address = world.allocations["green-web-2"]
    page.do("type", selector="#decode-address", text=address)
    page.do("wait_text", selector="#decoded", text="green-web-2")
    decoded = admin.decode(address)
    text = page.do("text", selector="#decoded")
    for value in (decoded["host"], decoded["host_prefix"], decoded["tenant"], decoded["segment"]):
        assert str(value) in text
    assert f"ordinal {decoded['ordinal']}" in text
    assert page.do("errors") == []
    shot(page, "plan")


def expected_usage(admin: Client) -> tuple[dict[tuple[str, str], tuple[int, int]], ...]:
    networks = admin.list_networks()
    hosts, tenants = admin.list_hosts(), admin.list_tenants()
    by_host: dict[tuple[str, str], int] = {}
    by_tenant: dict[tuple[str, str], int] = {}
    for alloc in admin.list_allocations():
        for address in alloc["addresses"]:
            ip = ipaddress.ip_interface(address).ip
            net = next(n for n in networks if ip in ipaddress.ip_network(n["cidr"]))
            key = (alloc["host"], net["name"])
            by_host[key] = by_host.get(key, 0) + 1
            key = (alloc["tenant"], net["name"])
            by_tenant[key] = by_tenant.get(key, 0) + 1
    host_rows, tenant_rows = {}, {}
    for net in networks:
        per_range = 2 ** net["endpoint_bits"] - 2
        ranges = sum(len(t["segments"]) for t in tenants if net["name"] in t["ids"])
        for h in hosts:
            host_rows[h["name"], net["name"]] = (by_host.get((h["name"], net["name"]), 0),
                                                 ranges * per_range)  # fmt: skip
        for t in tenants:
            capacity = len(hosts) * len(t["segments"]) * per_range
            tenant_rows[t["name"], net["name"]] = (by_tenant.get((t["name"], net["name"]), 0),
                                                   capacity)  # fmt: skip
    return host_rows, tenant_rows


def shown_usage(page: Browser, table: str) -> list[tuple[tuple[str, str], tuple[int, int]]]:
    rows = []
    for text in page.do("texts", selector=f"#{table} tbody tr"):
        name, network, *_ = text.split("\t")
        found = USED.search(text)
        assert found is not None, text
        rows.append(((name.strip(), network.strip()), (int(found[1]), int(found[2]))))
    return rows


def test_usage_shows_the_rest_apis_numbers_fullest_first(
    page: Browser, romanad: Romanad, admin: Client
) -> None:
    log_in(page, *romanad.admin())
    page.do("goto", url="/ui/usage")
    want_hosts, want_tenants = expected_usage(admin)
    hosts, tenants = shown_usage(page, "usage-hosts"), shown_usage(page, "usage-tenants")
    assert dict(hosts) == want_hosts and dict(tenants) == want_tenants
    # host-1 and blue hold the extra endpoints: nearest exhaustion, listed first.
    assert hosts[0][0] == ("host-1", "pods") and tenants[0][0] == ("blue", "pods")
    shares = [used / capacity for _, (used, capacity) in hosts]
    assert shares == sorted(shares, reverse=True)
    shot(page, "usage")


def test_tenants_and_policies_in_evaluation_order(
    page: Browser, romanad: Romanad, admin: Client
) -> None:
    log_in(page, *romanad.admin())
    page.do("goto", url="/ui/tenants")
    rows = page.do("texts", selector="#tenants tbody tr")
    tenants = admin.list_tenants()
    assert [r.split("\t")[0] for r in rows] == [t["name"] for t in tenants]
    for row, tenant in zip(rows, tenants, strict=True):
        for segment in tenant["segments"]:
            assert segment in row
        assert tenant["isolation"]["mode"] in row
    policies = page.do("texts", selector="#policies tbody tr")
    ordered = listing.ordered(admin.list_policies(), tenants)
    assert [p.split("\t")[1] for p in policies] == [p["id"] for p in ordered]
    isolation = [p for p in policies if p.split("\t")[1].startswith(listing.ISOLATION_PREFIX)]
    assert {p.split("\t")[1] for p in isolation} == {
        listing.ISOLATION_PREFIX + t["name"] for t in tenants if t["isolation"]["mode"] == "romana"
    }
    assert all("baseline" in p and "first" in p for p in isolation)
    blue_db = sum(
        1 for a in admin.list_allocations() if (a["tenant"], a["segment"]) == ("blue", "db")
    )
    stored = [p for p in policies if p not in isolation]
    assert stored and all(f"tenant blue, segment db — {blue_db} endpoints now" in p for p in stored)
    shot(page, "tenants")


def romana_explain(romanad: Romanad, admin: Client, *args: str) -> dict[str, Any]:
    env = {**os.environ, "ROMANA_URL": romanad.url, "ROMANA_TOKEN": admin.token}
    env["ROMANA_CONFIG"] = str(romanad.workdir / "cli-config.toml")
    argv = [str(CLI), "explain", *args, "--json"]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_reachability_cells_open_romana_explains_explanation(
    page: Browser, romanad: Romanad, admin: Client, world: uiworld.World
) -> None:
    log_in(page, *romanad.admin())
    page.do("goto", url="/ui/reach?port=tcp/80")
    cells = page.do("attrs", selector="a.cell", name="data-from")
    n = len(world.allocations)
    assert len(cells) == n * (n - 1)
    # Every cell: the verdict the explainer gives on the model romana explain reads.
    explainer = reach.Explainer(reach_client.model(admin))
    verdicts = page.do("texts", selector="a.cell")
    froms = page.do("attrs", selector="a.cell", name="data-from")
    tos = page.do("attrs", selector="a.cell", name="data-to")
    by_address = {a: name for name, a in world.allocations.items()}
    for verdict, source, target in zip(verdicts, froms, tos, strict=True):
        allowed = explainer.explain(source, target, "tcp/80").allowed
        assert verdict == ("allowed" if allowed else "denied"), (source, target)
        s, d = (by_address[source].split("-")[:2], by_address[target].split("-")[:2])
        assert allowed == (s == d or (*s, *d) in OPENED), (source, target)
    source, target = world.allocations["green-web-2"], world.allocations["blue-db-2"]
    page.do("click", selector=f'a.cell[data-from="{source}"][data-to="{target}"]')
    page.do("wait_text", selector="#explanation", text="allowed by policy")
    shown = page.do("text", selector="#explanation")
    cli = romana_explain(romanad, admin, "--from", source, "--to", target, "--port", "tcp/80")
    for step in ("egress", "ingress"):
        for line in cli[step]["decided_by"]:
            assert line in shown, line
    with http(romanad, page) as client:
        viewed = client.get(
            "/ui/api/explain", params={"from": source, "to": target, "port": "tcp/80"}
        )
        assert viewed.json() == cli
    shot(page, "reachability")
    denied = world.allocations["green-db-1"]
    cli = romana_explain(romanad, admin, "--from", denied, "--to", target, "--port", "tcp/80")
    page.do("click", selector=f'a.cell[data-from="{denied}"][data-to="{target}"]')
    page.do("wait_text", selector="#explanation", text=str(cli["ingress"]["decided_by"][0]))
    assert cli["allowed"] is False
    assert page.do("errors") == []


def test_a_tenant_user_sees_only_its_own_tenant(
    blue_page: Browser, romanad: Romanad, world: uiworld.World
) -> None:
    blue_page.do("goto", url="/ui/tenants")
    assert [r.split("\t")[0] for r in blue_page.do("texts", selector="#tenants tbody tr")] == [
        "blue"
    ]
    with Client(ClientSettings(url=(romanad.url,))) as blue:
        blue.login(uiworld.BLUE_USER, world.blue_password)
        ids = [p["id"] for p in listing.ordered(blue.list_policies(), blue.list_tenants())]
    assert ids[-1] == listing.ISOLATION_PREFIX + "blue"
    assert [p.split("\t")[1] for p in blue_page.do("texts", selector="#policies tbody tr")] == ids
    shot(blue_page, "tenant-user")
    for page in ("topology", "usage", "reach"):
        blue_page.do("goto", url=f"/ui/{page}")
        assert "may not read" in blue_page.do("text", selector="p.refused")
    green = world.allocations["green-web-2"]
    blue_page.do("goto", url="/ui/plan")
    blue_page.do("type", selector="#decode-address", text=green)
    blue_page.do("wait_text", selector="#decode-result", text="no tenant you may read")
    # The view's routes asked directly answer no more than the pages show.
    with http(romanad, blue_page) as client:
        assert client.get(f"/ui/api/decode/{green}").status_code == 404
        assert client.get(f"/ui/api/decode/{world.allocations['blue-db-2']}").status_code == 200
        assert ">green<" not in client.get("/ui/tenants").text
        assert "green-web-2" not in client.get("/ui/plan", params={"address": green}).text
        explained = client.get(
            "/ui/api/explain", params={"from": green, "to": green, "port": "tcp/80"}
        )
        assert explained.status_code == 403


def test_logout_clears_the_cookie_and_pages_go_back_to_login(
    blue_page: Browser, romanad: Romanad
) -> None:
    blue_page.do("goto", url="/ui/tenants")
    cookie = session(blue_page)
    assert cookie is not None
    blue_page.do("click", selector="#logout")
    blue_page.do("wait_text", selector="#message", text="You are logged out.")
    assert session(blue_page) is None
    for page in ("topology", "plan", "usage", "tenants", "reach"):
        assert blue_page.do("goto", url=f"/ui/{page}").endswith("/ui/login")
    # The old cookie's token is revoked, not just forgotten by the browser.
    with httpx.Client(base_url=romanad.url, trust_env=False) as client:
        client.cookies.set("romana_ui", str(cookie["value"]), path="/ui")
        assert client.get("/ui/tenants").headers["location"] == "/ui/login"
