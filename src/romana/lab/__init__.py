"""The lab: a romana cluster simulated in network namespaces of one machine.

One set of builders for the demo, the root tests and the benchmarks: namespaces, links and
probes (:mod:`~romana.lab.namespaces`), romanad's administrator (:mod:`~romana.lab.admin`),
agent processes (:mod:`~romana.lab.agents`), the cluster of them all
(:mod:`~romana.lab.cluster`), real Docker daemons on its hosts (:mod:`~romana.lab.docker`),
a routed fabric of racks, ToRs and a spine running BIRD (:mod:`~romana.lab.fabric`) and an
edge router with a client behind it, the outside world (:mod:`~romana.lab.outside`).
Needs root; never touches the machine's own interfaces, routes or firewall. No production
module imports it (the layers contract in ``.importlinter``).
"""

from romana.lab.admin import Admin, agent_user
from romana.lab.agents import Agent, raw_call
from romana.lab.cluster import Cluster, Endpoint, cluster, hosts_in_racks
from romana.lab.listener import Listener
from romana.lab.namespaces import Host, Lab, Node, Workload, nsenter_argv
from romana.lab.outside import Outside, add_outside

__all__ = [
    "Admin",
    "Agent",
    "Cluster",
    "Endpoint",
    "Host",
    "Lab",
    "Listener",
    "Node",
    "Outside",
    "Workload",
    "add_outside",
    "agent_user",
    "cluster",
    "hosts_in_racks",
    "nsenter_argv",
    "raw_call",
]
