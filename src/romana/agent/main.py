"""``romana-agent``: the composition root of the per-host agent.

settings (``romana.config.load``: defaults < ``--config`` section ``[agent]`` <
``ROMANA_AGENT_*`` < flags) → logging → registry → writer thread + dataplane → underlay
discovery (host IP, MTU) → romanad client → endpoint service → pending releases finished →
supervised tasks: reconciler, watcher, tap watcher (VMs' taps and their DHCP), routing
reporter (:mod:`romana.agent.routing`), local API, drop forwarder
(:mod:`romana.agent.dropforward`), Docker plugin (with ``--docker-socket``); metrics in a
thread.

Crash-only (principle 13): the tasks run in one :class:`asyncio.TaskGroup`; if any of them
ends — with an error or, unexpectedly, without one — the agent logs why and exits 1, and its
supervisor restarts it. Restarting is safe because everything is rebuilt from the durable
registry and a fresh host view. SIGTERM and SIGINT stop it cleanly with exit 0 and *leave the
dataplane in place*: workloads keep their connectivity while the agent is away.

Exit codes: 0 clean stop, 1 a supervised task failed or start-up failed, 2 invalid settings
(a CA or certificate file that cannot be loaded included; another agent's sockets or the
metrics address in use, found before the agent touches the host).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import ipaddress
import logging
import os
import signal
import socket
import sys
from collections.abc import Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from romana import config, logs
from romana.agent import (
    cnihost,
    dhcp,
    dhcp6,
    dockerexternals,
    dropforward,
    drops,
    firewall,
    heap,
    http,
    ledger,
    localapi,
    taps,
    vips,
)
from romana.agent import endpoints as endpoints_mod
from romana.agent.bird import Bird
from romana.agent.kernel import HostDataplane, Reaper, Underlay
from romana.agent.metrics import Metrics
from romana.agent.parts import Parts, Sync
from romana.agent.reconciler import Reconciler
from romana.agent.romanad import Romanad
from romana.agent.routing import Reporter
from romana.agent.settings import AgentSettings
from romana.agent.viewpoll import Registration, Watcher
from romana.client import Client, ClientSettings
from romana.client.tls import client_context
from romana.core import ruleset
from romana.core.errors import InvalidInput, RomanaError
from romana.dataplane import sysctl
from romana.integrations.docker import protocol as docker_protocol
from romana.integrations.docker.ports import Deps as DockerDeps

if TYPE_CHECKING:
    from romana.integrations.docker.plugin import Plugin as DockerPlugin

log = logging.getLogger("romana.agent.main")

SWITCH_INTERVAL = 0.0005
GC_YOUNG = 10_000
"""Container allocations between two collections of the youngest generation (Python's
default: 700)."""


class _Stopped(Exception):
    """A stop signal arrived."""


class _Ended(Exception):
    """A supervised task returned although it should run until cancelled."""


DESCRIPTION = """\
Romana per-host agent: registers this host with romanad, wires its endpoints (CNI, Docker,
VMs) and keeps their routes and firewall rules in step with romanad's view of the host.

Settings, in increasing priority: defaults, --config FILE (section [agent]), ROMANA_AGENT_<SETTING>
environment variables, flags (all in docs/operations.md; unknown file keys are logged).
"""

EPILOG = """\
example:
  romana-agent --url https://10.0.0.1:9600 --ca /etc/romana/tls/ca.crt \\
      --username agent-node1 --password-file /etc/romana/agent.password --labels rack=2

exit codes: 0 clean stop (the dataplane stays in place); 1 a supervised task or the start
failed; 2 invalid settings, unreadable files, its sockets or metrics address in use.
"""


def parser() -> argparse.ArgumentParser:
    p = config.daemon_parser("romana-agent", DESCRIPTION, EPILOG, "agent")
    config.add_flags(p, AgentSettings)
    return p


def load_settings(
    argv: Sequence[str] | None, environ: dict[str, str]
) -> config.Loaded[AgentSettings]:
    args = parser().parse_args(argv)
    overrides = {k: v for k, v in vars(args).items() if k != "config" and v is not None}
    return config.load(
        AgentSettings, environ=environ, file=args.config, section="agent", overrides=overrides
    )


def docker_server(path: str, plugin: DockerPlugin) -> http.Server:
    """The server of the Docker plugin on ``path``, root only (dockerd runs as root). Its
    directory, Docker's plugin directory, is made mode 0755 when it is missing."""
    directory = os.path.dirname(path)
    if not os.path.isdir(directory):
        os.makedirs(directory, mode=0o755)
        os.chmod(directory, 0o755)  # whatever the umask: dockerd reads it as root, others look

    async def handle(request: http.Request) -> http.Response:
        answer = await plugin.call(request.path, request.body)
        return http.Response(
            answer.status, answer.body, {"Content-Type": docker_protocol.CONTENT_TYPE}
        )

    return http.Server(path, handle)


