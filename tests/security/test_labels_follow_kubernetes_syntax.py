"""Host labels and group assignments follow Kubernetes' label syntax.

Issue 12, Low point "names": any non-empty string was a label key and any string a value
(``"rack name": "a b"``), so labels that Kubernetes, selectors and the shell would take
apart were stored. Now a key is an optional DNS-1123 subdomain prefix (at most 253) and
``/``, then a name of at most 63 (letters, digits, ``-``, ``_``, ``.``, alphanumeric at both
ends); a value is empty or such a name. One validator (``romana.core.names``) serves
``romana-agent --labels``, host registration and relabelling, and topology documents; a
refusal is 422 naming the field and the rule.

A real romanad over SQLite for the API; the agent's settings directly.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from romana.agent.settings import AgentSettings
from romana.core import names
from romana.core.errors import InvalidInput
from unit.api.conftest import TOPOLOGY, Api, start

PREFIX_TOO_LONG = ".".join(["a" * 60] * 5) + "/rack"  # a 304-character prefix


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    daemon = start(tmp_path_factory.mktemp("labels"))
    try:
        yield Api(daemon)
    finally:
        daemon.stop()


def _issues(response: object) -> dict[str, str]:
    r = response
    assert getattr(r, "status_code", None) == 422, getattr(r, "text", r)
    return {i["field"]: i["rule"] for i in r.json()["issues"]}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("labels", "field", "rule"),
    [
        ({"rack name": "a"}, "labels", names.LABEL_KEY_RULE),
        ({"rack": "a", "-zone": "z"}, "labels", names.LABEL_KEY_RULE),
        ({"rack": "a", "Example.com/zone": "z"}, "labels", names.LABEL_KEY_RULE),
        ({"rack": "a", PREFIX_TOO_LONG: "z"}, "labels", names.LABEL_KEY_RULE),
        ({"rack": "a", "x" * 64: "z"}, "labels", ""),
        ({"rack": "a", "zone": "z 1"}, "labels.zone", names.LABEL_VALUE_RULE),
        ({"rack": "a", "zone": "z" * 64}, "labels.zone", ""),
    ],
)
def test_registration_refuses_labels_outside_the_syntax(
    api: Api, labels: dict[str, str], field: str, rule: str
) -> None:
    host = {"name": "bad-labels", "ip": "192.0.2.50", "labels": labels}
    found = _issues(api.admin.post("/v1/hosts", json=host))
    assert field in found, found
    assert rule in found[field]
    assert api.admin.get("/v1/hosts/bad-labels").status_code == 404


def test_kubernetes_style_labels_are_taken(api: Api) -> None:
    labels = {"rack": "a", "topology.example.com/zone": "z_1.A", "empty": ""}
    host = {"name": "k8s-labels", "ip": "192.0.2.51", "labels": labels}
    r = api.admin.post("/v1/hosts", json=host)
    assert r.status_code == 201, r.text
    assert r.json()["labels"] == labels


def test_relabelling_refuses_labels_outside_the_syntax(api: Api) -> None:
    host = {"name": "relabel", "ip": "192.0.2.52", "labels": {"rack": "a"}}
    assert api.admin.post("/v1/hosts", json=host).status_code == 201
    found = _issues(api.admin.patch("/v1/hosts/relabel", json={"labels": {"rack": "a b"}}))
    assert names.LABEL_VALUE_RULE in found["labels.rack"]
    long_prefix = {"rack": "a", PREFIX_TOO_LONG: "x"}
    found = _issues(api.admin.patch("/v1/hosts/relabel", json={"labels": long_prefix}))
    assert names.LABEL_KEY_RULE in found["labels"]
    assert api.admin.get("/v1/hosts/relabel").json()["labels"] == {"rack": "a"}


def test_a_document_with_assignments_or_host_labels_outside_the_syntax_is_refused(
    api: Api,
) -> None:
    group = {"name": "rack-a", "assignment": {"rack id": "a"}, "groups": []}
    doc = {"networks": TOPOLOGY["networks"], "topologies": [{"networks": ["pods"]}]}
    doc["topologies"][0]["map"] = [group]
    found = _issues(api.admin.put("/v1/topology", json=doc))
    assert names.LABEL_KEY_RULE in found["topologies[0].map[0].assignment"]
    hosts = [{"name": "h", "ip": "192.0.2.53", "labels": {"rack": "a/b"}}]
    doc["topologies"][0]["map"] = [{"name": "rack-a", "groups": hosts}]
    found = _issues(api.admin.put("/v1/topology", json=doc))
    assert names.LABEL_VALUE_RULE in found["topologies[0].map[0].groups[0].labels.rack"]


@pytest.mark.parametrize(
    ("item", "ok"),
    [
        ("rack=r1", True),
        ("topology.example.com/rack=r1", True),
        ("rack=", True),
        ("rack name=r1", False),
        ("rack=r 1", False),
        ("Example.com/rack=r1", False),
        ("rack=-r1", False),
    ],
)
def test_agent_labels_follow_the_syntax(item: str, ok: bool) -> None:
    settings = AgentSettings(labels=(item,), insecure=True)
    if ok:
        settings.validate()
        return
    with pytest.raises(InvalidInput) as caught:
        settings.validate()
    rules = [i.rule for i in caught.value.issues if i.field == "labels[0]"]
    assert rules and ("label key" in rules[0] or "label value" in rules[0]), caught.value
