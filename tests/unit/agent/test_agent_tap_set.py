"""The taps in the agent's firewall: which names reach the ruleset, and how cheaply.

The devices of the agent's tap endpoints are named, those an ADD is still wiring included
(so no route leads to a tap the firewall does not filter); a change of taps alone refills one set.
When a tap ADD and DEL change the firewall: ``test_agent_taps``; the set on a real nft
table: ``test_agent_firewall``.
"""

from __future__ import annotations

import dataclasses
import ipaddress

from agent_fakes import host_view

from romana.agent import desired, ledger
from romana.core import endpoint
from romana.core.endpoint import EndpointRequest

TAP = "tap1c4c2d6e-7b"
OTHER = "tap9f00aa11-22"


def record(ifname: str, *, tap: bool = True, ready: bool = True) -> ledger.EndpointRecord:
    request = EndpointRequest(
        container_id="port", ifname=ifname, netns="", tenant="t1", attachment=endpoint.TAP
    )
    made = ledger.EndpointRecord.of(request, 1.0)
    if not tap:
        made = dataclasses.replace(made, attachment="veth", netns="/run/netns/x")
    return made.ready((ipaddress.ip_address("10.1.16.5"),)) if ready else made


def test_the_devices_of_tap_endpoints_are_named_before_they_are_wired() -> None:
    records = [
        record(OTHER),
        record(TAP),
        record("tap0000aaaa-00", ready=False),  # an ADD is wiring it
        record("eth0", tap=False),
    ]
    assert desired.tap_devices(records) == ("tap0000aaaa-00", TAP, OTHER)
    assert desired.tap_devices([]) == ()


def test_a_change_of_taps_alone_refills_their_set_and_equals_compiling_again() -> None:
    hv = host_view()
    compiler = desired.Compiler()
    none = compiler.firewall(hv, "k")
    assert none.rules.interface_sets == ()
    one = compiler.firewall(hv, "k", (TAP,))
    assert one.rules == desired.firewall(hv, devices=(TAP,)).rules
    two = compiler.firewall(hv, "k", (TAP, OTHER))
    assert two.rules == desired.firewall(hv, devices=(TAP, OTHER)).rules
    assert two.rules.chains is one.rules.chains  # not compiled again
    assert compiler.firewall(hv, "k", (TAP, OTHER)) is two
    assert compiler.firewall(hv, "k").rules == none.rules
