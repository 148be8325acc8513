"""Settings of ``romana-agent``: who this host is, where romanad is, how to program the host.

Built once by :func:`romana.config.load` in :mod:`romana.agent.main` (defaults < TOML file <
``ROMANA_AGENT_*`` environment < command-line flags) and handed to every component; nothing
in the agent reads the environment itself. :meth:`AgentSettings.validate` reports every
problem at once, before any side effect.
"""

from __future__ import annotations

import grp
import ipaddress
import os
import stat
from dataclasses import dataclass, replace

from romana import config
from romana.config import named, named_setting
from romana.core import hostplan, names
from romana.core.errors import InvalidInput, Issue, Issues

FIREWALLS = ("nftables", "iptables")
DEFAULT_SOCKET = "/run/romana/agent.sock"
DEFAULT_STATE_DIR = "/var/lib/romana/agent"
DEFAULT_PENDING_DIR = "/var/lib/romana/cni-pending"
DEFAULT_DOCKER_API = "/run/docker.sock"
MAX_SOCKET_PATH = 107
MAX_PASSWORD_FILE = 4096


@dataclass(frozen=True, slots=True)
@named("ROMANA_AGENT_")
class AgentSettings:
    host: str = named_setting(
        "", "Name this host registers under in the topology (the system host name when empty)."
    )
    host_ip: str = named_setting(
        "",
        "Underlay address of this host; other hosts route this host's prefixes to it. "
        "Discovered from --interface when empty.",
    )
    host_ip6: str = named_setting(
        "",
        "IPv6 underlay address of this host beside an IPv4 --host-ip: other hosts route this "
        "host's IPv6 prefixes to it. Discovered from the first global IPv6 address of "
        "--interface when empty; without one, IPv6 endpoints reach only endpoints on this host.",
    )
    interface: str = named_setting(
        "",
        "Underlay interface: its first global address is the host IP when --host-ip is empty, "
        "and its MTU is the endpoint MTU when --mtu is 0. The interface of the default route "
        "when empty.",
    )
    labels: tuple[str, ...] = named_setting(
        (),
        "Topology labels of this host, comma-separated key=value pairs (rack=r1,zone=z1) in "
        "Kubernetes' label syntax; the topology places the host into a group by them.",
    )
    url: tuple[str, ...] = named_setting(
        ("http://127.0.0.1:9600",),
        "romanad root URL(s), comma-separated; the agent discovers every other service "
        "through the first root that answers.",
    )
    ca: str = named_setting(
        "",
        "CA certificate file (PEM) that verifies romanad's certificate on https:// URLs; "
        "only this CA is trusted (default: the system's trust store).",
    )
    client_cert: str = named_setting(
        "",
        "Client certificate file (PEM) presented to a romanad that requires one "
        "(--tls-client-ca); with --client-key.",
    )
    client_key: str = named_setting("", "Private key file (PEM) of --client-cert (keep it 0600).")
    token: str = named_setting("", "Bearer token of an agent-role user (never logged).")
    username: str = named_setting(
        "",
        "Agent-role user to log in as (instead of --token); the agent logs in again when its "
        "token expires or romanad refuses it.",
    )
    password: str = named_setting("", "Password of --username (never logged).", flag=False)
    password_file: str = named_setting(
        "",
        "File holding the password of --username (one line; what `romana install host` "
        "writes to /etc/romana/agent.password); the agent refuses to start when the file is "
        "readable or writable by group or others.",
    )
    insecure: bool = named_setting(False, "Send no credentials (romanad runs with --insecure).")
    socket: str = named_setting(
        DEFAULT_SOCKET, "Unix socket of the local API the CNI plugin calls (at most 107 bytes)."
    )
    docker_socket: str = named_setting(
        "",
        "Unix socket on which the agent serves Docker the libnetwork remote plugin romana "
        "(network and IPAM driver); Docker looks for /run/docker/plugins/romana.sock. "
        "Empty: no Docker plugin.",
    )
    docker_api: str = named_setting(
        DEFAULT_DOCKER_API,
        "Unix socket of dockerd's Engine API, which the Docker plugin asks which container "
        "holds each endpoint (shown as the allocation's workload); only with docker_socket.",
    )
    bird: str = named_setting(
        "bird",
        "BIRD 2's daemon, run by the agent when its host is in a topology in bgp route mode "
        "(its files go to state_dir/bird).",
    )
    birdc: str = named_setting("birdc", "BIRD 2's client, to reconfigure and ask it.")
    api_group: str = named_setting(
        "",
        "Group (name or number) whose members may call the local API besides root: the "
        "socket becomes root:<group> mode 0660, and each caller's credentials are checked "
        "(SO_PEERCRED). Empty: root only, mode 0600.",
    )
    state_dir: str = named_setting(
        DEFAULT_STATE_DIR,
        "Directory of the durable endpoint registry (one file per endpoint), of the Docker "
        "plugin's endpoint map and of BIRD's files (bird/).",
    )
    proc_sys: str = named_setting(
        "/proc/sys",
        "Directory of the kernel's sysctls whose net/ subtree the agent reads and writes. In a "
        "container whose /proc/sys is read-only (Kubernetes), mount the host's /proc/sys/net "
        "at DIR/net and name DIR here (the DaemonSet uses /host/proc/sys).",
    )
    pending_dir: str = named_setting(
        DEFAULT_PENDING_DIR,
        "Directory where the CNI plugin leaves releases it could not hand to the agent; "
        "the agent finishes them.",
    )
    gc_grace: float = named_setting(
        60.0,
        "Seconds after its ADD during which GC spares an endpoint (an ADD may be in flight): "
        "CNI GC, and the Docker plugin's sweep, which releases a docker endpoint older than "
        "this whose container is gone (dockerd died without telling the plugin).",
    )
    docker_gc_interval: float = named_setting(
        30.0,
        "Seconds between the Docker plugin's sweeps for docker endpoints whose container is "
        "gone (see gc_grace); only with docker_socket.",
    )
    firewall: str = named_setting(
        "nftables",
        "Firewall backend: nftables (one table, one atomic transaction) or iptables "
        "(iptables-restore --noflush of our chains and sets).",
    )
    drop_log: bool = named_setting(
        True,
        "Log each attributed drop (rate-limited) for `romana drops` to follow; false keeps "
        "the firewall's drop counts but leaves the log rules out.",
    )
    reconcile_interval: float = named_setting(
        10.0, "Seconds between full reconciles when nothing else asks for one."
    )
    view_wait: float = named_setting(
        30.0,
        "Seconds one long-poll of the host view may wait for a change (romanad caps it at 60).",
    )
    routing_report_interval: float = named_setting(
        30.0,
        "Seconds between routing reports to romanad (BGP sessions, routes and their sources) "
        "when nothing changed; a change is reported within a few seconds.",
    )
    aggregate_routes: bool = named_setting(
        True, "Route to other groups by their aggregate prefix (false: one route per remote host)."
    )
    metrics: str = named_setting(
        "127.0.0.1:9604", "host:port of the Prometheus metrics endpoint; empty turns it off."
    )
    mtu: int = named_setting(
        0, "MTU of endpoint interfaces; 0 takes the MTU of the underlay interface."
    )
    log_level: str = named_setting("info", "debug, info, warning or error.")

    def api_gid(self) -> int | None:
        """The group id of ``api_group``, None when it is empty; call on validated settings."""
        return _gid(self.api_group) if self.api_group else None

    def with_password_read(self) -> AgentSettings:
        """These settings with ``password`` read from ``password_file`` (when one is given):
        the file must be a regular file readable and writable by its owner only, and hold the
        password on its first line. Raises InvalidInput naming the file and the rule."""
        if not self.password_file:
            return self
        return replace(self, password=read_password_file(self.password_file), password_file="")

    def parsed_labels(self) -> dict[str, str]:
        """``labels`` as a mapping; call only on validated settings."""
        return dict(item.split("=", 1) for item in self.labels)

    def validate(self) -> None:
        issues = Issues("agent settings")
        if self.host and (len(self.host) > 253 or any(c.isspace() for c in self.host)):
            issues.add("host", "must be 1..253 characters without white space")
        if self.host_ip:
            try:
                ipaddress.ip_address(self.host_ip)
            except ValueError:
                issues.add("host_ip", f"{self.host_ip!r} is not an IP address")
        if self.host_ip6:
            try:
                ip6 = ipaddress.ip_address(self.host_ip6)
            except ValueError:
                ip6 = None
            if ip6 is None or ip6.version != 6:
                issues.add("host_ip6", f"{self.host_ip6!r} is not an IPv6 address")
            elif ":" in self.host_ip:
                issues.add("host_ip6", "must not be set when --host-ip is IPv6 already")
        for i, item in enumerate(self.labels):
            key, sep, value = item.partition("=")
            if not sep or not key:
                issues.add(f"labels[{i}]", f"{item!r} must be key=value")
            elif names.check_label_key(key, f"labels[{i}]", issues):
                names.check_label_value(value, f"labels[{i}]", issues)
        config.check_romanad_client(
            self, "ROMANA_AGENT_PASSWORD", issues, password_file=self.password_file
        )
        if self.password_file and self.password:
            issues.add("password_file", "must not be combined with ROMANA_AGENT_PASSWORD")
        if self.password_file and not self.username:
            issues.add("password_file", "goes with --username")
        for name, path in (("socket", self.socket), ("docker_socket", self.docker_socket)):
            if name == "docker_socket" and not path:
                continue  # no Docker plugin
            if not path.startswith("/"):
                issues.add(name, "must be an absolute path")
            elif len(os.fsencode(path)) > MAX_SOCKET_PATH:
                issues.add(name, f"must be at most {MAX_SOCKET_PATH} bytes (a Unix socket path)")
        if self.docker_socket and not self.docker_api.startswith("/"):
            issues.add("docker_api", "must be an absolute path")
        if self.api_group and _gid(self.api_group) is None:
            issues.add("api_group", f"{self.api_group!r} is not a group of this host")
        for name in ("state_dir", "pending_dir", "proc_sys"):
            if not getattr(self, name).startswith("/"):
                issues.add(name, "must be an absolute path")
        if self.firewall not in FIREWALLS:
            issues.add("firewall", f"must be one of {', '.join(FIREWALLS)}")
        if self.gc_grace < 0:
            issues.add("gc_grace", "must be >= 0")
        if self.docker_gc_interval <= 0:
            issues.add("docker_gc_interval", "must be > 0")
        if self.reconcile_interval <= 0:
            issues.add("reconcile_interval", "must be > 0")
        if not 0 < self.view_wait <= 60:
            issues.add("view_wait", "must be in (0, 60]")
        if self.routing_report_interval <= 0:
            issues.add("routing_report_interval", "must be > 0")
        if self.metrics:
            _, sep, port = self.metrics.rpartition(":")
            if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
                issues.add("metrics", f"{self.metrics!r} must be host:port")
        if self.mtu and not hostplan.MIN_MTU <= self.mtu <= hostplan.MAX_MTU:
            issues.add("mtu", f"must be 0 or {hostplan.MIN_MTU}..{hostplan.MAX_MTU}")
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            issues.add("log_level", "must be debug, info, warning or error")
        if self.interface and (
            len(self.interface) > hostplan.IFNAMSIZ
            or "/" in self.interface
            or " " in self.interface
        ):
            issues.add("interface", f"{self.interface!r} is not a valid interface name")
        issues.raise_if_any()


