"""openstacksdk as a subprocess: run by path with the OpenStack environment's Python.

The tests run in the project's environment, where openstacksdk is not installed (Neutron's
pins stay out of it). This worker holds one ``openstack.connection.Connection`` per identity
(the Keystone headers it sends) and answers one JSON request per line on stdin:
``{"headers": {...}, "method": "create_port", "args": [...], "kwargs": {...}}`` calls
``connection.network.<method>(*args, **kwargs)`` (``post_raw`` with ``[path, body]``: a POST
of that JSON body, answered with its status and JSON) and writes ``{"result": ...}`` (a
resource as its dict, a listing as a list of dicts) or ``{"error": {"status", "type",
"message"}}``.
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any

# By name: to the type checker of the tests, ``openstack`` is this test directory.
sdk_connection = importlib.import_module("openstack.connection")
exceptions = importlib.import_module("openstack.exceptions")


def _plain(value: Any) -> Any:
    if hasattr(value, "to_dict"):
        return value.to_dict(computed=False)
    if value is None or isinstance(value, str | int | float | bool | dict | list):
        return value
    return [_plain(item) for item in value]


def main() -> None:
    root = sys.argv[1]
    connections: dict[str, Any] = {}
    for line in sys.stdin:
        request = json.loads(line)
        headers = request.get("headers", {})
        ident = json.dumps(headers, sort_keys=True)
        if ident not in connections:
            made = sdk_connection.Connection(auth_type="none", network_endpoint_override=root)
            made.session.additional_headers.update(headers)
            connections[ident] = made
        try:
            if request["method"] == "post_raw":
                # A call openstacksdk has no field for (Nova's port binding with its owner).
                path, body = request["args"]
                response = connections[ident].network.post(path, json=body, raise_exc=False)
                raw = {"result": {"status": response.status_code, "body": response.json()}}
                sys.stdout.write(json.dumps(raw) + "\n")
                sys.stdout.flush()
                continue
            method = getattr(connections[ident].network, request["method"])
            answer: dict[str, Any] = {
                "result": _plain(method(*request.get("args", []), **request.get("kwargs", {})))
            }
        except exceptions.HttpException as exc:
            answer = {
                "error": {
                    "status": exc.status_code,
                    "type": type(exc).__name__,
                    "message": str(exc),
                }
            }
        sys.stdout.write(json.dumps(answer, default=str) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
