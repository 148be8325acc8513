"""Adapters that apply values to the Linux kernel; the only code that touches it.

Firewall: :mod:`nftables` and :mod:`iptables` (with ipset) run every ``nft``, ``iptables``
and ``ipset`` command. Routing: one netlink stack, :mod:`nlsock` (framing and batches) with
:mod:`rtmsg` (link, address, route and neighbour messages), driven by :mod:`rtnl` and
:mod:`veth` (reads and convergent repairs), :mod:`wire` (a fresh endpoint, blind) and
:mod:`netlink` (the host's gateway, routes and endpoints); :mod:`conntrack` over the same
framing. Every name these adapters own comes from :mod:`romana.core.kernelnames`.
"""