def read_password_file(path: str) -> str:
    """The password in the file at ``path``, its trailing newline stripped. The file is opened
    first and the mode checked is that of the open file, so it is the mode of the file read."""

    def refused(rule: str) -> InvalidInput:
        return InvalidInput([Issue("password_file", rule)])

    try:
        with open(path, "rb") as f:
            info = os.fstat(f.fileno())
            mode = stat.S_IMODE(info.st_mode)
            if not stat.S_ISREG(info.st_mode):
                raise refused(f"{path} is not a regular file")
            if mode & 0o077:
                raise refused(
                    f"{path} has mode {mode:04o}: it holds a password, so group and others "
                    f"must have no access to it (chmod 600 {path})"
                )
            raw = f.read(MAX_PASSWORD_FILE + 1)
    except OSError as exc:
        raise refused(f"cannot read {path}: {exc.strerror}") from exc
    if len(raw) > MAX_PASSWORD_FILE:
        raise refused(f"{path} is larger than {MAX_PASSWORD_FILE} bytes")
    try:
        password = raw.decode().rstrip("\r\n")
    except UnicodeDecodeError as exc:
        raise refused(f"{path} is not UTF-8 text") from exc
    if not password:
        raise refused(f"{path} is empty")
    return password


def _gid(group: str) -> int | None:
    """The id of a group given by name or number; None when this host has no such group."""
    try:
        return grp.getgrnam(group).gr_gid
    except KeyError:
        pass
    if group.isdigit():
        return int(group)
    return None
