"""Serving artifacts against a real MLflow server (PostgreSQL, S3 through the server's proxy):
versions registered the old way (log_model + register, no gate) have none and the API's loader
refuses them; `--export N` verifies and logs one, again and again with the same sha256; a version
whose pickle cannot be converted is refused with exit 3; and forcing such a version live moves the
alias but says the API will not serve it, the fresh-process probe failing with the loader's own
message.
"""

import sys

import pytest
from mlflow import MlflowClient

from taller_mlflow.promotion import outcome as oc
from taller_mlflow.promotion import promote_cli as promote
from taller_mlflow.serving.artifacts import ArtifactLoader, NotServable
from taller_mlflow.serving.manifest import (
    FORMAT_TAG,
    GRAPH_FILE,
    MANIFEST_FILE,
    PATH_TAG,
    SHA256_TAG,
    export_command,
)
from taller_mlflow.serving.mlflow_rest import MlflowRest
from tests.support import ADELIE
from tests.support.models import production_like, unconvertible
from tests.support.promotion import MODEL, log_version
from tests.support.services import start_stack


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = start_stack(tmp_path_factory.mktemp("serving-export"))
    yield s
    s.close()


@pytest.fixture(scope="module")
def client(stack) -> MlflowClient:
    return MlflowClient(stack.tracking_uri, registry_uri=stack.tracking_uri)


@pytest.fixture(scope="module")
def old_version(stack) -> tuple[str, str]:
    """(version, run id) of the project's pipeline, logged and registered the old way: no gate,
    no export."""
    return log_version(stack, production_like(), verified=False)


def tags(client, version: str) -> dict:
    return dict(client.get_model_version(MODEL, version).tags)


def load_as_the_api(stack, version: str):
    return ArtifactLoader(MlflowRest(stack.tracking_uri))(MODEL, version)


def run_promote(stack, *args: str) -> int:
    return promote.main([*args, "--tracking-uri", stack.tracking_uri])


def serving_files(client, run_id: str, version: str) -> list[str]:
    return sorted(f.path for f in client.list_artifacts(run_id, f"serving/{MODEL}/v{version}"))


def test_an_old_version_has_no_artifact_and_the_apis_loader_refuses_it(stack, client, old_version):
    version, _ = old_version
    assert not [k for k in tags(client, version) if k.startswith("serving.")]
    with pytest.raises(NotServable, match="has no verified serving artifact") as refused:
        load_as_the_api(stack, version)
    assert export_command(MODEL, version) in str(refused.value)


def test_export_logs_graph_and_tags_for_an_old_version(stack, client, old_version, capsys):
    version, run_id = old_version
    assert run_promote(stack, "--export", version) == 0
    out = capsys.readouterr().out.splitlines()
    print("\n".join(out), file=sys.__stdout__)
    trail = tags(client, version)
    sha = trail[SHA256_TAG]
    assert (trail[FORMAT_TAG], trail[PATH_TAG]) == ("onnx", f"serving/{MODEL}/v{version}")
    assert out[-1].startswith(f"{MODEL} version {version} verified: sha256 {sha[:12]}, ")
    assert "351 rows compared" in out[-1]  # no held-out rows were logged: the CSV's penguins
    assert serving_files(client, run_id, version) == [
        f"serving/{MODEL}/v{version}/{MANIFEST_FILE}",
        f"serving/{MODEL}/v{version}/{GRAPH_FILE}",
    ]
    assert not [k for k in trail if k.startswith("promotion.")]
    assert "production" not in (client.get_registered_model(MODEL).aliases or {})
    served = load_as_the_api(stack, version)  # over REST, sha256 checked, smoke-tested
    assert served.sha256 == sha and served.manifest.parity.rows == 351
    proba = served.predict_proba({k: [ADELIE[k]] for k in served.manifest.input_example})
    assert served.classes[proba.argmax()] == "Adelie"


def test_re_export_is_idempotent(stack, client, old_version, capsys):
    version, run_id = old_version
    sha = tags(client, version)[SHA256_TAG]
    first = load_as_the_api(stack, version).manifest
    assert run_promote(stack, "--export", version) == 0
    line = capsys.readouterr().out.splitlines()[-1]
    assert line.endswith(f"re-verified, same sha256 as before at serving/{MODEL}/v{version}")
    assert tags(client, version)[SHA256_TAG] == sha
    again = load_as_the_api(stack, version).manifest
    assert (again.sha256, again.expected_probabilities) == (
        first.sha256,
        first.expected_probabilities,
    )
    assert len(serving_files(client, run_id, version)) == 2


def test_a_version_whose_pickle_cannot_be_converted_fails_export_with_exit_3(stack, client, capsys):
    version, run_id = log_version(stack, unconvertible(), verified=False)
    capsys.readouterr()  # MLflow's own lines about registering it
    assert run_promote(stack, "--export", version) == promote.REJECTED_EXIT == 3
    (err,) = capsys.readouterr().err.splitlines()
    assert err.startswith(f"error: {MODEL} version {version} cannot be served: skl2onnx cannot")
    assert "FunctionTransformer" in err
    assert not [k for k in tags(client, version) if k.startswith("serving.")]
    assert serving_files(client, run_id, version) == []


def test_export_of_an_unknown_version_exits_1(stack, capsys):
    assert run_promote(stack, "--export", "99") == 1
    (err,) = capsys.readouterr().err.splitlines()
    assert err.startswith(f"error: {MODEL} version 99: ")


def test_forcing_an_unconvertible_version_live_warns_that_the_api_will_not_serve_it(
    stack, client, old_version, capsys
):
    good, _ = old_version
    # The old version has no held-out rows, so only --force puts it live (its graph verifies).
    assert run_promote(stack, good, "--force") == 0
    out = capsys.readouterr().out
    assert "[pass] ONNX graph verified against scikit-learn" in out
    assert "[pass] loads in a fresh process without S3 keys" in out
    # No example was registered with it: the probe asks the graph the manifest's example.
    assert "[pass] predicts its input example: 3 rows of its manifest's input example" in out
    assert "warning:" not in out
    bad, _ = log_version(stack, unconvertible(), verified=False)
    capsys.readouterr()
    assert run_promote(stack, bad, "--force") == 0
    out = capsys.readouterr().out
    print(out, file=sys.__stdout__)
    lines = out.splitlines()
    assert "[FAIL] ONNX graph verified against scikit-learn: skl2onnx cannot convert it" in out
    assert (
        f"[FAIL] loads in a fresh process without S3 keys: cannot load: NotServable: "
        f"{MODEL}/{bad} has no verified serving artifact"
    ) in out
    assert lines[-2].startswith(f"{MODEL} version {bad} is now @production (was {good})")
    assert lines[-1] == (
        f"warning: the API will NOT serve {MODEL} version {bad}: it has no verified serving "
        f"artifact; @production keeps serving version {good}, the last verified one. Once its "
        f"graph can be verified: {export_command(MODEL, bad)}"
    )
    assert str(client.get_registered_model(MODEL).aliases["production"]) == bad
    assert tags(client, bad)[oc.FORCED] == "true"
