"""The kubelet's probes in the Kubernetes manifests ask what the daemons serve, where they serve
it, and romanad's store is where the manifests say: a claimed volume with SQLite, none with etcd.

The probes are read from :func:`romana.deploy.kubernetes.render` and the listening addresses
from the rendered ConfigMap, loaded as each daemon loads its settings file. romanad is a real
one serving TLS as the manifests configure it; the agent's probes go to the agent's own
metrics server, whose every other path answers the metrics, so a wrong probe path would be
answered 200 too: the bodies are checked, not only the status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from romana import config
from romana.agent import main as agent_main
from romana.agent.metrics import Metrics
from romana.api.settings import RomanadSettings
from romana.deploy import kubeparts, kubernetes, layout
from romana.lab.romanad import Romanad
from support import tls

PROBES = ("livenessProbe", "readinessProbe")


def pod_of(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    spec: dict[str, Any] = found["spec"]["template"]["spec"]
    return spec


def settings_file(objects: list[dict[str, Any]], name: str, tmp_path: Path) -> Path:
    (config_map,) = [o for o in objects if o["kind"] == "ConfigMap"]
    path = tmp_path / name
    path.write_text(config_map["data"][name])
    return path


def test_romanads_probes_reach_its_health_and_readiness_over_tls(tmp_path: Path) -> None:
    objects = kubernetes.render()
    (container,) = pod_of(objects, "Deployment", kubeparts.ROMANAD)["containers"]
    file = settings_file(objects, "romanad.toml", tmp_path)
    settings = config.load(RomanadSettings, environ={}, file=file, section="romanad").settings
    port = int(settings.listen.rpartition(":")[2])
    assert settings.tls_cert and settings.tls_key, "the manifests' romanad serves TLS"
    assert [p["containerPort"] for p in container["ports"]] == [port]
    gets = {probe: container[probe]["httpGet"] for probe in PROBES}
    for probe, get in gets.items():
        assert (get["scheme"], get["port"]) == ("HTTPS", port), probe

    ca = tls.make_ca(tmp_path / "ca")
    served = tls.Served(ca, ca.issue("romanad"))
    work = tmp_path / "romanad"
    daemon = Romanad(work, store=f"sqlite://{work}/romana.db", tls=served)
    with daemon, daemon.http() as http:
        base = f"https://127.0.0.1:{daemon.port}"
        alive = http.get(base + gets["livenessProbe"]["path"])
        ready = http.get(base + gets["readinessProbe"]["path"])
    assert (alive.status_code, alive.json()["status"]) == (200, "ok")
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")


def test_the_agents_probes_reach_its_metrics_server_and_say_alive_and_not_yet_ready(
    tmp_path: Path,
) -> None:
    objects = kubernetes.render()
    pod = pod_of(objects, "DaemonSet", kubeparts.AGENT)
    assert pod["hostNetwork"] is True  # the kubelet reaches the node's 127.0.0.1
    (container,) = pod["containers"]
    file = settings_file(objects, "agent.toml", tmp_path)
    # The container's command line as the kubelet expands it, its settings file read from here.
    argv = [a.replace("$(NODE_NAME)", "node1") for a in container["command"]]
    argv = [str(file) if a == f"{kubeparts.CONFIG_DIR}/agent.toml" else a for a in argv]
    settings = agent_main.load_settings(argv[1:], {}).settings
    gets = {probe: container[probe]["httpGet"] for probe in PROBES}
    for probe, get in gets.items():
        assert f"{get['host']}:{get['port']}" == settings.metrics, probe
        assert get.get("scheme", "HTTP") == "HTTP", probe

    metrics = Metrics()
    server, thread = metrics.serve("127.0.0.1:0")
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        with httpx.Client(trust_env=False, timeout=5) as http:
            alive = http.get(base + gets["livenessProbe"]["path"])
            not_ready = http.get(base + gets["readinessProbe"]["path"])
            metrics.ready.set()  # what the reconciler does after its first reconciled view
            ready = http.get(base + gets["readinessProbe"]["path"])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert (alive.status_code, alive.text) == (200, "ok\n")
    assert not_ready.status_code == 503 and "no host view" in not_ready.text
    assert (ready.status_code, ready.text) == (200, "ok\n")


def test_sqlite_keeps_romanads_store_on_a_claimed_volume_and_etcd_needs_none(
    tmp_path: Path,
) -> None:
    objects = kubernetes.render()
    (claim,) = [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    romanad_pod = pod_of(objects, "Deployment", kubeparts.ROMANAD)
    (state,) = [v for v in romanad_pod["volumes"] if v["name"] == "state"]
    assert state["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    (container,) = romanad_pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    file = settings_file(objects, "romanad.toml", tmp_path)
    settings = config.load(RomanadSettings, environ={}, file=file, section="romanad").settings
    assert settings.store == f"sqlite://{mounts['state']}/romana.db"
    assert mounts["state"] == layout.STATE_DIR

    etcd = kubernetes.Options(store="etcd://etcd-0:2379,etcd-1:2379/romana")
    objects = kubernetes.render(etcd)
    assert not [o for o in objects if o["kind"] == "PersistentVolumeClaim"]
    file = settings_file(objects, "romanad.toml", tmp_path)
    settings = config.load(RomanadSettings, environ={}, file=file, section="romanad").settings
    assert settings.store == etcd.store
