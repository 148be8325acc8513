"""What the host's BIRD says about its BGP sessions and the routes they brought.

BIRD 2 answers ``birdc show protocols all`` and ``birdc show route`` with text meant for
people; :func:`sessions` and :func:`routes` read the few facts the agent reports from it
(:mod:`romana.agent.routing`). The samples the tests read are BIRD 2.0.12's own.

``show protocols all``: one header line per protocol, ``name proto table state since info``,
then its details indented. A BGP protocol's details name its neighbour (``Neighbor
address:``, ``Neighbor AS:``), its session state (``BGP state:``) and, after a failure,
``Last error:``. ``since`` is one word (``02:11:55.873``, or a date once a day old) or two
with a long time format (``2026-12-07 02:11:55``).

``show route``: ``Table master4:``, then per network a line that starts with the network
and describes its first route (``unicast [proto since] * (pref) [AS…]``, ``*`` marking the
best one), its next hops indented below (``via 198.18.0.2 on eth0``), and further routes of
that network on indented lines of their own. A next hop written on the route's line (``via
X on dev [proto …]``, as BIRD 1 did) is read too.

Anything else (the ``BIRD … ready.`` banner, headings, unknown detail lines) is skipped, so
a line BIRD adds in a later release changes nothing read here. Pure: text in, values out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ESTABLISHED = "Established"

_TIME = re.compile(r"^\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?$")
_ROUTE = re.compile(
    r"(?:via\s+(?P<inline_via>\S+).*?)?"
    r"\[(?P<proto>\S+)(?:\s+(?P<since>[^\]]*?))?(?:\s+from\s+(?P<from>\S+))?\]"
    r"\s*(?P<best>\*)?"
)


@dataclass(frozen=True, slots=True)
class Session:
    """One BGP session of the host's BIRD."""

    name: str
    """The BIRD protocol (``romana_<peer>``, :func:`romana.core.render.bird.protocol_name`)."""
    state: str
    """The BGP state: ``Established``, or ``Idle``, ``Connect``, ``Active``, ``OpenSent``,
    ``OpenConfirm``; BIRD's protocol state (``down``) when it names none."""
    info: str = ""
    """What else BIRD says: the last error of a session that is not established."""
    since: str = ""
    """When the protocol last changed state, as BIRD prints it (the host's local time)."""
    peer: str = ""
    """The neighbour's address."""
    peer_as: int = 0

    @property
    def established(self) -> bool:
        return self.state == ESTABLISHED


@dataclass(frozen=True, slots=True)
class Route:
    """One next hop of one route in BIRD's table."""

    dst: str
    via: str
    """The next hop; empty for a route without one (``unreachable``)."""
    protocol: str
    """The BIRD protocol the route came from."""
    best: bool
    """BIRD's best route to ``dst``: the one exported to the kernel."""


def sessions(text: str) -> list[Session]:
    """Every BGP protocol of ``show protocols all`` (or of ``show protocols``, with
    what its one line says)."""
    found: list[Session] = []
    current: dict[str, str] | None = None

    def finish() -> None:
        if current is not None:
            found.append(_session(current))

    for line in text.splitlines():
        if not line.strip():
            continue
        if not line[0].isspace():
            finish()
            current = _header(line)
            continue
        if current is None:
            continue
        key, sep, value = line.strip().partition(":")
        if sep and key in ("BGP state", "Neighbor address", "Neighbor AS", "Last error"):
            current[key] = value.strip()
    finish()
    return found


def _header(line: str) -> dict[str, str] | None:
    words = line.split()
    if len(words) < 4 or words[1] != "BGP":
        return None
    rest = words[4:]
    since = rest[:1]
    if len(rest) > 1 and _TIME.match(rest[1]):
        since = rest[:2]
    info = rest[len(since) :]
    return {"name": words[0], "state": words[3], "since": " ".join(since), "info": " ".join(info)}


def _session(fields: dict[str, str]) -> Session:
    info = fields["info"].split()
    bgp_state = fields.get("BGP state") or (info[0] if info else fields["state"])
    # The info column starts with the BGP state; what follows is the reason.
    reason = " ".join(info[1:]) if info and info[0] == bgp_state else " ".join(info)
    asn = fields.get("Neighbor AS", "")
    return Session(
        name=fields["name"],
        state=bgp_state,
        info=fields.get("Last error", reason) if bgp_state != ESTABLISHED else "",
        since=fields["since"],
        peer=fields.get("Neighbor address", ""),
        peer_as=int(asn) if asn.isdigit() else 0,
    )


def routes(text: str) -> list[Route]:
    """Every route of ``show route``, one per next hop (a route without one: ``via`` '')."""
    found: list[Route] = []
    dst = ""
    current: tuple[str, bool] | None = None
    vias: list[str] = []

    def finish() -> None:
        if current is not None:
            protocol, best = current
            found.extend(Route(dst, via, protocol, best) for via in vias or [""])

    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith(("BIRD ", "Table ")):
            continue
        if not line[0].isspace():
            finish()
            current, vias = None, []
            dst, _, stripped = stripped.partition(" ")
        match = _ROUTE.search(stripped) if "[" in stripped else None
        if match is not None:
            if line[0].isspace():
                finish()
            current = (match["proto"], match["best"] is not None)
            vias = [match["inline_via"]] if match["inline_via"] else []
        elif stripped.startswith("via ") and current is not None:
            vias.append(stripped.split()[1])
    finish()
    return found
