"""A routed-access fabric in namespaces of a :class:`~romana.lab.namespaces.Lab`: racks, ToRs
and a spine running BIRD 2, for romana's ``bgp`` route mode.

Each rack is its own layer-2 segment behind its ToR; the racks meet only through the ToRs
and the spine, as in a datacenter routed at the rack::

    spine  <p>-spine  BIRD, AS 65000; ``svc`` 198.18.0.254/24 on the lab's flat underlay
                      (where ``ctl`` lives), ``tor<n>`` 198.19.255.<2n-2>/31 to rack n's ToR
    ToR    <p>-tor<n> BIRD, AS 65100+n; bridge ``rack`` 198.18.<n>.1/24 (the rack segment),
                      ``spine`` 198.19.255.<2n-1>/31
    host   <p>-<name> ``eth0`` 198.18.<n>.<10+k>/24 on rack n's bridge, default route via
                      its ToR (IPv6 2001:db8:ff:<n>::<10+k>/64 is rack-local, not routed)

The rack subnets 198.18.1.0/24 … lie beside the lab's flat underlay 198.18.0.0/24, inside
the benchmarking block like it, and the links in 198.19.255.0/24: nothing leaves the
namespaces (:mod:`romana.lab.fabricconf` holds this plan). The BIRD of a ToR
(:func:`~romana.lab.fabricconf.tor_config`):

* takes any host of its rack as a passive eBGP neighbour (``neighbor range <rack> external``:
  hosts need no entry of their own), and peers with the spine;
* announces to the spine its rack subnet and, of what the hosts announce, only the rack's
  aggregates when the rack names them (else all of it): host routes stay inside the rack;
* announces to its hosts everything it learned by BGP, and installs it in its kernel;
* is a graceful-restart helper (``graceful restart aware``): a host whose BIRD restarts (its
  session closed without a BGP notification) keeps its routes for the restart time it
  announced; a host that goes silent (dead, or cut off) is dropped after the hold time
  (3 s by default, so that tests are fast).

The spine (:func:`~romana.lab.fabricconf.spine_config`) peers with every ToR, announces the
``ctl`` segment to them and passes on what each ToR announces. Every BIRD runs with ``bird
-f`` under :meth:`Lab.popen_in`, its configuration, control socket and log in its own
directory, and is stopped by PID with the lab.
"""

from __future__ import annotations

import contextlib
import ipaddress
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from romana.lab.fabricconf import (
    FIRST_HOST,
    SPINE_IP,
    TOR_ASN_BASE,
    FabricSpec,
    RackSpec,
    link_addresses,
    rack_network,
    rack_network6,
    spine_config,
    tor_config,
)
from romana.lab.namespaces import Host, Lab, Node, Segment, terminate


