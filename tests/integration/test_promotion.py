"""The promotion gate against a real MLflow server (PostgreSQL, S3 through the server's proxy).

One stack and one quick training (its version goes live through the gate, as the first version
of a model must, with its verified serving artifact, which the API's loader takes); then
candidates fitted with the same pipeline and logged with the same artifacts as training logs
(log_best): one trained on 20 rows, which the gate must reject, equal ones, which it must
promote; a rollback; and two promotions racing as separate processes.
"""

import subprocess
import sys
import threading

import mlflow
import pytest
from mlflow import MlflowClient

from taller_mlflow.mlflow_setup import without_s3_credentials
from taller_mlflow.penguins import FEATURES
from taller_mlflow.promotion import outcome as oc
from taller_mlflow.promotion import promote_cli as promote
from taller_mlflow.promotion.evaluation import eval_frame, load_eval_rows
from taller_mlflow.promotion.lease import Lease, lock_name
from taller_mlflow.serving.artifacts import ArtifactLoader
from taller_mlflow.serving.manifest import FORMAT_TAG, PATH_TAG, SHA256_TAG
from taller_mlflow.serving.mlflow_rest import MlflowRest
from taller_mlflow.training.data import read_penguins
from taller_mlflow.training.model import build_pipeline, split
from taller_mlflow.training.tracking import register_and_promote
from taller_mlflow.training.trainer import log_best, train
from tests.support.services import start_stack

NAME = "modelo_penguins"


@pytest.fixture(scope="module")
def env(tmp_path_factory, penguins_mysql_url):
    stack = start_stack(tmp_path_factory.mktemp("promotion"))
    # n_jobs=1: four small fits need no worker processes, whose start-up would cost more.
    settings = stack.settings(penguins_mysql_url, quick_grid=True, cv_folds=2, n_jobs=1)
    first = train(settings, say=lambda _: None)
    client = MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)
    yield stack, settings, first, client
    stack.close()


def candidate(env, rows: int | None = None) -> str:
    """Fit the first training's best pipeline (on `rows` training rows only, if given), log it
    as training does, and register it without touching any alias. Returns its version."""
    stack, settings, first, client = env
    penguins = read_penguins(settings.data_url)
    x_train, x_test, y_train, y_test = split(penguins.frame, settings.test_size, settings.seed)
    if rows is not None:
        x_train, y_train = x_train.head(rows), y_train.head(rows)
    model = build_pipeline(settings.seed).set_params(**first.best_params).fit(x_train, y_train)
    mlflow.set_tracking_uri(stack.tracking_uri)
    mlflow.set_registry_uri(stack.tracking_uri)
    mlflow.set_experiment(settings.experiment_name)
    with mlflow.start_run(run_name=f"candidate_{rows or 'all'}_rows") as run:
        labels = sorted(y_test.unique())
        accuracy, _, info = log_best(model, penguins, x_test, y_test, labels)
    tags = {"test_accuracy": accuracy}
    version = register_and_promote(client, info.model_uri, run.info.run_id, NAME, None, tags=tags)
    return str(version.version)


def copy_of(stack, client, version: str) -> str:
    """A new version of the same logged model and run: an equal candidate, cheaply."""
    mlflow.set_tracking_uri(stack.tracking_uri)
    mlflow.set_registry_uri(stack.tracking_uri)
    source = client.get_model_version(NAME, version).source  # models:/<logged model id>
    return str(mlflow.register_model(source, NAME, await_registration_for=0).version)


def production(client) -> str:
    return str(client.get_registered_model(NAME).aliases["production"])


def tags(client, version: str) -> dict:
    return dict(client.get_model_version(NAME, version).tags)


def run_promote(env, *args: str) -> int:
    stack = env[0]
    return promote.main([*args, "--tracking-uri", stack.tracking_uri])


def test_the_first_training_goes_live_through_the_gate_with_its_evaluation_rows(env):
    stack, settings, first, client = env
    assert first.promoted and production(client) == first.model_version
    trail = tags(client, first.model_version)
    assert trail[oc.FORCED] == "false" and oc.PREVIOUS not in trail
    assert "no production version to compare with" in trail[oc.EVALUATION]
    assert first.promotion == f"{NAME} version {first.model_version} is now @production (was unset)"
    _, x_test, _, y_test = split(read_penguins(settings.data_url).frame)
    logged = load_eval_rows(client, NAME, first.model_version)
    assert logged.equals(eval_frame(x_test, y_test)) and len(logged) == 100


def test_the_live_version_carries_its_verified_serving_artifact_and_the_api_loader_takes_it(env):
    stack, settings, first, client = env
    version = first.model_version
    trail = tags(client, version)
    assert (trail[FORMAT_TAG], trail[PATH_TAG]) == ("onnx", f"serving/{NAME}/v{version}")
    path = f"serving/{NAME}/v{version}/model.onnx"
    served = ArtifactLoader(MlflowRest(stack.tracking_uri))(NAME, version)  # as the API loads it
    manifest = served.manifest
    assert served.sha256 == trail[SHA256_TAG] == manifest.sha256
    assert manifest.parity.rows == 100 + 351 and manifest.parity.max_abs_diff <= 1e-5
    assert manifest.parity.sources[0] == f"held-out evaluation rows of run {first.run_id}: 100"
    _, x_test, _, _ = split(read_penguins(settings.data_url).frame)
    assert manifest.input_example == x_test.head(3).to_dict("list")  # the registered example
    graph_bytes = len(MlflowRest(stack.tracking_uri).download_run_artifact(first.run_id, path))
    print(
        f"v{version}: {manifest.parity.rows} rows, max abs diff {manifest.parity.max_abs_diff:.2e}"
        f", graph {graph_bytes} bytes, manifest {len(manifest.to_json())} bytes, "
        f"loaded in {served.load_seconds:.3f} s",
        file=sys.__stdout__,
    )
    frame = load_eval_rows(client, NAME, version)
    sk_model = mlflow.sklearn.load_model(f"models:/{NAME}/{version}")
    labels = served.predict_proba(frame[FEATURES].to_dict("list")).argmax(axis=1)
    assert [served.classes[i] for i in labels] == list(sk_model.predict(frame[FEATURES]))


