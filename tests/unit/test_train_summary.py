"""TrainResult.summary(): names the alias training actually moved (bug 7)."""

from taller_mlflow.training.trainer import TrainResult


def result(alias: str) -> TrainResult:
    return TrainResult(
        run_id="abc123",
        experiment_id="1",
        best_params={"classifier__n_estimators": 100, "classifier__max_depth": 5},
        cv_score=0.98,
        test_accuracy=0.99,
        test_f1_macro=0.985,
        model_name="modelo_penguins",
        model_alias=alias,
        model_version="7",
        model_uri=f"models:/modelo_penguins@{alias}",
        rows_used=333,
        rows_dropped=11,
        combinations=27,
        seconds=12.3,
    )


def test_summary_names_the_configured_alias():
    text = result("staging").summary()
    assert "modelo_penguins version 7 (@staging)" in text
    assert "production" not in text


def test_summary_names_production_when_that_is_the_alias():
    assert "modelo_penguins version 7 (@production)" in result("production").summary()


def test_summary_names_run_params_and_scores():
    text = result("production").summary()
    for needle in ["abc123", "n_estimators=100", "max_depth=5", "0.9800", "0.9900", "333 used"]:
        assert needle in text


def test_summary_says_where_the_fits_ran_only_when_it_knows():
    from dataclasses import replace

    on_cluster = replace(
        result("production"), fits_ran_on="tcp://s:8786: 2 workers, tasks per worker 3 + 4"
    )
    assert "fits ran on     tcp://s:8786: 2 workers, tasks per worker 3 + 4" in on_cluster.summary()
    assert "fits ran on" not in result("production").summary()
