"""Renderers: one backend-neutral :mod:`romana.core.ruleset` printed for each firewall backend.

``nftables`` (the default backend) prints one atomic ``nft -f`` script; ``iptables`` prints
``iptables-restore --noflush`` and ``ipset restore`` input plus the hook jumps to ensure.
Renderers are pure text producers; applying the text is the dataplane adapters' job.
"""