def test_a_candidate_trained_on_20_rows_is_rejected_and_production_stays(env, capsys):
    _, _, first, client = env
    worse = candidate(env, rows=20)
    capsys.readouterr()  # MLflow's own lines about registering it
    assert run_promote(env, worse) == promote.REJECTED_EXIT
    out, err = capsys.readouterr()
    print(out, err, file=sys.__stdout__)  # the gate's decision, for the record
    checks = [line.split(":")[0] for line in out.splitlines() if line.startswith("  [")]
    assert checks == [
        "  [pass] ONNX graph verified against scikit-learn",
        "  [pass] loads in a fresh process without S3 keys",
        "  [pass] predicts its input example",
        "  [FAIL] accuracy vs production",
    ]
    assert SHA256_TAG in tags(client, worse)  # verified, servable by name/version, not live
    assert "shadow agreement: n/a" in out
    (line,) = err.splitlines()
    assert line.startswith(f"error: {NAME} version {worse} rejected (@production stays on")
    assert f"is below production version {first.model_version}'s" in line
    assert production(client) == first.model_version
    assert f"below production version {first.model_version}" in tags(client, worse)[oc.REJECTED]
    assert client.get_model_version(NAME, first.model_version).current_stage == "Production"


def test_an_equal_candidate_is_promoted_recording_the_version_it_replaced(env, capsys):
    _, _, first, client = env
    equal = candidate(env)
    capsys.readouterr()
    assert run_promote(env, equal) == 0
    out, _ = capsys.readouterr()
    print(out, file=sys.__stdout__)
    assert out.splitlines()[-1] == (
        f"{NAME} version {equal} is now @production (was {first.model_version})"
    )
    assert "[pass] ONNX graph verified against scikit-learn: sha256 " in out
    assert tags(client, equal)[SHA256_TAG]
    assert production(client) == equal
    assert tags(client, equal)[oc.PREVIOUS] == first.model_version
    stages = {v.version: v.current_stage for v in client.search_model_versions(f"name='{NAME}'")}
    assert stages[equal] == "Production" and stages[first.model_version] == "Archived"
    assert run_promote(env, equal) == 0  # again: nothing changes
    assert capsys.readouterr()[0].splitlines()[-1].endswith("is already @production; nothing to do")
    assert tags(client, equal)[oc.PREVIOUS] == first.model_version


def test_rollback_restores_the_previous_version(env, capsys):
    _, _, first, client = env
    replaced = production(client)
    assert replaced != first.model_version
    assert run_promote(env, "--rollback") == 0
    assert capsys.readouterr()[0].splitlines()[-1] == (
        f"@production rolled back from version {replaced} to {first.model_version}"
    )
    assert production(client) == first.model_version
    assert client.get_model_version(NAME, first.model_version).current_stage == "Production"
    assert f"moved back to version {first.model_version}" in tags(client, replaced)[oc.ROLLED_BACK]


class Racer:
    """`python -m taller_mlflow.promote VERSION` in its own process, its output read as it comes."""

    def __init__(self, tracking_uri: str, version: str):
        cmd = [sys.executable, "-m", "taller_mlflow.promote", version, "--tracking-uri"]
        env = {**without_s3_credentials(), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [*cmd, tracking_uri],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.waiting = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if line.startswith("waiting for the promotion lease"):
                self.waiting.set()

    def finish(self) -> int:
        code = self.proc.wait(timeout=240)
        self.reader.join(10)
        print("\n".join(self.lines), file=sys.__stdout__)
        return code


def test_two_racing_promotions_leave_one_production_version_and_a_consistent_trail(env):
    """Both promoters finish their own checks while the lease is held, then race for it at the
    moment it is released: exactly the interleaving that must not corrupt the trail."""
    stack, _, _, client = env
    before = production(client)
    versions = [copy_of(stack, client, before), copy_of(stack, client, before)]
    lease = Lease(client, NAME).acquire()
    try:
        racers = [Racer(stack.tracking_uri, version) for version in versions]
        for racer in racers:
            assert racer.waiting.wait(timeout=180), racer.lines
    finally:
        lease.release()
    assert [racer.finish() for racer in racers] == [0, 0], [r.lines for r in racers]
    live = production(client)
    assert live in versions
    (other,) = [v for v in versions if v != live]
    # The winner replaced the other racer, which had replaced what was live before the race.
    assert tags(client, live)[oc.PREVIOUS] == other
    assert tags(client, other)[oc.PREVIOUS] == before
    stages = [v.current_stage for v in client.search_model_versions(f"name='{NAME}'")]
    assert stages.count("Production") == 1
    names = [m.name for m in client.search_registered_models()]
    assert lock_name(NAME) not in names  # the lease was released
