"""The bodies of the Topology, Address plan, Usage and Tenants and policies pages.

Each function takes one user's :class:`~romana.api.ui.reads.Reads` and returns the page's
markup; it reads the store, so the web routes run it off the event loop. A section whose
REST read the user is refused shows the API's own refusal (a tenant user reads its tenant's
tenants, policies and addresses, not the topology), never a part computed from what it may
not see.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from romana.api.ui import views
from romana.api.ui.html import bar, esc, refused, table
from romana.api.ui.reads import Reads
from romana.core.errors import RomanaError
from romana.core.policy import listing

T = TypeVar("T")
SVG_WIDTH = 640


def _read(what: str, read: Callable[[], T]) -> T | str:
    """``read()``, or the refusal markup when the REST API refuses or fails it."""
    try:
        return read()
    except RomanaError as exc:
        return refused(what, exc)


def _prefixes(prefixes: Mapping[str, str]) -> str:
    return " ".join(
        f'<code class="prefix">{esc(net)} {esc(cidr)}</code>' for net, cidr in prefixes.items()
    )


def _agent(report: Mapping[str, Any] | None) -> str:
    if report is None:
        return '<span class="agent none">no routing report from its agent</span>'
    sessions = report.get("sessions") or []
    up = sum(1 for s in sessions if str(s.get("state", "")).lower() == "established")
    text = f"agent reported {float(report['age']):.0f} s ago, routing {report['mode']}"
    agent = report.get("agent") or {}
    if agent:
        text += f", romana {agent.get('version')}"
        if agent.get("reconciled_at") is not None:
            ago = max(0.0, float(report["reported_at"]) - float(agent["reconciled_at"]))
            text += f", last reconcile {ago:.0f} s before that"
            if agent.get("revision") is not None:
                text += f" (revision {agent['revision']})"
            if agent.get("errors"):
                text += f" with {agent['errors']} errors"
    if sessions:
        text += f", BGP sessions {up}/{len(sessions)} established"
    if report.get("errors"):
        text += f"; errors: {'; '.join(map(str, report['errors']))}"
    return f'<span class="agent">{esc(text)}</span>'


def _node(node: Mapping[str, Any], reports: Mapping[str, Mapping[str, Any]]) -> str:
    hosts = "".join(
        f'<li class="host" data-host="{esc(h["name"])}"><strong>{esc(h["name"])}</strong> '
        f"<code>{esc(h['ip'])}</code> {_prefixes(h.get('prefixes') or {})} "
        f"{_agent(reports.get(str(h['name'])))}</li>"
        for h in node.get("hosts") or []
    )
    groups = "".join(_node(g, reports) for g in node.get("groups") or [])
    return (
        f'<li class="group"><span class="group-name">{esc(node.get("name") or "(root)")}</span> '
        f"{_prefixes(node.get('prefixes') or {})}<ul>{hosts}{groups}</ul></li>"
    )


def topology(reads: Reads) -> str:
    tree = _read("the topology", reads.topology_tree)
    if isinstance(tree, str):
        return tree
    routing = _read("the agents' routing reports", reads.list_routing)
    reports = {} if isinstance(routing, str) else {str(r["host"]): r for r in routing}
    out = [] if not isinstance(routing, str) else [routing]
    for i, topo in enumerate(tree.get("topologies") or []):
        nets = ", ".join(topo.get("networks") or [])
        out.append(
            f"<section><h2>Tree {i + 1}: networks {esc(nets)}</h2>"
            f'<ul class="tree">{_node(topo["root"], reports)}</ul></section>'
        )
    for name in tree.get("unplaced_networks") or []:
        out.append(f'<p class="note">network {esc(name)} is in no tree: no host uses it</p>')
    out += [f'<p class="warning">{esc(w)}</p>' for w in tree.get("warnings") or []]
    return "".join(out) or '<p class="note">no topology applied yet</p>'


def _layout_svg(network: Mapping[str, Any]) -> str:
    fields = views.fields(network)
    total = sum(f.bits for f in fields) or 1
    scale = SVG_WIDTH / total
    parts = []
    for f in fields:
        if not f.bits:
            continue
        x, width = f.offset * scale, f.bits * scale
        parts.append(
            f'<g class="field field-{esc(f.name.split()[0])}"><rect x="{x:.2f}" y="0" '
            f'width="{width:.2f}" height="36"></rect><text x="{x + width / 2:.2f}" y="23" '
            f'text-anchor="middle">{esc(f.bits)}</text><title>{esc(f.name)}: {f.bits} bits'
            "</title></g>"
        )
    return (
        f'<svg class="layout" viewBox="0 0 {SVG_WIDTH} 36" width="{SVG_WIDTH}" height="36" '
        f'role="img" aria-label="field layout of {esc(network["name"])}">{"".join(parts)}</svg>'
    )


def _decoded(d: Mapping[str, Any]) -> str:
    alloc = d.get("allocation") or {}
    tenant = f"{d['tenant'] or '(none)'} (id {d['tenant_id']})"
    segment = f"{d['segment'] or '(none)'} (id {d['segment_id']})"
    endpoint = f"ordinal {d['ordinal']}" + (" (host gateway)" if d.get("is_gateway") else "")
    rows = (
        ("Address", d["address"]),
        ("Network", d["network"]),
        ("Host", f"{d['host'] or '(none)'} (index {d['host_index']})"),
        ("Host prefix", d["host_prefix"]),
        ("Tenant", tenant),
        ("Segment", segment),
        ("Endpoint", endpoint),
        ("Allocation", alloc.get("key") or "(free)"),
    )
    return table(("Field", "Value"), ((esc(k), esc(v)) for k, v in rows), ident="decoded")


def plan(reads: Reads, address: str = "") -> str:
    networks = _read("the networks", reads.list_networks)
    out = []
    if isinstance(networks, str):
        out.append(networks)
    else:
        for net in networks:
            fields = views.fields(net)
            legend = table(
                ("Field", "Bits", "Bit positions"),
                (
                    (esc(f.name), esc(f.bits), esc(f"{f.offset}–{f.offset + f.bits - 1}"))
                    for f in fields
                    if f.bits
                ),
                cls="fields",
            )
            blackouts = ", ".join(net.get("blackouts") or []) or "none"
            host_bits = fields[0].bits + fields[1].bits
            out.append(
                f'<section class="network" data-network="{esc(net["name"])}">'
                f"<h2>{esc(net['name'])} <code>{esc(net['cidr'])}</code></h2>"
                f"{_layout_svg(net)}{legend}<p>host blocks /{esc(host_bits)}; "
                f"{esc(views.endpoints_per_range(net))} endpoints per host, tenant and segment; "
                f"blackouts: {esc(blackouts)}</p></section>"
            )
    result = ""
    if address:
        answer = _read(f"decoding {address}", lambda: reads.decode(address))
        result = answer if isinstance(answer, str) else _decoded(answer)
    out.append(
        '<section><h2>Decode an address</h2><form method="get" action="/ui/plan">'
        '<input name="address" id="decode-address" autocomplete="off" spellcheck="false" '
        f'placeholder="10.1.17.1" value="{esc(address)}"> '
        '<button type="submit">Decode</button></form>'
        f'<div id="decode-result" aria-live="polite">{result}</div></section>'
    )
    return "".join(out)


def _uses(rows: Sequence[views.Use], kind: str, ident: str) -> str:
    return table(
        (kind, "Network", "Endpoint addresses used"),
        ((esc(u.name), esc(u.network), bar(u.used, u.capacity)) for u in rows),
        ident=ident,
        cls="usage",
    )


def usage(reads: Reads) -> str:
    def gather() -> tuple[Any, ...]:
        return (
            reads.list_networks(),
            reads.list_hosts(),
            reads.list_tenants(),
            reads.list_allocations(),
        )

    read = _read("the address plan, hosts and allocations", gather)
    if isinstance(read, str):
        return read
    hosts, tenants = views.usage(*read)
    return (
        "<p>Each host and tenant, in each network: the endpoint addresses its ranges hold "
        "and how many are in use, nearest exhaustion first.</p>"
        f"<h2>Hosts</h2>{_uses(hosts, 'Host', 'usage-hosts')}"
        f"<h2>Tenants</h2>{_uses(tenants, 'Tenant', 'usage-tenants')}"
    )


def _tenant_row(t: Mapping[str, Any]) -> tuple[str, ...]:
    iso = t.get("isolation") or {}
    mode = f"{iso.get('mode', 'romana')}"
    if iso.get("mode", "romana") == "romana":
        mode += f", segments {iso.get('segments', 'isolated')}"
    segments = ", ".join(f"{s} (id {i})" for s, i in (t.get("segments") or {}).items())
    ids = ", ".join(f"{n}: {i}" for n, i in (t.get("ids") or {}).items())
    return (esc(t["name"]), esc(ids), esc(segments), esc(mode))


def _policy_row(n: int, p: Mapping[str, Any], allocations: Sequence[Any] | None) -> tuple[str, ...]:
    selects = []
    for target in p.get("applied_to") or []:
        count = views.selects(target, allocations) if allocations is not None else None
        now = "" if count is None else f" — {count} endpoint{'s' if count != 1 else ''} now"
        selects.append(f"<li>{esc(views.target_text(target))}{esc(now)}</li>")
    peers = [
        f"{direction} {way} {views.target_text(peer)}"
        for direction, way in (("ingress", "from"), ("egress", "to"))
        for rule in p.get(direction) or []
        for peer in rule.get("peers") or []
    ]
    tier = p.get("tier") or "—"
    priority = listing.priority_text(p) or "—"
    action = listing.actions(p)
    return (
        esc(n),
        f"<code>{esc(views.policy_id(p))}</code>",
        esc(tier),
        esc(priority),
        esc(action or "allow"),
        f"<ul>{''.join(selects)}</ul>",
        esc("; ".join(peers) or "—"),
        esc(p.get("description", "")),
    )


def tenants(reads: Reads) -> str:
    found = _read("the tenants", reads.list_tenants)
    out = ["<h2>Tenants</h2>"]
    if isinstance(found, str):
        out.append(found)
    else:
        rows = (_tenant_row(t) for t in found)
        out.append(table(("Tenant", "Ids", "Segments", "Isolation"), rows, ident="tenants"))
    policies = _read("the policies", reads.list_policies)
    out.append("<h2>Policies, in evaluation order</h2>")
    if isinstance(policies, str):
        out.append(policies)
        return "".join(out)
    allocations = None
    with contextlib.suppress(RomanaError):
        allocations = reads.list_allocations()
    ordered = views.evaluation_order(policies, found if not isinstance(found, str) else ())
    out.append(
        "<p>The Admin tier by priority, then every ordinary policy (each <code>deny</code> "
        "before any <code>allow</code>), then the Baseline tier: first the isolation of each "
        "<code>romana</code>-mode tenant, then Baseline policies by priority.</p>"
        + table(
            (
                "#",
                "Policy",
                "Tier",
                "Priority",
                "Action",
                "Applied to (selects)",
                "Peers",
                "Description",
            ),
            (_policy_row(i + 1, p, allocations) for i, p in enumerate(ordered)),
            ident="policies",
        )
    )
    return "".join(out)
