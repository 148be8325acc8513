"""Kubernetes objects as one multi-document YAML text, the way ``kubectl`` users read them.

Keys keep the order they were built in; a string of several lines (a settings file in a
ConfigMap) is a literal block, as written, so the rendered file reads like a hand-written one.
"""

from __future__ import annotations

from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    """A safe dumper that writes multi-line strings as literal blocks."""


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)


def dump_all(objects: list[dict[str, Any]]) -> str:
    """The objects as YAML documents, each starting with ``---``."""
    text: str = yaml.dump_all(
        objects, Dumper=_Dumper, sort_keys=False, explicit_start=True, width=100
    )
    return text
