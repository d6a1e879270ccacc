"""`python -m taller_mlflow.promote` and training's exit: the arguments it refuses (--export's
included), the exit code and the one line each outcome ends with."""

import pytest
from mlflow.exceptions import MlflowException

from taller_mlflow.promotion import outcome as oc
from taller_mlflow.promotion import promote_cli as promote
from taller_mlflow.promotion.agreement import agreement_for, agreement_line
from taller_mlflow.promotion.checks import ACCURACY, Check
from taller_mlflow.promotion.export import ExportRejected
from taller_mlflow.promotion.outcome import Outcome, PromotionError
from taller_mlflow.promotion.probe import probe_env
from taller_mlflow.stage import StageError
from taller_mlflow.training import train_cli as train
from taller_mlflow.training.trainer import TrainResult


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "give either a VERSION to promote, --rollback or --export VERSION"),
        (["3", "--rollback"], "give either a VERSION to promote, --rollback or --export VERSION"),
        (["three"], "'three' is not a version number"),
        (["0"], "'0' is not a version number"),
        (["3", "--tolerance", "2"], "'2' is not an accuracy difference in [0, 1]"),
        (["--rollback", "--force"], "--force and --tolerance apply to a promotion"),
        (["--export"], "argument --export: expected one argument"),
        (["--export", "v2"], "'v2' is not a version number"),
        (["--export", "2", "3"], "--export VERSION takes no other VERSION"),
        (["--export", "2", "--force"], "--export VERSION takes no other VERSION"),
        (["--export", "2", "--rollback"], "--export VERSION takes no other VERSION"),
        (["--export", "2", "--tolerance", "0.1"], "--export VERSION takes no other VERSION"),
    ],
)
def test_bad_arguments_exit_2_naming_the_problem(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        promote.parse_args(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def outcome(status: str, passed: bool = True) -> Outcome:
    check = Check(ACCURACY, passed, "0.9000 on 100 evaluation rows is below ...")
    return Outcome("modelo_penguins", "production", "5", status, previous="4", checks=[check])


@pytest.fixture
def outcome_of_run(monkeypatch):
    def set_(result):
        def run(args, say=print):
            if isinstance(result, Exception):
                raise result
            return result

        monkeypatch.setattr(promote, "run", run)

    return set_


def test_a_promotion_exits_0_with_its_line_and_the_agreement(outcome_of_run, capsys):
    outcome_of_run(outcome(oc.PROMOTED))
    assert promote.main(["5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2:] == [
        "shadow agreement: n/a",
        "modelo_penguins version 5 is now @production (was 4)",
    ]


def test_a_rejection_exits_3_with_one_error_line(outcome_of_run, capsys):
    outcome_of_run(outcome(oc.REJECTED_STATUS, passed=False))
    assert promote.main(["5"]) == promote.REJECTED_EXIT == 3
    captured = capsys.readouterr()
    assert "[FAIL] accuracy vs production" in captured.out
    assert captured.err.splitlines() == [
        "error: modelo_penguins version 5 rejected (@production stays on version 4): "
        "accuracy vs production: 0.9000 on 100 evaluation rows is below ..."
    ]


def test_an_undecidable_promotion_exits_1_with_one_line(outcome_of_run, capsys):
    outcome_of_run(PromotionError("modelo_penguins version 9: not found"))
    assert promote.main(["9"]) == 1
    assert capsys.readouterr().err == "error: modelo_penguins version 9: not found\n"


def test_export_takes_a_version_and_a_model_name():
    args = promote.parse_args(["--export", "07", "--model", "otro"])
    assert (args.export, args.model, args.version, args.rollback) == ("7", "otro", None, False)


@pytest.fixture
def export_of_run(monkeypatch):
    def set_(result):
        def run_export(args, say=print):
            if isinstance(result, Exception):
                raise result
            return result

        monkeypatch.setattr(promote, "run_export", run_export)

    return set_


def test_an_export_exits_0_with_its_line(export_of_run, capsys):
    line = "modelo_penguins version 2 verified: sha256 0123456789ab, 451 rows compared, ..."
    export_of_run(line)
    assert promote.main(["--export", "2"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == line


def test_an_export_whose_graph_cannot_be_verified_exits_3_with_one_error_line(
    export_of_run, capsys
):
    export_of_run(ExportRejected("modelo_penguins version 2 cannot be served: not a Pipeline: X"))
    assert promote.main(["--export", "2"]) == promote.REJECTED_EXIT == 3
    assert capsys.readouterr().err.splitlines() == [
        "error: modelo_penguins version 2 cannot be served: not a Pipeline: X"
    ]


@pytest.mark.parametrize(
    "error, line",
    [
        (PromotionError("modelo_penguins version 9: not found"), "modelo_penguins version 9"),
        (StageError("mlflow", "tracking server http://x unreachable"), "unreachable"),
        (MlflowException("backend store unavailable"), "mlflow: backend store unavailable"),
        (OSError("connection reset by peer"), "connection reset by peer"),
    ],
)
def test_an_export_that_fails_for_any_other_reason_exits_1_with_one_line(
    export_of_run, capsys, error, line
):
    export_of_run(error)
    assert promote.main(["--export", "9"]) == 1
    (err,) = capsys.readouterr().err.splitlines()
    assert err.startswith("error: ") and line in err


def test_a_forced_promotion_the_api_will_not_serve_ends_with_the_warning(outcome_of_run, capsys):
    forced = outcome(oc.PROMOTED, passed=False)
    forced.forced = True
    forced.warning = "warning: the API will NOT serve modelo_penguins version 5: ..."
    outcome_of_run(forced)
    assert promote.main(["5", "--force"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-2].startswith("modelo_penguins version 5 is now @production (was 4), forced over")
    assert out[-1] == forced.warning


def test_training_whose_version_the_gate_rejects_exits_3(monkeypatch, capsys):
    result = TrainResult(
        "run", "1", {}, 0.9, 0.9, 0.9, "modelo_penguins", "production", "5",
        "models:/modelo_penguins/5", 333, 11, 2, 1.0,
        promoted=False, promotion="modelo_penguins version 5 rejected (...): why",
    )  # fmt: skip
    monkeypatch.setattr(train, "train", lambda settings: result)
    monkeypatch.setattr(train, "release_workers", lambda: None)
    assert train.main(["--quick"]) == train.PROMOTION_REJECTED_EXIT == 3
    captured = capsys.readouterr()
    assert "modelo_penguins version 5 (registered, not promoted)" in captured.out
    assert captured.err == "error: modelo_penguins version 5 rejected (...): why\n"


def test_no_shadow_agreement_is_reported_as_not_available():
    assert agreement_for("modelo_penguins", "5") is None
    assert agreement_line(None) == "shadow agreement: n/a"
    assert agreement_line(0.975) == "shadow agreement: 97.5%"


def test_the_probe_runs_without_any_s3_or_aws_credentials(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_PROFILE", "someone")
    monkeypatch.setenv("MLFLOW_S3_ENDPOINT_URL", "http://s3")
    env = probe_env("http://mlflow:5000")
    assert not [k for k in env if k.startswith("AWS_") and not k.endswith("_FILE")]
    assert "MLFLOW_S3_ENDPOINT_URL" not in env
    assert env["AWS_SHARED_CREDENTIALS_FILE"] == env["AWS_CONFIG_FILE"] == "/dev/null"
    assert env["MLFLOW_TRACKING_URI"] == env["MLFLOW_REGISTRY_URI"] == "http://mlflow:5000"