async def _supervised(name: str, work: Coroutine[Any, Any, None]) -> None:
    await work
    raise _Ended(f"task {name} ended on its own")


async def _until(stop: asyncio.Event) -> None:
    await stop.wait()
    raise _Stopped


def _credentials(settings: AgentSettings) -> tuple[str, tuple[str, str] | None]:
    """(token, username and password) the agent authenticates with; nothing with --insecure."""
    if settings.insecure:
        log.warning("--insecure: sending no credentials; romanad must run with --insecure too")
        return "", None
    if settings.username:
        return "", (settings.username, settings.password)
    return settings.token, None


def _discovered_ip6(host_ip: str, underlay: Underlay) -> str:
    """The underlay's IPv6 address as the host's IPv6 underlay beside an IPv4 host IP."""
    if ipaddress.ip_address(host_ip).version == 6:
        return ""  # the host IP is the IPv6 underlay address already
    if underlay.address6 is None:
        log.warning(
            "interface %s has no global IPv6 address: IPv6 endpoints of this host reach only "
            "each other (set --host-ip6)",
            underlay.ifname,
        )
        return ""
    return str(underlay.address6)


def _served(path: str) -> bool:
    """Whether a process accepts connections on the Unix socket ``path`` (a stale file left
    by an agent that died accepts none)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(path) == 0


def _claim(settings: AgentSettings, metrics: Metrics) -> str:
    """Take this host's agent addresses before the agent touches the host: "" when done, else
    why it cannot (another process serves the local API or Docker socket, which is another
    agent; the metrics address is in use)."""
    for name, path in (("socket", settings.socket), ("docker_socket", settings.docker_socket)):
        if path and _served(path):
            return f"{name}: another process serves {path} (is another romana-agent running?)"
    if settings.metrics:
        try:
            metrics.serve(settings.metrics)
        except OSError as exc:
            return f"metrics: cannot listen on {settings.metrics}: {exc.strerror or exc}"
    return ""


async def run(settings: AgentSettings) -> int:
    """Run the agent until stopped; the exit code."""
    metrics = Metrics()
    if refused := _claim(settings, metrics):
        log.error("%s", refused)
        return 2
    sysctl.use_root(settings.proc_sys)
    reg = ledger.Ledger(settings.state_dir)
    reg.load()
    fw = firewall.backend(settings.firewall, drop_log=settings.drop_log)
    mtu = {"value": settings.mtu or 1500}
    reconciler = Reconciler(
        ledger=reg,
        metrics=metrics,
        make_dataplane=lambda: HostDataplane(fw),
        mtu=lambda: mtu["value"],
        interval=settings.reconcile_interval,
        make_reaper=Reaper,
        bird=Bird(settings.state_dir, settings.bird, settings.birdc),
    )
    underlay = await reconciler.call(lambda dp: dp.underlay(settings.interface))
    reconciler.underlay = underlay.ifname
    host_ip = settings.host_ip or (str(underlay.address) if underlay.address else "")
    if not host_ip:
        log.error("interface %s has no global address; set --host-ip", underlay.ifname)
        return 1
    host_ip6 = settings.host_ip6 or _discovered_ip6(host_ip, underlay)
    if not settings.mtu:
        mtu["value"] = underlay.mtu
    host = settings.host or socket.gethostname()
    log.info(
        "agent for host %s (%s on %s, endpoint MTU %d, firewall %s)",
        host,
        " ".join(a for a in (host_ip, host_ip6) if a),
        underlay.ifname,
        mtu["value"],
        fw.name,
    )
    # Short timeouts: a DEL must finish (or owe its release) well within the CNI plugin's
    # timeout even when romanad hangs; the long poll adds its own wait to the timeout.
    token, credentials = _credentials(settings)
    client = Client(
        ClientSettings(
            url=settings.url,
            token=token,
            ca=settings.ca,
            client_cert=settings.client_cert,
            client_key=settings.client_key,
            timeout=5.0,
            retries=2,
        )
    )
    parts = Parts(
        host=host,
        ledger=reg,
        reconciler=reconciler,
        romanad=Romanad(client, credentials),
        metrics=metrics,
        sync=Sync(),
        mtu=lambda: mtu["value"],
    )
    service = endpoints_mod.Endpoints(
        parts,
        pending_dir=settings.pending_dir,
        waits=endpoints_mod.Waits(gc_grace=settings.gc_grace),
    )
    watcher = Watcher(
        parts,
        endpoints=service,
        registration=Registration(host_ip, settings.parsed_labels(), host_ip6),
        wait=settings.view_wait,
        aggregate=settings.aggregate_routes,
    )
    tap_watcher = taps.TapWatcher(parts, service, dhcp.DhcpServers(), servers6=dhcp6.Dhcp6Servers())
    reporter = Reporter(host, reconciler, parts.romanad, heartbeat=settings.routing_report_interval)
    holder = vips.Holder(
        host=host,
        leases=parts.romanad,
        kernel=reconciler.call,
        underlay=lambda: reconciler.underlay,
        host_view=lambda: reconciler.host_view,
        records=reg.records,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    drop_log = drops.Drops(lambda: _drop_reasons(reconciler), lambda: reconciler.host_view)
    stop_reader = drops.start_reader(drop_log)
    counts = drops.DropCounts(
        fw,
        lambda: _drop_reasons(reconciler),
        lambda: drop_log.reader.lost if drop_log.reader is not None else 0,
    )
    metrics.registry.register(counts)
    followed = drop_log if stop_reader is not None else None
    forwarder = dropforward.Forwarder(host, drop_log, parts.romanad, metrics.registry)
    cni = cnihost.CniHost(localapi.LocalApi(service, followed), service)
    server = http.Server(settings.socket, cni, group=settings.api_gid())
    docker = None
    plugin = None
    if settings.docker_socket:
        deps = DockerDeps(
            host=host,
            romanad=parts.romanad,
            view=parts.synced_view,
            endpoints=service,
            state_dir=settings.state_dir,
            docker_api=settings.docker_api,
        )
        # Imported only here: the plugin's Docker API client is httpx, which brings Rich,
        # Click and Pygments with it (its command line), about 6 MB resident that an agent
        # without --docker-socket never uses.
        from romana.integrations.docker.plugin import Plugin as DockerPlugin

        plugin = DockerPlugin(deps)
        docker = docker_server(settings.docker_socket, plugin)
    code = 1
    try:
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(_until(stop))
            tasks.create_task(_supervised("reconciler", reconciler.run()))
            await service.settle()
            tasks.create_task(_supervised("watcher", watcher.run()))
            tasks.create_task(_supervised("tap watcher", tap_watcher.run()))
            tasks.create_task(_supervised("routing reporter", reporter.run()))
            tasks.create_task(_supervised("VIP holder", holder.run()))
            tasks.create_task(_supervised("local API", server.serve()))
            if followed is not None:
                tasks.create_task(_supervised("drop forwarder", forwarder.run()))
            if docker is not None:
                tasks.create_task(_supervised("docker plugin", docker.serve()))
            if plugin is not None:
                interval = settings.docker_gc_interval
                tasks.create_task(_supervised("docker sweep", plugin.sweep(interval)))
                keeper = dockerexternals.Keeper(
                    reconciler.call, lambda: reconciler.host_view, reg.records
                )
                tasks.create_task(_supervised("docker external IPs", keeper.run()))
    except* _Stopped:
        log.info("stopping; the dataplane stays in place")
        code = 0
    except* (RomanaError, OSError, _Ended) as group:
        for exc in group.exceptions:
            log.critical("agent stops: %s", exc)
    finally:
        # Releases a DEL left running are owed durably; a short wait spares the next start.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(service.drain(), 5.0)
        parts.romanad.close()
        if stop_reader is not None:
            stop_reader.set()
    return code


def _drop_reasons(reconciler: Reconciler) -> Mapping[int, ruleset.DropReason]:
    return reconciler.drop_reasons


def main(argv: Sequence[str] | None = None) -> int:
    try:
        loaded = load_settings(argv, dict(os.environ))
        # The files are read now, so a CA, certificate or password file that cannot be used is
        # a settings error before the agent touches the host.
        client_context(loaded.settings.ca, loaded.settings.client_cert, loaded.settings.client_key)
        settings = loaded.settings.with_password_read()
    except InvalidInput as exc:
        print(f"romana-agent: {exc}", file=sys.stderr)
        return 2
    logs.setup(settings.log_level)
    for warning in loaded.warnings:
        log.warning("%s", warning)
    # One CNI ADD passes between the event loop, a CNI worker, the writer thread and a
    # romanad call; with the default 5 ms switch interval a thread ready to go on could wait
    # that long behind a busy one, as long as the whole ADD should take.
    sys.setswitchinterval(SWITCH_INTERVAL)
    heap.limit()  # before any thread of the agent starts (romana.agent.heap)
    # A host view decodes into tens of thousands of objects that live for one view. At the
    # default thresholds the collector runs through them dozens of times a view, and those
    # it happens to find alive reach the oldest generation, whose collections then walk the
    # whole heap every few views. What is loaded by now lives as long as the agent: frozen,
    # it is never walked again. Both are undone on the way out (main may run in a test).
    thresholds = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG, *thresholds[1:])
    try:
        return asyncio.run(run(settings))
    except RomanaError as exc:
        log.critical("agent cannot start: %s", exc)
        return 1
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


if __name__ == "__main__":
    sys.exit(main())
