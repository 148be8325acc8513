"""A container's external IP, asked for with the endpoint option ``romana.external-ip``.

libnetwork hands a network driver the options of one endpoint in CreateEndpoint's
``Options``: ``docker network connect --driver-opt romana.external-ip=POOL NET CTR`` and the
``DriverOpts`` of a container's ``EndpointsConfig`` (``POST /containers/create``, which
``docker run --network name=NET,driver-opt=romana.external-ip=POOL`` sends, docker 20.10's
client included) arrive there, beside docker's own ``com.docker.*`` members; Join's options
never carry them, and a container's labels reach no driver call. The value is ``POOL``
(romanad picks the pool's lowest free address) or ``POOL/ADDRESS`` (that address).

:func:`requested` parses the option (pure); :func:`assign` asks romanad to assign the external
IP to the endpoint's allocation, as the agent of the allocation's host (an agent may assign
only to allocations of its own host). Assigning is idempotent: a CreateEndpoint asked again for
an allocation that holds the pool's address already gets the same address. A refusal (no such
pool, an address outside it or taken, a pool limited to other hosts) fails CreateEndpoint with
romanad's reason after the option's name, which docker prints as the command's error; docker
then releases the address, and with the allocation goes nothing else: no external IP was
assigned. The external IP goes with the allocation: romanad unassigns it in the release's own
transaction (``docker rm``, ``docker stop``, ``docker network disconnect``).
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from romana.core.errors import InvalidInput, RomanaError
from romana.integrations.docker.ports import Romanad
from romana.integrations.docker.protocol import DOCKER_OPTION_PREFIX

log = logging.getLogger(__name__)

EXTERNAL_OPTION = "romana.external-ip"
FORM = "POOL or POOL/ADDRESS"


@dataclass(frozen=True, slots=True)
class ExternalChoice:
    """The external IP one endpoint asks for: of ``pool``, ``address`` when given."""

    pool: str
    address: str | None = None

    def __str__(self) -> str:
        return self.pool if self.address is None else f"{self.pool}/{self.address}"


def requested(body: Mapping[str, Any]) -> ExternalChoice | None:
    """The external IP a CreateEndpoint request asks for in its ``Options`` (:func:`choice`)."""
    options = body.get("Options")
    if options is None:
        return None
    if not isinstance(options, dict):
        raise InvalidInput("Options must be an object")
    return choice(options)


def choice(options: Mapping[str, Any]) -> ExternalChoice | None:
    """The external IP CreateEndpoint's ``options`` ask for; None when they ask for none.
    docker's own members (``com.docker.*``) are passed over; any other option, or a value
    not of the form ``POOL`` or ``POOL/ADDRESS``, is InvalidInput naming it."""
    found: ExternalChoice | None = None
    for key, value in sorted(options.items()):
        if key.startswith(DOCKER_OPTION_PREFIX):
            continue
        if key != EXTERNAL_OPTION:
            raise InvalidInput(
                f"no such endpoint option {key} (romana takes {EXTERNAL_OPTION}={FORM})"
            )
        found = _parse(value)
    return found


def _parse(value: object) -> ExternalChoice:
    text = value if isinstance(value, str) else ""
    pool, sep, address = text.partition("/")
    if not pool or (sep and not address):
        raise InvalidInput(f"option {EXTERNAL_OPTION} must be {FORM}, not {value!r}")
    if not sep:
        return ExternalChoice(pool)
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        raise InvalidInput(
            f"option {EXTERNAL_OPTION}: {address!r} is not an IP address (give {FORM})"
        ) from None
    return ExternalChoice(pool, str(parsed))


async def assign(romanad: Romanad, key: str, wanted: ExternalChoice) -> str:
    """Assign ``wanted`` to allocation ``key``; the external address. A refusal is raised
    as the same error with the option and its value before romanad's reason."""
    try:
        answer = await romanad.assign_external_ip(wanted.pool, key, wanted.address)
    except RomanaError as exc:
        raise _named(exc, wanted) from exc
    address = str(answer.get("address", ""))
    log.info("allocation %s: external IP %s of pool %s", key, address, wanted.pool)
    return address


def _named(exc: RomanaError, wanted: ExternalChoice) -> RomanaError:
    message = f"option {EXTERNAL_OPTION}={wanted}: {exc}"
    try:
        return type(exc)(message)
    except TypeError:  # an error class that is not made from a message alone
        return RomanaError(message)
