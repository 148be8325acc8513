"""What a cluster asks to be reachable from outside: Services → VIPs, pod annotations →
external IPs. Pure: objects in, the desired VIPs and external IPs out.

A Service of type ``LoadBalancer`` (without a ``spec.loadBalancerClass``: a class names
another implementation), or one with ``spec.externalIPs``, wants a VIP (:mod:`romana.core.vips`)
named by :func:`vip_name`, of the external pool its ``romana.io/external-pool`` annotation
names or else :attr:`translation.Settings.vip_pool`, at the first of its ``externalIPs``, else
its ``spec.loadBalancerIP``, else any free address of the pool. Its endpoints are the pods
:func:`selects` selects, by their first address (a romana address: one per pod, since a
pod's addresses are one allocation). A pod annotated ``romana.io/external-ip: <pool>`` (or
``<pool>/<address>``) wants an external IP of that pool.

Invariants:

* :func:`vip_name` is injective on the names it spells out in full (``k-<namespace>-<name>``
  for a namespace without ``-``) and distinguishes them from the digested ones (``k--...``);
  a digested name is told apart by 48 bits of SHA-256 of ``<namespace>/<name>``. Every name
  fits :data:`romana.core.vips.NAME_PATTERN` and starts with :data:`VIP_PREFIX`.
* :func:`desired` lists VIPs and external IPs in a stable order (by Service, by pod), so the
  sync that writes them is deterministic.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from romana.core import addressing, vips
from romana.core.kubernetes import objects as ko
from romana.core.kubernetes import translation

VIP_PREFIX = "k-"
"""Every VIP a Kubernetes sync makes is named with this prefix."""
DIGEST_HEX = 12
_NAME = re.compile(vips.NAME_PATTERN)
_MAX = 63


def vip_name(namespace: str, name: str) -> str:
    """The VIP of Service ``namespace/name``: ``k-<namespace>-<name>`` when the namespace has
    no ``-`` and the whole is a valid VIP name; else ``k--<hint>-<digest>``, the hint being
    the start of ``<namespace>-<name>`` (lower-cased, other characters as ``-``) and the
    digest the first 12 hex digits of SHA-256 of ``<namespace>/<name>``.

    No plain name starts ``k--`` (a namespace never starts with ``-``), and a plain name
    splits back at its first ``-`` after the prefix; so plain names never collide."""
    plain = f"{VIP_PREFIX}{namespace}-{name}"
    if "-" not in namespace and _NAME.fullmatch(plain):
        return plain
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:DIGEST_HEX]
    room = _MAX - len(VIP_PREFIX) - 1 - 1 - DIGEST_HEX
    hint = re.sub(r"[^a-z0-9-]", "-", f"{namespace}-{name}".lower())[:room].strip("-")
    return f"{VIP_PREFIX}-{hint}-{digest}" if hint else f"{VIP_PREFIX}-{digest}"


def balanced(s: ko.Service) -> bool:
    """Whether romana is ``s``'s load balancer: a LoadBalancer Service of no class (a class
    names another implementation, which owns its ``loadBalancerIP`` and status)."""
    return s.type == "LoadBalancer" and not s.load_balancer_class


def wants_vip(s: ko.Service) -> bool:
    return bool(s.external_ips) or balanced(s)


def selects(s: ko.Service, pod: ko.Pod) -> bool:
    """Whether ``s`` sends to ``pod``: same namespace, a selector (none selects no pod) all
    of whose labels the pod carries; never a host-network pod (it has no romana address)."""
    if not s.selector or pod.namespace != s.namespace or pod.host_network:
        return False
    labels = pod.label_map
    return all(labels.get(k) == v for k, v in s.selector)


@dataclass(frozen=True, slots=True)
class WantedVip:
    name: str
    service: str
    """``namespace/name`` of the Service."""
    pool: str
    address: addressing.IPAddress | None
    """None: any free address of the pool."""
    endpoints: tuple[tuple[str, str], ...]
    """(pod ``namespace/name``, its first address) of each selected pod with an address."""
    load_balancer: bool
    """The Service is a ``LoadBalancer``: its status reports the VIP's address."""


@dataclass(frozen=True, slots=True)
class WantedIp:
    pod: str
    """``namespace/name`` of the pod."""
    endpoint: str
    """The pod's first address, naming its allocation."""
    pool: str
    address: addressing.IPAddress | None


@dataclass(frozen=True, slots=True)
class Exposure:
    vips: tuple[WantedVip, ...] = ()
    external_ips: tuple[WantedIp, ...] = ()
    refused: tuple[tuple[str, str], ...] = ()
    """(object, why) for each request that cannot be met as given (a bad annotation)."""
    notes: tuple[str, ...] = ()
    """What is not served although nothing was refused (addresses beyond the first)."""


def _address(s: ko.Service) -> tuple[addressing.IPAddress | None, list[str]]:
    """The VIP's address, and the addresses the Service names that it does not serve."""
    asked = [*s.external_ips]
    if balanced(s) and s.load_balancer_ip is not None:
        asked.append(s.load_balancer_ip)
    if not asked:
        return None, []
    first = asked[0]
    return first, sorted({str(a) for a in asked[1:] if a != first})


def requested_ip(pod: ko.Pod) -> tuple[str, addressing.IPAddress | None]:
    """The pool and address (None: any) ``pod``'s annotation asks for; ValueError naming
    what is wrong with it."""
    pool, _, text = pod.external_ip.strip().partition("/")
    if not pool:
        raise ValueError("must name a pool: <pool> or <pool>/<address>")
    if not text:
        return pool, None
    try:
        return pool, ipaddress.ip_address(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an IP address (<pool>/<address>)") from None


def desired(
    services: Sequence[ko.Service], pods: Sequence[ko.Pod], settings: translation.Settings
) -> Exposure:
    """The VIPs the Services want and the external IPs the pods' annotations want."""
    wanted: list[WantedVip] = []
    notes: list[str] = []
    refused: list[tuple[str, str]] = []
    ordered = sorted(pods, key=lambda p: (p.namespace, p.name))
    for s in sorted(services, key=lambda s: (s.namespace, s.name)):
        if not wants_vip(s):
            continue
        name = vip_name(s.namespace, s.name)
        address, unserved = _address(s)
        if unserved:
            notes.append(
                f"Service {s.key}: VIP {name} serves {address} only; not served: "
                + ", ".join(unserved)
            )
        endpoints = tuple((p.key, str(p.ips[0])) for p in ordered if p.ips and selects(s, p))
        pool = s.pool or settings.vip_pool
        wanted.append(WantedVip(name, s.key, pool, address, endpoints, balanced(s)))
    ips: list[WantedIp] = []
    annotation = ko.EXTERNAL_IP_ANNOTATION
    for pod in ordered:
        if not pod.external_ip:
            continue
        try:
            pool, address = requested_ip(pod)
        except ValueError as exc:
            refused.append(("external-ips", f"pod {pod.key}: annotation {annotation}: {exc}"))
            continue
        if pod.host_network:
            refused.append(
                ("external-ips", f"pod {pod.key}: a host-network pod has no romana address")
            )
            continue
        if pod.ips:
            ips.append(WantedIp(pod.key, str(pod.ips[0]), pool, address))
    return Exposure(tuple(wanted), tuple(ips), tuple(refused), tuple(notes))