def binary(name: str) -> str:
    """``bird`` or ``birdc``: on PATH, else in /usr/sbin (root's PATH may lack it)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin")
    if found is None:
        raise FileNotFoundError(f"{name} (BIRD 2) is not installed")
    return found


@dataclass
class Router:
    """A namespace running BIRD: its configuration, control socket and log in ``directory``."""

    lab: Lab
    node: Node
    directory: Path
    config: str
    process: subprocess.Popen[str] | None = None

    @property
    def control(self) -> Path:
        return self.directory / "bird.ctl"

    @property
    def log_path(self) -> Path:
        return self.directory / "bird.log"

    def start(self) -> Router:
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "bird.conf"
        conf.write_text(self.config)
        with open(self.directory / "bird.out", "a") as out:
            self.process = self.lab.popen_in(
                self.node,
                [binary("bird"), "-f", "-c", str(conf), "-s", str(self.control)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
            )
        return self

    def stop(self) -> None:
        """SIGTERM by PID (BIRD withdraws what it announced), SIGKILL if it lingers."""
        terminate(self.process)

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def birdc(self, *argv: str) -> str:
        """``birdc`` against this BIRD (its socket is a file: no namespace needed)."""
        done = subprocess.run(
            [binary("birdc"), "-s", str(self.control), *argv],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"birdc {' '.join(argv)} on {self.node.name}: {done.stderr}")
        return done.stdout

    def established(self) -> set[str]:
        """The names of its BGP protocols whose session is up."""
        found: set[str] = set()
        for line in self.birdc("show", "protocols").splitlines():
            words = line.split()
            if len(words) >= 6 and words[1] == "BGP" and words[5] == "Established":
                found.add(words[0])
        return found

    def routes(self, *where: str) -> dict[str, list[str]]:
        """Its routing table (``show route`` and ``where``): prefix → the protocol of each
        route, the best first."""
        found: dict[str, list[str]] = {}
        prefix = ""
        for line in self.birdc("show", "route", *where).splitlines():
            words = line.split()
            if not words or "[" not in line:
                continue
            if not line[0].isspace():
                prefix = words[0]
            protocol = line.split("[", 1)[1].split()[0]
            found.setdefault(prefix, []).append(protocol)
        return found

    def kernel_routes(self, protocol: str = "bird") -> list[str]:
        """``ip route show proto PROTOCOL`` in its namespace, one route a line."""
        done = self.lab.run(self.node, ["ip", "-4", "route", "show", "proto", protocol])
        return [line.strip() for line in done.stdout.splitlines() if line.strip()]


@dataclass
class Rack:
    index: int
    spec: RackSpec
    tor: Router
    segment: Segment
    hosts: list[Host] = field(default_factory=list)

    @property
    def network(self) -> ipaddress.IPv4Network:
        return rack_network(self.index)

    @property
    def gateway(self) -> ipaddress.IPv4Address:
        """The ToR's address on the rack segment: its hosts' default route and BGP peer."""
        return self.network.network_address + 1

    @property
    def asn(self) -> int:
        return TOR_ASN_BASE + self.index


@dataclass
class Fabric:
    """The spine and the racks of ``spec``, built and running (:func:`build`)."""

    lab: Lab
    spec: FabricSpec
    spine: Router
    racks: dict[str, Rack]

    def rack(self, name: str) -> Rack:
        return self.racks[name]

    def add_host(self, rack: str, name: str) -> Host:
        """A host namespace on ``rack``'s segment, its default route via the ToR."""
        found = self.racks[rack]
        k = len(found.hosts) + 1
        if FIRST_HOST + k >= found.network.num_addresses - 1:
            raise ValueError(f"rack {rack} is full: {len(found.hosts)} hosts")
        host = self.lab.add_host(
            name,
            str(found.network.network_address + FIRST_HOST + k),
            str(rack_network6(found.index).network_address + FIRST_HOST + k),
            segment=found.segment,
        )
        self.lab.run(host, ["ip", "route", "add", "default", "via", str(found.gateway)])
        found.hosts.append(host)
        return host

    def add_service_host(self, name: str, ip: str | None = None, ip6: str | None = None) -> Host:
        """A host on the lab's flat underlay (as ``ctl``), its default route via the spine."""
        host = self.lab.add_host(name, ip, ip6)
        self.lab.run(host, ["ip", "route", "add", "default", "via", str(SPINE_IP)])
        return host

    def wait_established(self, timeout: float = 20.0) -> None:
        """Until the spine has a session up with every ToR."""
        want = {f"fabric_tor{r.index}" for r in self.racks.values()}
        deadline = time.monotonic() + timeout
        up: set[str] = set()
        while not want <= up:
            dead = [r.node.name for r in self.routers() if r.exited()]
            if dead or time.monotonic() > deadline:
                logs = "\n".join(
                    _tail(r.directory / name)
                    for r in self.routers()
                    for name in ("bird.out", "bird.log")
                )
                raise TimeoutError(
                    f"spine sessions up: {sorted(up)}, want {sorted(want)}; "
                    f"BIRD exited in {dead}\n{logs}"
                )
            time.sleep(0.1)
            with contextlib.suppress(RuntimeError):  # its control socket is not there yet
                up = self.spine.established()

    def routers(self) -> list[Router]:
        return [self.spine, *(r.tor for r in self.racks.values())]


def _tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return f"--- {path}: none"
    return f"--- {path}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def _batch(lab: Lab, node: Node, script: str) -> None:
    lab.run(node, ["ip", "-batch", "-"], input=script)


def build(lab: Lab, spec: FabricSpec, workdir: Path, *, wait: bool = True) -> Fabric:
    """The spine and one ToR per rack of ``spec``, linked and running BIRD; no hosts yet.

    With ``wait``, returns once the spine's sessions with every ToR are up. Torn down with
    ``lab`` (the BIRDs are its daemons, the namespaces its namespaces).
    """
    spine_node = lab.add_node("spine")
    underlay = lab.segment
    _batch(
        lab,
        underlay.node,
        f"link add {lab.prefix}sp type veth peer name svc netns {spine_node.ns}\n"
        f"link set {lab.prefix}sp master {underlay.bridge} up\n",
    )
    _batch(
        lab,
        spine_node,
        f"addr add {SPINE_IP}/{underlay.network4.prefixlen} dev svc\nlink set svc up\n",
    )
    made: dict[str, Rack] = {}
    for index, rack_spec in enumerate(spec.racks, start=1):
        node = lab.add_node(f"tor{index}")
        spine_ip, tor_ip = link_addresses(index)
        rack = rack_network(index)
        _batch(
            lab,
            node,
            "link add rack type bridge mcast_snooping 0\n"
            f"addr add {rack.network_address + 1}/{rack.prefixlen} dev rack\n"
            f"addr add {rack_network6(index).network_address + 1}/64 dev rack nodad\n"
            "link set rack up\n"
            f"link add spine type veth peer name tor{index} netns {spine_node.ns}\n"
            f"addr add {tor_ip}/31 dev spine\n"
            "link set spine up\n",
        )
        _batch(lab, spine_node, f"addr add {spine_ip}/31 dev tor{index}\nlink set tor{index} up\n")
        lab.run(node, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
        directory = workdir / f"tor{index}"
        config = tor_config(
            index,
            rack_spec.aggregates,
            hold_time=spec.hold_time,
            log_file=str(directory / "bird.log"),
        )
        tor = Router(lab, node, directory, config)
        segment = Segment(node, "rack", rack, rack_network6(index))
        made[rack_spec.name] = Rack(index, rack_spec, tor, segment)
    lab.run(spine_node, ["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    directory = workdir / "spine"
    spine = Router(
        lab,
        spine_node,
        directory,
        spine_config(len(made), hold_time=spec.hold_time, log_file=str(directory / "bird.log")),
    )
    fabric = Fabric(lab, spec, spine, made)
    for router in fabric.routers():
        router.start()
    if wait:
        fabric.wait_established()
    return fabric
