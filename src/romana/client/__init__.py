"""Typed client of romanad's REST API, with service discovery, retries and failover.

Usage::

    from romana import client

    settings = client.ClientSettings(url=("http://10.0.0.1:9600",), token=token)
    with client.Client(settings) as romana:
        alloc = romana.allocate("c1:eth0", host="h1", tenant="acme")
"""

from romana.client.http import Client
from romana.client.settings import ClientSettings

__all__ = ["Client", "ClientSettings"]
