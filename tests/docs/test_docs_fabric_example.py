"""docs/routing.md's fabric example is the lab fabric's: its topology plans the aggregates the
ToR lets through, its ToR and spine configurations are what :mod:`romana.lab.fabricconf` renders
(and runs in tests/functional/dataplane/test_lab_fabric.py), and BIRD 2 accepts them."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from romana.core import bgpplan, topology
from romana.core.identifiers import HostName
from romana.lab import fabricconf
from support import env

ROUTING = Path(__file__).resolve().parents[2] / "docs" / "routing.md"
HEADING = "### The fabric side: an example ToR and spine"


def section() -> str:
    text = ROUTING.read_text()
    start = text.index(HEADING)
    end = text.find("\n## ", start)
    return text[start : end if end > 0 else len(text)]


def fenced(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```$", section(), re.S | re.M)


def test_the_topology_plans_the_aggregates_the_tor_lets_through() -> None:
    (document,) = fenced("json")
    plan = topology.parse(json.loads(document))
    aggregates = []
    for host in ("h1", "h3"):
        found = bgpplan.for_host(plan, HostName(host))
        assert found is not None
        aggregates.append([str(n) for n in found.aggregates])
        assert [str(p.address) for p in found.peers] == [
            str(fabricconf.rack_network(len(aggregates)).network_address + 1)
        ]
    assert aggregates == [["10.0.0.0/9"], ["10.128.0.0/9"]]
    tor, _ = fenced("conf")
    assert tor == fabricconf.tor_config(1, aggregates[0])


def test_the_spine_is_the_lab_fabrics() -> None:
    _, spine = fenced("conf")
    assert spine == fabricconf.spine_config(2)


def test_bird_accepts_both(tmp_path: Path) -> None:
    binary = env.need_binary("bird")
    for k, text in enumerate(fenced("conf")):
        path = tmp_path / f"{k}.conf"
        path.write_text(text)
        done = subprocess.run([binary, "-p", "-c", str(path)], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
