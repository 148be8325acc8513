"""A lab workload holding external addresses the way an endpoint holds them: on its
``eth0``, with its host's ``/32`` (``/128``) routes to its veth (host end ``p<name>``, link
local gateways ``169.254.1.1`` and ``fe80::1``). The dataplane tests of proxy entries and of
the lab's outside reach it."""

from __future__ import annotations

from romana.core.addressing import IPAddress
from romana.lab import Host, Lab, Workload


def workload_with_externals(
    lab: Lab, host: Host, name: str, external4: IPAddress, external6: IPAddress
) -> Workload:
    """Workload ``name`` behind ``host`` holding ``external4`` and ``external6``."""
    w = lab.add_workload(host, name)
    veth = f"p{name}"
    lab.run(
        host, ["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", w.ns]
    )
    lab.run(
        host,
        ["ip", "-batch", "-"],
        input=(
            f"addr add 169.254.1.1/32 dev {veth}\n"
            f"addr add fe80::1/64 dev {veth} nodad\n"
            f"link set {veth} up\n"
            f"route add {external4}/32 dev {veth} scope link\n"
            f"route add {external6}/128 dev {veth}\n"
        ),
    )
    lab.run(
        w,
        ["ip", "-batch", "-"],
        input=(
            f"addr add {external4}/32 dev eth0\n"
            f"addr add {external6}/128 dev eth0 nodad\n"
            "link set eth0 up\n"
            "route add 169.254.1.1 dev eth0 scope link\n"
            "route add default via 169.254.1.1 dev eth0\n"
            "route add ::/0 via fe80::1 dev eth0\n"
        ),
    )
    return w
