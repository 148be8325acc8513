"""Typed client of romanad's REST API, with service discovery, retries and failover.

Usage::

    from romana import client

    settings = client.ClientSettings(url=("http://10.0.0.1:9600",), token=token)
    with client.Client(settings) as romana:
        alloc = romana.allocate("c1:eth0", host="h1", tenant="acme")

The exports are loaded on first use: importing the package (as :mod:`romana.client.settings`
does) costs nothing more, so a caller that only builds settings, such as ``romana --help``,
never loads the HTTP stack or the wire models.
"""

# Private names only: the package's public names are its exports and its submodules.
import typing as _typing

if _typing.TYPE_CHECKING:
    from romana.client.http import Client
    from romana.client.settings import ClientSettings

__all__ = ["Client", "ClientSettings"]


def __getattr__(name: str) -> _typing.Any:
    # Import statements, not importlib: ``python -X importtime`` then lists these modules.
    if name == "Client":
        from romana.client.http import Client

        globals()[name] = Client
        return Client
    if name == "ClientSettings":
        from romana.client.settings import ClientSettings

        globals()[name] = ClientSettings
        return ClientSettings
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
