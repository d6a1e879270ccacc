"""`--export N` for versions registered before the gate logged serving artifacts: it verifies and
logs the artifact and moves nothing; a version whose graph cannot be verified is exit 3, anything
else exit 1. Real pipelines, an in-memory registry standing in for MLflow."""

import pytest
from mlflow.exceptions import MlflowException

from taller_mlflow.promotion import export as export_module
from taller_mlflow.promotion import promote_cli as promote
from taller_mlflow.promotion.export import ExportRejected, export_version
from taller_mlflow.promotion.fitted import Fitted, ModelUnloadable
from taller_mlflow.promotion.outcome import PromotionError
from taller_mlflow.serving.artifacts import ArtifactLoader
from taller_mlflow.serving.manifest import SHA256_TAG
from tests.support.models import production_like, unconvertible
from tests.unit.promotion.fakes import NAME, FakeRegistry, FakeRest, eval_rows


def no_eval_rows(client, name, version):
    from taller_mlflow.promotion.evaluation import EvalRowsMissing

    raise EvalRowsMissing(f"{name}/{version} has no readable evaluation/eval_rows.csv")


@pytest.fixture(scope="module")
def models() -> dict:
    return {"good": production_like(), "odd": unconvertible()}


class OldVersions:
    """A registry of versions registered the old way: no serving tags, no evaluation rows."""

    def __init__(self, models: dict):
        self.registry = FakeRegistry()
        self.models: dict[str, object] = {}
        self.said: list[str] = []
        for kind in ("good", "odd"):
            self.models[self.registry.add_version()] = models[kind]

    def loader(self, name, version):
        model = self.models[version]
        if isinstance(model, Exception):
            raise model
        return Fitted(model, f"run-{version}", None)

    def export(self, version: str, rows=no_eval_rows):
        return export_version(
            self.registry,
            "http://mlflow.test",
            NAME,
            version,
            self.said.append,
            loader=self.loader,
            eval_rows=rows,
        )


@pytest.fixture
def old(models) -> OldVersions:
    return OldVersions(models)


def test_export_logs_graph_and_tags_for_an_old_version_and_moves_no_alias(old):
    done = old.export("1")
    assert old.said == [
        f"{NAME}/1 has no readable evaluation/eval_rows.csv; verifying on the packaged CSV's "
        "penguins only"
    ]
    assert (done.parity.rows, done.previous_sha256) == (351, None)
    assert old.registry.tags("1")[SHA256_TAG] == done.sha256
    assert not [e for e in old.registry.log if e[0] == "set_registered_model_alias"]
    assert not [k for k in old.registry.tags("1") if k.startswith("promotion.")]
    assert ArtifactLoader(FakeRest(old.registry))(NAME, "1").sha256 == done.sha256


def test_export_uses_the_held_out_rows_when_the_version_has_them(old):
    done = old.export("1", rows=lambda client, name, version: eval_rows(60))
    assert done.parity.rows == 60 + 351
    assert done.parity.sources[0] == "held-out evaluation rows of run run-1: 60"


def test_re_export_is_idempotent(old):
    first = old.export("1")
    again = old.export("1")
    assert again.sha256 == first.sha256 == again.previous_sha256
    assert again.line().endswith("re-verified, same sha256 as before at serving/modelo_penguins/v1")


def test_a_version_whose_model_cannot_be_converted_is_rejected_and_left_untagged(old):
    with pytest.raises(ExportRejected, match=f"{NAME} version 2 cannot be served: skl2onnx"):
        old.export("2")
    assert old.registry.tags("2") == {} and old.registry.artifacts == {}


def test_a_version_whose_pickle_does_not_load_is_rejected(old):
    old.models["2"] = ModelUnloadable(f"{NAME}/2: its scikit-learn model does not load: boom")
    with pytest.raises(ExportRejected, match="does not load: boom"):
        old.export("2")


def test_an_unknown_version_is_a_promotion_error_not_a_rejection(old):
    with pytest.raises(PromotionError, match=f"{NAME} version 9: .*not found"):
        old.export("9")


def test_the_command_exits_0_3_or_1_as_the_export_went(old, monkeypatch, capsys):
    monkeypatch.setattr(promote, "check_server", lambda uri: old.registry)
    monkeypatch.setattr(export_module, "fitted_loader", lambda client, uri: old.loader)
    monkeypatch.setattr(export_module, "load_eval_rows", no_eval_rows)
    assert promote.main(["--export", "1"]) == 0
    out = capsys.readouterr().out.splitlines()
    sha = old.registry.tags("1")[SHA256_TAG]
    assert out[-1].startswith(f"{NAME} version 1 verified: sha256 {sha[:12]}, 351 rows compared")

    assert promote.main(["--export", "2"]) == 3
    (err,) = capsys.readouterr().err.splitlines()
    assert err.startswith(f"error: {NAME} version 2 cannot be served: skl2onnx cannot convert")

    assert promote.main(["--export", "9"]) == 1
    (err,) = capsys.readouterr().err.splitlines()
    assert err.startswith(f"error: {NAME} version 9: ")

    old.models["1"] = MlflowException("API request to endpoint failed: Connection refused")
    assert promote.main(["--export", "1"]) == 1
    assert (
        capsys.readouterr().err
        == "error: mlflow: API request to endpoint failed: Connection refused\n"
    )
