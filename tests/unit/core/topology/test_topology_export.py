"""Topology out: the document round trip, the persisted form, and the tree view."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from romana.core import topology
from romana.core.identifiers import HostName

DATA = Path(__file__).resolve().parents[3] / "data" / "topology"
EXAMPLES = Path(__file__).resolve().parents[4] / "examples" / "topology"
DOCUMENTS = sorted(DATA.glob("*.json")) + sorted(EXAMPLES.glob("*.json"))


def seat(name: str, n: int, rack: str, index: int) -> dict[str, object]:
    return {"name": name, "ip": f"192.168.0.{n}", "labels": {"rack": rack}, "index": index}


def two_racks() -> topology.Topology:
    topo = topology.parse(json.loads((DATA / "two-racks.json").read_text()))
    topo = topology.remove_host(topo, HostName("h1"))
    topo, _ = topology.place_host(
        topo, topology.HostSpec(HostName("h4"), "192.168.0.4", {"rack": "b"})
    )
    return topo


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_sample_document_survives_the_round_trip(path: Path) -> None:
    topo = topology.parse(json.loads(path.read_text()))
    again = topology.parse(json.loads(json.dumps(topology.to_document(topo))))
    assert again == topo


def test_document_keeps_placed_hosts_with_labels_and_index() -> None:
    # h1 is gone, so h2 keeps index 1 with index 0 free: only "index" can say so.
    assert topology.to_document(two_racks()) == {
        "networks": [
            {
                "name": "net",
                "cidr": "10.0.0.0/8",
                "tenant_bits": 4,
                "segment_bits": 4,
                "endpoint_bits": 8,
            }
        ],
        "topologies": [
            {
                "networks": ["net"],
                "map": [
                    {
                        "name": "rack-a",
                        "assignment": {"rack": "a"},
                        "groups": [seat("h2", 2, "a", 1)],
                    },
                    {
                        "name": "rack-b",
                        "assignment": {"rack": "b"},
                        "groups": [
                            seat("h3", 3, "b", 128),
                            seat("h4", 4, "b", 129),
                        ],
                    },
                ],
            }
        ],
    }


def test_round_trip_after_changes_and_persisted_form() -> None:
    topo = two_racks()
    assert topology.parse(topology.to_document(topo)) == topo
    stored = json.dumps(topology.to_json_dict(topo))
    assert topology.from_json_dict(json.loads(stored)) == topo


@pytest.mark.parametrize(
    "groups",
    [
        [],
        [{"name": "h", "ip": "192.0.2.1", "index": 5}],
        [{"groups": []}],
        [{"groups": [{"name": "only", "groups": []}]}],
        [{"name": "root", "routing": "bgp", "groups": [{"name": "a"}, {"name": "b"}]}],
        [{"assignment": {"k": "v"}, "groups": [seat("h", 1, "x", 0) | {"labels": {"k": "v"}}]}],
        [{}, {"groups": [{}, {}, {}]}],
    ],
    ids=[
        "empty",
        "hosts",
        "unnamed-leaf",
        "single-child",
        "named-root",
        "assigned-root",
        "unnamed",
    ],
)
def test_map_shapes_round_trip(groups: list[object]) -> None:
    net = {"name": "n", "cidr": "10.0.0.0/8"}
    topo = topology.parse({"networks": [net], "topologies": [{"networks": ["n"], "map": groups}]})
    assert topology.parse(topology.to_document(topo)) == topo


def test_tree_view_has_every_prefix_per_network() -> None:
    topo = topology.parse(json.loads((EXAMPLES / "zones-dual-stack.json").read_text()))
    labels = {"topology.kubernetes.io/zone": "b", "rack": "3"}
    topo, _ = topology.place_host(topo, topology.HostSpec(HostName("b3"), "192.0.2.7", labels))
    view = topology.tree_view(topo)
    zone_b = view["topologies"][0]["root"]["groups"][1]
    assert zone_b["prefixes"] == {"pods-v4": "10.128.0.0/9", "pods-v6": "fd00:10:0:0:8000::/65"}
    assert zone_b["free_slots"] == 1
    rack_3 = zone_b["groups"][2]
    assert rack_3["path"] == "zone-b/rack-3"
    assert rack_3["capacity"] == 32
    assert rack_3["hosts"] == [
        {
            "name": "b3",
            "ip": "192.0.2.7",
            "ip6": None,
            "index": 192,
            "labels": labels,
            "prefixes": {"pods-v4": "10.192.0.0/16", "pods-v6": "fd00:10:0:0:c000::/72"},
        }
    ]
    infra = view["topologies"][1]
    assert infra["networks"] == ["infra"] and infra["topology_bits"] == 6
    # The same host is in the flat infra tree too.
    assert infra["root"]["hosts"][0]["prefixes"] == {"infra": "172.20.0.0/22"}
    assert json.loads(json.dumps(view)) == view


def test_ip6_survives_the_round_trip_and_shows_in_the_views() -> None:
    topo = two_racks()
    topo, _ = topology.place_host(
        topo, topology.HostSpec(HostName("h5"), "192.168.0.5", {"rack": "a"}, "2001:db8::5")
    )
    document = topology.to_document(topo)
    rack_a = document["topologies"][0]["map"][0]["groups"]
    assert rack_a[-1] == {
        "name": "h5",
        "ip": "192.168.0.5",
        "ip6": "2001:db8::5",
        "labels": {"rack": "a"},
        "index": 0,
    }
    assert "ip6" not in rack_a[0]
    assert topology.from_json_dict(json.loads(json.dumps(document))) == topo
    hosts = topology.tree_view(topo)["topologies"][0]["root"]["groups"][0]["hosts"]
    assert [(h["name"], h["ip6"]) for h in hosts] == [("h2", None), ("h5", "2001:db8::5")]
    assert (
        "      - h5 192.168.0.5 2001:db8::5  #0 10.0.0.0/16"
        in topology.draw(topology.tree_view(topo)).splitlines()
    )


def test_draw() -> None:
    assert topology.draw(topology.tree_view(two_racks())) == "\n".join(
        [
            "topologies[0] networks net (8 topology bits)",
            "  (root)  10.0.0.0/8",
            "    rack-a  10.0.0.0/9  [rack=a; 1/128 hosts]",
            "      - h2 192.168.0.2  #1 10.1.0.0/16",
            "    rack-b  10.128.0.0/9  [rack=b; 2/128 hosts]",
            "      - h3 192.168.0.3  #128 10.128.0.0/16",
            "      - h4 192.168.0.4  #129 10.129.0.0/16",
        ]
    )


def test_draw_shows_free_slots_and_networks_in_no_topology() -> None:
    spare = {"name": "spare", "cidr": "172.16.0.0/12"}
    net = {"name": "n", "cidr": "10.0.0.0/8"}
    groups = [{"name": "a"}, {"name": "b"}, {"name": "c", "assignment": {"k": "v"}}]
    topo = topology.parse(
        {"networks": [net, spare], "topologies": [{"networks": ["n"], "map": groups}]}
    )
    assert topology.draw(topology.tree_view(topo)) == "\n".join(
        [
            "topologies[0] networks n (8 topology bits)",
            "  (root)  10.0.0.0/8  [1 free slots]",
            "    a  10.0.0.0/10  [0/64 hosts]",
            "    b  10.64.0.0/10  [0/64 hosts]",
            "    c  10.128.0.0/10  [k=v; 0/64 hosts]",
            "networks in no topology: spare",
        ]
    )
