"""The wire schemas of romana's protocols: one module per protocol, shared by both ends.

Server, client and agent import the shapes from here, so a field has one definition and a
server answer a client cannot read is a test failure rather than a field read as missing.
:mod:`romana.wire.rest` and :mod:`romana.wire.rest_hostview` are romanad's REST API;
:mod:`romana.wire.light` checks a few of its answers without pydantic, for the CLI's quickest
commands.

Invariant: these modules depend on pydantic and :mod:`romana.core` only, so every layer that
speaks a protocol may import them; no web framework, store or service is imported here.
"""
