"""Every name romana owns in the kernel, defined once.

The agent changes and deletes kernel objects only when they carry one of these names or
tags, and an operator finds romana's state by them (``nft list table inet romana``,
``ip route show proto 82``, ``ip link show romana-gw``). Renderers, adapters, the agent,
the demo and the tests import them from here, so a name cannot drift between the code that
creates an object and the code that later recognises it as ours.

Invariants: the values are plain constants, fixed for the life of a deployment (renaming
one orphans every object made under the old name); the iptables and ipset spellings are
the upper-cased ruleset names, one-to-one because ruleset names are lower case.
"""

from __future__ import annotations

OWNED_STEM = "romana"
"""The stem of every name below; an adapter that must recognise our objects by name alone
(an ipset listing) accepts any name that starts with it, in any case."""

# --- nftables ----------------------------------------------------------------------------
NFT_FAMILY = "inet"
NFT_TABLE = OWNED_STEM
NFT_TABLE_REF = f"{NFT_FAMILY} {NFT_TABLE}"
"""How nft commands name our one table (``flush chain inet romana X``)."""

# --- ruleset objects (chains and sets, as the ruleset IR names them) -----------------------
RULESET_PREFIX = OWNED_STEM + "-"
"""Every chain and set of a ruleset starts with it (``romana-forward``)."""

# --- iptables and ipset ------------------------------------------------------------------
IPTABLES_PREFIX = RULESET_PREFIX.upper()
"""Our chains (``ROMANA-FORWARD``) and ipsets (``ROMANA-…``): ruleset names upper-cased."""
IPSET_PREFIX = IPTABLES_PREFIX
IPSET_TEMPORARY_SUFFIX = "~"
"""A set being rebuilt beside its live twin before the swap (``ROMANA-X~``)."""


def iptables_name(ruleset_name: str) -> str:
    """The iptables chain or ipset name of a ruleset chain or set."""
    return ruleset_name.upper()


# --- drop logging ------------------------------------------------------------------------
DROP_LOG_GROUP = 7
"""The netlink log group (nftables ``log group``, iptables ``NFLOG --nflog-group``) every
attributed drop is logged to, rate-limited, for the agent to read."""
DROP_LOG_PREFIX = OWNED_STEM + "-drop:"
"""The log prefix of an attributed drop: this, then the reason's id in hex
(``romana-drop:3f2a0c9d11e4``); the ruleset's drop reasons name it."""

# --- routing -----------------------------------------------------------------------------
ROUTE_PROTOCOL = 82  # "R": `ip route show proto 82` lists our routes
"""Every route we create carries it, and deletions name it, so the kernel itself refuses
to delete any route that is not ours."""
ROUTE_TABLE = 254
"""Our routes live in the main table (``RT_TABLE_MAIN``); romana adds no table of its own."""

# --- interfaces --------------------------------------------------------------------------
GATEWAY_IFNAME = OWNED_STEM + "-gw"
"""The device holding this host's gateway addresses."""
HOST_IFNAME_PREFIX = OWNED_STEM
"""Host sides of endpoint veths: the prefix, then a hash of the endpoint id."""
TAP_IFNAME_PREFIX = "tap"
"""Nova's devices (``tap`` + 11 characters of a Neutron port id), not ours: the agent never
creates or deletes one; it puts on it only the gateway addresses and routes tagged with
:data:`ROUTE_PROTOCOL`, and takes exactly those off again."""
