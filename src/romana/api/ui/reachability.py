"""The Reachability page: who may reach whom on one port, and why, from ``romana explain``.

The matrix is answered by :class:`romana.core.policy.reach.Explainer` over the model
:func:`romana.client.reach.model` builds from the user's REST reads
(:meth:`romana.api.ui.reads.Reads.model`): the engine, the model and the endpoint names
(addresses) are those of ``romana explain --from A --to B --port P``, so a cell's
explanation (:func:`explanation`, and ``GET /ui/api/explain`` as JSON) is that command's.
A user who may not read the whole model (a tenant user) gets the refusal ``romana explain``
gives it.

Invariant: a matrix has at most :data:`LIMIT` endpoints a side (the page says how many the
filters picked); each host's ruleset is compiled once per page.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from romana.api.ui import views
from romana.api.ui.html import esc, options, refused
from romana.api.ui.reads import Reads
from romana.core.errors import RomanaError
from romana.core.policy import endpoints, reach

LIMIT = 24
DEFAULT_PORT = "tcp/80"


def explain_link(source: str, target: str, port: str) -> str:
    query = urllib.parse.urlencode({"from": source, "to": target, "port": port})
    return f"/ui/reach/explain?{query}"


def _filters(model: endpoints.Model, choice: views.Choice, port: str) -> str:
    tenants = sorted(str(t.name) for t in model.tenants)
    segments = sorted({s for t in model.tenants for s in t.segments})
    namespaces = sorted({n.name for n in model.namespaces} | {p.namespace for p in model.pods})
    hosts = sorted(h.name for h in model.hosts)
    fields = (
        ("tenant", tenants, choice.tenant, "any tenant"),
        ("segment", segments, choice.segment, "any segment"),
        ("namespace", namespaces, choice.namespace, "any namespace"),
        ("host", hosts, choice.host, "any host"),
    )
    selects = "".join(
        f'<label>{esc(name.capitalize())} <select name="{name}" id="pick-{name}">'
        f"{options(values, chosen, anything=anything)}</select></label> "
        for name, values, chosen, anything in fields
    )
    return (
        f'<form method="get" action="/ui/reach" class="pick">{selects}'
        f'<label>Port <input name="port" id="pick-port" value="{esc(port)}" '
        'placeholder="tcp/80"></label> <button type="submit" id="pick-show">Show</button></form>'
    )


def page(reads: Reads, choice: views.Choice, port: str) -> str:
    try:
        model = reads.model()
    except RomanaError as exc:
        return refused("the reachability matrix", exc)
    head = _filters(model, choice, port)
    try:
        probe = reach.Probe.parse(port)
    except RomanaError as exc:
        return head + refused("the port", exc)
    allocations = [a.to_dict() for a in model.allocations]
    pods = [(p.namespace, [str(ip) for ip in p.ips]) for p in model.pods]
    picked, count = views.selected(choice, allocations, pods, LIMIT)
    if not picked:
        return head + '<p class="note">no endpoint matches these filters</p>'
    explainer = reach.Explainer(model)
    rows = []
    for src in picked:
        cells = [f'<th scope="row">{esc(src.label)}</th>']
        for dst in picked:
            if src is dst:
                cells.append('<td class="self">—</td>')
                continue
            try:
                allowed = explainer.explain(src.address, dst.address, probe).allowed
            except RomanaError as exc:
                cells.append(f'<td class="error">{esc(exc)}</td>')
                continue
            verdict = "allowed" if allowed else "denied"
            href = explain_link(src.address, dst.address, str(probe))
            cells.append(
                f'<td class="{verdict}"><a class="cell" href="{esc(href)}" '
                f'data-from="{esc(src.address)}" data-to="{esc(dst.address)}" '
                f'data-port="{esc(probe)}">{verdict}</a></td>'
            )
        rows.append("<tr>" + "".join(cells) + "</tr>")
    header = "".join(f'<th scope="col">{esc(p.label)}</th>' for p in picked)
    more = f" (the first {LIMIT} of {count})" if count > len(picked) else ""
    return (
        f"{head}<p>{esc(len(picked))} endpoints{esc(more)}, {esc(probe)}: row sends to "
        "column. Each cell opens the explanation <code>romana explain</code> gives.</p>"
        f'<table id="matrix" class="matrix"><thead><tr><th>from \\ to</th>{header}</tr>'
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
        '<section id="explanation" aria-live="polite" hidden></section>'
    )


def _step(name: str, step: Mapping[str, Any]) -> str:
    where = f" at host {step['host']}" if step.get("host") else ""
    verdict = "allowed" if step["allowed"] else "denied"
    lines = "".join(f"<li>{esc(line)}</li>" for line in step["decided_by"])
    rule = step.get("rule")
    if rule is not None and rule.get("networkpolicy"):
        lines += (
            f"<li>as {esc(rule['action'])} policy {esc(rule['policy'])} {esc(rule['path'])}, "
            f"peer {esc(rule['peer'])}</li>"
        )
    elif rule is not None:
        lines += f"<li>peer {esc(rule['peer'])}</li>"
    return f'<h3 class="{verdict}">{esc(name)}{esc(where)}: {verdict}</h3><ul>{lines}</ul>'


def _side(label: str, side: Mapping[str, Any], text: str) -> str:
    notes = "".join(f"<li>({esc(n)})</li>" for n in side.get("notes") or [])
    return f"<p><strong>{esc(label)}</strong> {esc(text)}</p><ul>{notes}</ul>"


def explanation(reads: Reads, source: str, target: str, port: str) -> dict[str, Any]:
    """``romana explain --from source --to target --port port --json``'s answer."""
    return reach.Explainer(reads.model()).explain(source, target, port).to_dict()


def explanation_html(reads: Reads, source: str, target: str, port: str) -> str:
    """The explanation of one cell, worded as ``romana explain`` words it."""
    try:
        model = reads.model()
        result = reach.Explainer(model).explain(source, target, port)
    except RomanaError as exc:
        return refused(f"explaining {source} to {target} on {port}", exc)
    d = result.to_dict()
    verdict = "allowed" if result.allowed else "denied"
    notes = "".join(f"<li>note: {esc(n)}</li>" for n in d["notes"])
    return (
        f'<div class="explained" data-allowed="{str(result.allowed).lower()}">'
        f'<p class="verdict {verdict}"><code>{esc(source)} -&gt; {esc(target)} '
        f"{esc(result.probe)}</code>: {verdict}</p>"
        f"{_side('from', d['source'], str(result.source))}"
        f"{_side('to', d['target'], str(result.target))}"
        f"{_step('egress', d['egress'])}{_step('ingress', d['ingress'])}"
        f"<ul>{notes}</ul>"
        f"<p>The same as <code>romana explain --from {esc(source)} --to {esc(target)} "
        f"--port {esc(result.probe)}</code></p></div>"
    )
