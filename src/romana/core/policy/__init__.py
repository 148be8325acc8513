"""Romana network policy: the model, its parser, the compiler to a ruleset, and an evaluator.

``parse`` turns policy JSON (Romana v1 and v2 shapes) into ``model`` values; ``compile``
turns policies plus the tenancy into a backend-neutral :mod:`romana.core.ruleset`, which
:mod:`romana.core.render` prints for nftables or iptables; ``evaluate`` walks a ruleset for
one packet, the oracle for dataplane tests and ``romana explain``.
"""
