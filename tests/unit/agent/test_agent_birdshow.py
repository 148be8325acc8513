"""Reading ``birdc`` output: BGP sessions and learned routes.

The files in ``birdc/`` are BIRD 2.0.12's own answers, captured from the two hosts of
tests/functional/agent/test_agent_bgp.py (eBGP, AS 65001 and 65002): sessions up, after the
peer's underlay went down (hold timer expired on one side, neighbour lost on the other), and
the route tables with and without the learned route. The strings written here are shapes
BIRD prints that that lab does not produce (several routes to one network, IPv6, a long time
format, BIRD 1's one-line routes).
"""

from __future__ import annotations

from pathlib import Path

from romana.agent import birdshow
from romana.agent.birdshow import Route, Session

SAMPLES = Path(__file__).parent / "birdc"


def sample(name: str) -> str:
    return (SAMPLES / f"{name}.txt").read_text()


def test_an_established_session_names_its_peer_and_since_when() -> None:
    assert birdshow.sessions(sample("protocols_all_established")) == [
        Session("romana_peer0", "Established", "", "02:11:55.873", "198.18.0.2", 65001)
    ]
    assert birdshow.sessions(sample("protocols_all_established"))[0].established


def test_a_session_that_is_down_says_why() -> None:
    [expired] = birdshow.sessions(sample("protocols_all_hold_timer_expired"))
    assert expired == Session(
        "romana_peer0", "Active", "BGP Error: Hold timer expired", "02:12:04.978",
        "198.18.0.2", 65001,
    )  # fmt: skip
    assert not expired.established
    [idle] = birdshow.sessions(sample("protocols_all_idle"))
    assert (idle.state, idle.info, idle.peer, idle.peer_as) == (
        "Idle", "Error: Neighbor lost", "198.18.0.3", 65002
    )  # fmt: skip


def test_the_short_listing_gives_the_state_without_the_peer() -> None:
    assert birdshow.sessions(sample("protocols")) == [
        Session("romana_peer0", "Established", "", "02:11:55.873")
    ]


def test_other_protocols_and_unknown_lines_are_skipped() -> None:
    text = sample("protocols_all_established").replace(
        "    Neighbor AS:", "    Some new detail:  7\n    Neighbor AS:"
    )
    assert [s.name for s in birdshow.sessions(text)] == ["romana_peer0"]
    assert birdshow.sessions("BIRD 2.0.12 ready.\n") == []
    assert birdshow.sessions("") == []


def test_a_long_time_format_keeps_date_and_time_together() -> None:
    text = (
        "Name       Proto      Table      State  Since         Info\n"
        "romana_tor BGP        ---        start  2026-12-07 02:12:04  Connect       "
        "Socket: Connection refused\n"
        "  BGP state:          Connect\n"
        "    Neighbor address: fd00::1\n"
        "    Neighbor AS:      4200000001\n"
    )
    assert birdshow.sessions(text) == [
        Session("romana_tor", "Connect", "Socket: Connection refused", "2026-12-07 02:12:04",
                "fd00::1", 4200000001),
    ]  # fmt: skip


def test_learned_routes_carry_their_protocol_and_next_hop() -> None:
    expected = [
        Route("10.0.0.0/16", "198.18.0.2", "romana_peer0", True),
        Route("10.128.0.0/16", "", "romana_announce4", True),
    ]
    assert birdshow.routes(sample("route_learned")) == expected
    assert birdshow.routes(sample("route_all_learned")) == expected, "details are skipped"
    assert birdshow.routes(sample("route_withdrawn")) == [expected[1]]


def test_several_routes_to_one_network_and_several_next_hops() -> None:
    text = (
        "BIRD 2.0.12 ready.\n"
        "Table master4:\n"
        "10.0.0.0/16          unicast [romana_tor_a 02:11:55.977] * (100) [AS65001i]\n"
        "\tvia 198.18.0.2 on eth0 weight 1\n"
        "\tvia 198.18.0.4 on eth0 weight 1\n"
        "                     unicast [romana_tor_b 02:11:56.012 from 198.18.0.9] (100) "
        "[AS65009i]\n"
        "\tvia 198.18.0.9 on eth0\n"
        "Table master6:\n"
        "fd00:10::/48         unicast [romana_tor6 02:11:55.977] * (100) [AS65001i]\n"
        "\tvia fd00::1 on eth0\n"
    )
    assert birdshow.routes(text) == [
        Route("10.0.0.0/16", "198.18.0.2", "romana_tor_a", True),
        Route("10.0.0.0/16", "198.18.0.4", "romana_tor_a", True),
        Route("10.0.0.0/16", "198.18.0.9", "romana_tor_b", False),
        Route("fd00:10::/48", "fd00::1", "romana_tor6", True),
    ]


def test_a_next_hop_on_the_route_line_is_read_too() -> None:
    text = "10.0.0.0/16        via 198.18.0.2 on eth0 [romana_peer0 02:11:55] * (100) [AS65001i]\n"
    assert birdshow.routes(text) == [Route("10.0.0.0/16", "198.18.0.2", "romana_peer0", True)]
