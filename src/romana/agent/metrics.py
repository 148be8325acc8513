"""The agent's Prometheus metrics, in a registry of its own, served on the metrics address.

Names follow Prometheus conventions (``romana_agent_`` prefix, base units, ``_total`` for
counters). Policy programming latency uses the trigger-timestamp method: the moment a view
whose policies differ from the applied ones is *received* is remembered, and the histogram
observes the time until a firewall apply that includes it succeeds.

The registry is per :class:`Metrics` object (not the process-global default), so tests and
benchmarks can build several agents in one process.

The metrics server also answers the probes of a supervisor (the Kubernetes DaemonSet):
``GET /healthz`` is 200 while the process serves, ``GET /readyz`` is 200 once a reconcile of
a host view from romanad has succeeded (:attr:`Metrics.ready`) and 503 before. It serves
at most :data:`MAX_CONNECTIONS` connections at once and closes one silent for
:data:`IDLE_TIMEOUT`, so idle clients cannot pile up threads in the agent.
"""

from __future__ import annotations

import functools
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

log = logging.getLogger(__name__)

_Start = Callable[[str, list[tuple[str, str]]], Any]


MAX_CONNECTIONS = 32
"""Connections served at once; one more is closed at once. Scrapers and probes need a few;
without a bound, idle connections would each hold a thread of the agent for ever."""
IDLE_TIMEOUT = 10.0
"""Seconds a connection may stay silent (before or within its request) before it is closed."""


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 2 * MAX_CONNECTIONS  # a burst waits to be accepted, and refused

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went silent (closed at :data:`IDLE_TIMEOUT`) or away is no error."""
        log.debug("metrics connection from %s ended", client_address, exc_info=True)

    def server_activate(self) -> None:
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        super().server_activate()

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class _Quiet(WSGIRequestHandler):
    timeout = IDLE_TIMEOUT

    def log_message(self, format: str, *args: Any) -> None:
        """Probes and scrapes come every few seconds: not logged."""


_FAST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """Every metric the agent exports."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # Every metric lives in this object's registry; histograms time fast operations.
        counter = functools.partial(Counter, registry=self.registry)
        gauge = functools.partial(Gauge, registry=self.registry)
        histogram = functools.partial(Histogram, registry=self.registry, buckets=_FAST_BUCKETS)
        self.reconciles = counter(
            "romana_agent_reconciles", "Full reconciles run, by result.", ["result"]
        )
        self.reconcile_seconds = histogram(
            "romana_agent_reconcile_duration_seconds",
            "Wall time of one full reconcile (compute, diff, apply).",
        )
        self.apply_failures = counter(
            "romana_agent_apply_failures",
            "Failed dataplane applies, by part (gateway, routes, endpoints, workload, sysctls, "
            "firewall).",
            ["part"],
        )
        self.repairs = counter(
            "romana_agent_drift_repairs",
            "Dataplane objects found missing or wrong and put back, by part (gateway, routes, "
            "endpoints, workload, firewall).",
            ["part"],
        )
        self.rules = gauge("romana_agent_firewall_rules", "Rules in the applied ruleset.")
        self.sets = gauge("romana_agent_firewall_sets", "Sets in the applied ruleset.")
        self.set_elements = gauge(
            "romana_agent_firewall_set_elements", "Elements over all sets in the applied ruleset."
        )
        self.endpoints = gauge(
            "romana_agent_endpoints", "Endpoints in the local registry, by state.", ["state"]
        )
        self.routes = gauge(
            "romana_agent_routes", "Routes to other hosts' prefixes held by the agent."
        )
        self.policy_latency = histogram(
            "romana_agent_policy_programming_seconds",
            "Time from a policy change seen in the host view to the firewall holding it.",
        )
        self.refused_policies = gauge(
            "romana_agent_policies_refused",
            "Policies left out of the ruleset because they cannot be parsed or expressed.",
        )
        self.view_revision = gauge(
            "romana_agent_view_revision", "Revision of the last host view received."
        )
        self.policy_enforced = gauge(
            "romana_agent_policy_enforced_timestamp_seconds",
            "Unix time at which the firewall came to enforce the policy input it holds "
            "(policies, tenants, address-set members); moves only when that input changes.",
        )
        self.synced = gauge(
            "romana_agent_synced",
            "1 when the last reconcile from a current view succeeded, else 0.",
        )
        self.pending_releases = gauge(
            "romana_agent_pending_releases",
            "Allocations released locally whose release romanad has not confirmed yet.",
        )
        self.ready = threading.Event()
        """Set by the reconciler once a reconcile of a host view succeeded; never cleared."""
        self._metrics_app = prometheus_client.make_wsgi_app(self.registry)

    def text(self) -> bytes:
        """The exposition text (what a scrape returns)."""
        return prometheus_client.generate_latest(self.registry)

    def app(self, environ: dict[str, Any], start: _Start) -> Iterable[bytes]:
        """The WSGI application: the probes, and the metrics on every other path."""
        path = environ.get("PATH_INFO", "")
        if path in ("/healthz", "/readyz"):
            ok = path == "/healthz" or self.ready.is_set()
            body = b"ok\n" if ok else b"no host view reconciled yet\n"
            start("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [body]
        return self._metrics_app(environ, start)  # type: ignore[no-any-return]

    def serve(self, address: str) -> tuple[WSGIServer, threading.Thread]:
        """Serve ``/metrics`` and the probes on ``host:port`` in a background thread;
        (server, thread)."""
        host, _, port = address.rpartition(":")
        host = host.strip("[]") or "127.0.0.1"
        family = socket.getaddrinfo(host, int(port), type=socket.SOCK_STREAM)[0][0]
        server_class = type("MetricsServer", (_Server,), {"address_family": family})
        server: WSGIServer = make_server(
            host, int(port), self.app, server_class, handler_class=_Quiet
        )
        thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
        thread.start()
        log.info("metrics on http://%s:%s/metrics", host, server.server_port)
        return server, thread
