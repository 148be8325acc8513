"""Reading documents given to ``-f FILE``: JSON or YAML, from a path or ``-`` (stdin).

PyYAML is imported only for a document that is not JSON.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from romana.core.errors import InvalidInput


def read_document(path: str) -> Any:
    """The parsed document; JSON first, then YAML (a superset for everything we accept)."""
    name = "stdin" if path == "-" else path
    try:
        raw = sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as exc:
        raise InvalidInput(f"{name}: {exc.strerror or exc}") from exc
    if not raw.strip():
        raise InvalidInput(f"{name}: is empty; expected a JSON or YAML object or list")
    try:
        return json.loads(raw)
    except ValueError:
        pass
    import yaml

    try:
        doc = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise InvalidInput(f"{name}: neither JSON nor YAML: {' '.join(str(exc).split())}") from exc
    if not isinstance(doc, dict | list):
        raise InvalidInput(f"{name}: expected a JSON or YAML object or list")
    return doc
