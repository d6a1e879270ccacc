"""deploy/kubernetes/dask, checked without a cluster (marker `static`): it renders with `kubectl
kustomize`; its NetworkPolicies validate strictly against the Kubernetes schemas
(kubernetes-validate); the operator's DaskCluster, which has no schema offline, is checked by its
structure (the operator's kubernetes.dask.org/v1 fields) and its pods by the same container rules
as every other workload (test_kubernetes.container_violations)."""

import json
import subprocess

import kubernetes_validate
import pytest
import yaml

from taller_mlflow.local.servers import ROOT
from tests.static.test_kubernetes import SCHEMA_VERSIONS, container_violations, kubectl

DASK = ROOT / "deploy/kubernetes/dask"
NAME = "taller-dask"


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    out = subprocess.run(
        [kubectl(), "kustomize", str(DASK)], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


def cluster(objects) -> dict:
    found = [o for o in objects if o["kind"] == "DaskCluster"]
    assert len(found) == 1
    return found[0]


def pods(objects) -> dict[str, dict]:
    spec = cluster(objects)["spec"]
    return {"worker": spec["worker"]["spec"], "scheduler": spec["scheduler"]["spec"]}


def test_it_renders_one_dask_cluster_and_its_policies_in_the_projects_namespace(objects):
    assert sorted(o["kind"] for o in objects) == ["DaskCluster", "NetworkPolicy", "NetworkPolicy"]
    assert {o["metadata"]["namespace"] for o in objects} == {"taller-mlflow"}
    dask = cluster(objects)
    assert dask["apiVersion"] == "kubernetes.dask.org/v1"
    assert dask["metadata"]["name"] == NAME


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_the_network_policies_validate_strictly(objects, version):
    for obj in objects:
        if obj["kind"] == "NetworkPolicy":
            kubernetes_validate.validate(obj, version, strict=True)


# The operator's CRD (dask_kubernetes/operator/customresources/templates.yaml): its schema is
# assembled when the operator is built, so it cannot be fetched offline; these are its fields.
CLUSTER_FIELDS = {"scheduler", "worker", "idleTimeout"}
WORKER_FIELDS = {"replicas", "metadata", "spec"}
SCHEDULER_FIELDS = {"metadata", "spec", "service"}


def test_the_cluster_has_the_operators_structure(objects):
    """The fields the operator's CRD has: worker.spec and scheduler.spec are PodSpecs,
    scheduler.service a ServiceSpec (validated as one here); an unknown field is an error."""
    spec = cluster(objects)["spec"]
    assert {"scheduler", "worker"} <= set(spec) <= CLUSTER_FIELDS
    assert {"spec"} <= set(spec["worker"]) <= WORKER_FIELDS and spec["worker"]["replicas"] == 2
    assert {"spec", "service"} <= set(spec["scheduler"]) <= SCHEDULER_FIELDS
    service = spec["scheduler"]["service"]
    as_service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": service}
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(as_service, version, strict=True)
    assert service["selector"] == {
        "dask.org/cluster-name": NAME,
        "dask.org/component": "scheduler",
    }
    ports = {p["name"]: p["port"] for p in service["ports"]}
    assert ports == {"tcp-comm": 8786, "http-dashboard": 8787}
    assert service["type"] == "ClusterIP"  # the dashboard is not published
    named = {p["name"] for p in spec["scheduler"]["spec"]["containers"][0]["ports"]}
    assert {p["targetPort"] for p in service["ports"]} <= named


def test_the_structure_check_catches_a_misplaced_field(objects):
    broken = json.loads(json.dumps(objects))
    cluster(broken)["spec"]["replicas"] = 2  # the operator's old place for it, ignored today
    with pytest.raises(AssertionError):
        test_the_cluster_has_the_operators_structure(broken)


@pytest.mark.parametrize("role", ["worker", "scheduler"])
def test_each_pod_is_a_valid_pod_spec_that_follows_the_rules(objects, role):
    spec = pods(objects)[role]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": role}, "spec": spec}
    for version in SCHEMA_VERSIONS:
        kubernetes_validate.validate(pod, version, strict=True)
    assert spec.get("automountServiceAccountToken") is False
    broken = []
    for c in spec["containers"]:
        security = {**spec.get("securityContext", {}), **c.get("securityContext", {})}
        broken += [f"{role}/{c['name']}: {v}" for v in container_violations(c, security)]
    assert not broken, "\n".join(broken)


def test_both_run_the_training_images_dask_command(objects):
    worker = pods(objects)["worker"]["containers"][0]
    scheduler = pods(objects)["scheduler"]["containers"][0]
    for c in (worker, scheduler):
        assert c["image"] == "taller-mlflow/train:1.0.0"
    assert worker["args"][:2] == ["dask", "worker"] and "$(DASK_WORKER_NAME)" in worker["args"]
    assert scheduler["args"][:2] == ["dask", "scheduler"] and "8786" in scheduler["args"]


def test_training_reaches_the_cluster_and_the_operator_its_scheduler(objects):
    policies = {o["metadata"]["name"]: o["spec"] for o in objects if o["kind"] == "NetworkPolicy"}
    dask = policies["dask"]
    assert dask["podSelector"]["matchLabels"] == {"dask.org/cluster-name": NAME}
    sources = [peer for rule in dask["ingress"] for peer in rule["from"]]
    labels = [p.get("podSelector", {}).get("matchLabels") for p in sources]
    assert {"app.kubernetes.io/name": "train"} in labels
    namespaces = [p.get("namespaceSelector", {}).get("matchLabels") for p in sources]
    assert {"kubernetes.io/metadata.name": "dask-operator"} in namespaces
    train = policies["train-to-dask"]
    assert train["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "train"}
    assert train["egress"][0]["to"][0]["podSelector"]["matchLabels"] == {
        "dask.org/cluster-name": NAME
    }
