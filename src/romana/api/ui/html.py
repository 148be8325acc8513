"""HTML for the web view: escaping, the page frame, tables, bars and the login form.

Every page is a string built here and in the page modules. Invariants:

* Every value that comes from the store or the request passes :func:`esc` (text and
  attribute values alike); only this package's own markup is written unescaped.
* No markup carries a ``style`` attribute, an inline ``<script>`` or an event handler
  attribute: the Content-Security-Policy (:mod:`romana.api.ui.session`) forbids them, so
  sizes are SVG geometry or ``<meter>`` values and behaviour lives in ``/ui/static/ui.js``.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence

from romana.services import auth

PAGES = (
    ("topology", "Topology"),
    ("plan", "Address plan"),
    ("usage", "Usage"),
    ("tenants", "Tenants and policies"),
    ("reach", "Reachability"),
)
"""(path below /ui/, title) of every page, in the order the navigation lists them."""


def esc(value: object) -> str:
    """``value`` as text safe in element content and in quoted attribute values."""
    return html.escape(str(value), quote=True)


def frame(title: str, body: str, *, page: str = "", who: auth.Principal | None = None) -> str:
    """A whole document: head, navigation (with who is logged in and a logout button) and
    ``body`` (markup)."""
    nav = ""
    if who is not None:
        current = ' aria-current="page"'
        links = "".join(
            f'<a href="/ui/{path}"{current if path == page else ""}>{esc(name)}</a>'
            for path, name in PAGES
        )
        tenant = f", tenant {esc(who.tenant)}" if who.tenant else ""
        nav = (
            f'<nav>{links}<span class="who" id="who">{esc(who.username)} '
            f"({esc(who.role)}{tenant})</span>"
            '<form method="post" action="/ui/logout" class="logout">'
            '<button type="submit" id="logout">Log out</button></form></nav>'
        )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · romana</title>"
        '<link rel="icon" href="/ui/static/icon.svg">'
        '<link rel="stylesheet" href="/ui/static/ui.css">'
        '<script src="/ui/static/ui.js" defer></script></head>'
        f'<body><header><span class="brand">romana</span>{nav}</header>'
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )


def login_page(message: str = "", *, error: bool = False, username: str = "") -> str:
    note = ""
    if message:
        note = f'<p class="{"error" if error else "note"}" id="message">{esc(message)}</p>'
    return frame(
        "Log in",
        f"{note}"
        '<form method="post" action="/ui/login" class="login">'
        '<label>Username <input name="username" id="username" autocomplete="username" '
        f'required value="{esc(username)}"></label>'
        '<label>Password <input name="password" id="password" type="password" '
        'autocomplete="current-password" required></label>'
        '<button type="submit" id="login">Log in</button></form>'
        "<p>The same users and passwords as <code>romana login</code>.</p>",
    )


def refused(what: str, reason: object) -> str:
    """What a section shows when the REST API refuses the user its data."""
    return f'<p class="refused">{esc(what)}: {esc(reason)}</p>'


def table(
    headers: Sequence[str], rows: Iterable[Sequence[str]], *, ident: str = "", cls: str = ""
) -> str:
    """A table; ``rows`` hold markup (escape values with :func:`esc`)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    attrs = (f' id="{esc(ident)}"' if ident else "") + (f' class="{esc(cls)}"' if cls else "")
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bar(used: int, capacity: int) -> str:
    """A bar of ``used`` out of ``capacity``, with the numbers beside it."""
    share = used / capacity if capacity else 1.0
    return (
        f'<meter min="0" max="{capacity}" value="{used}" low="{capacity * 0.7:.0f}" '
        f'high="{capacity * 0.9:.0f}" optimum="0"></meter> '
        f'<span class="used">{used}</span> / <span class="capacity">{capacity}</span> '
        f"({share:.1%})"
    )


def options(values: Iterable[str], chosen: str, *, anything: str) -> str:
    """``<option>``s for ``values``, ``chosen`` selected, led by an empty one (``anything``)."""
    out = [f'<option value="">{esc(anything)}</option>']
    for value in values:
        sel = " selected" if value == chosen else ""
        out.append(f'<option value="{esc(value)}"{sel}>{esc(value)}</option>')
    return "".join(out)
