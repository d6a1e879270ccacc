"""The grid search's runs logged from its results (taller_mlflow.training.runlog): one child run
per combination with the params and CV scores the notebook's table and the integration tests read,
the parent's record, and the thread pools' joins. Against MLflow's own SQL store on a temporary
SQLite file, and a fake client for the failures."""

import threading

import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.entities import RunStatus
from sklearn.model_selection import ParameterGrid

from taller_mlflow.training.model import PARAM_GRID
from taller_mlflow.training.runlog import (
    CV_RESULTS_FILE,
    RunLog,
    child_runs_of,
    search_record,
)
from taller_mlflow.training.tracking import child_runs

GRID_PARAMS = ["classifier__max_depth", "classifier__min_samples_split", "classifier__n_estimators"]


class FittedSearch:
    """What RunLog reads of a fitted GridSearchCV, for PARAM_GRID, without fitting 135 forests."""

    def __init__(self, grid: dict = PARAM_GRID):
        combos = list(ParameterGrid(grid))
        n = len(combos)
        scores = np.linspace(0.9, 0.99, n)
        self.cv_results_ = {
            "mean_fit_time": np.full(n, 0.1),
            "std_fit_time": np.full(n, 0.01),
            "mean_score_time": np.full(n, 0.02),
            "std_score_time": np.full(n, 0.002),
            **{
                f"param_{k}": np.ma.masked_array([c[k] for c in combos], dtype=object) for k in grid
            },
            "params": combos,
            **{f"split{i}_test_score": scores for i in range(5)},
            "mean_test_score": scores,
            "std_test_score": np.full(n, 0.01),
            "rank_test_score": np.argsort(np.argsort(-scores)).astype(np.int32) + 1,
        }
        self.best_params_ = combos[int(np.argmax(scores))]
        self.best_score_ = float(scores.max())

    def get_params(self, deep: bool = False) -> dict:
        return {"cv": 5, "param_grid": PARAM_GRID, "scoring": "accuracy"}


@pytest.fixture
def store(tmp_path):
    """A tracking URI on MLflow's SQL store, an experiment in it, and a client."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, registry_uri=uri)
    experiment = client.create_experiment("runlog", artifact_location=str(tmp_path / "artifacts"))
    return uri, client, experiment


def test_each_combination_becomes_one_child_with_its_grid_params_and_cv_scores():
    children = child_runs_of(FittedSearch().cv_results_)
    assert len(children) == 27
    assert len({tuple(sorted(c.params.items())) for c in children}) == 27
    for child in children:
        assert sorted(child.params) == GRID_PARAMS
        assert {"mean_test_score", "std_test_score", "rank_test_score"} <= set(child.metrics)
        assert not [m for m in child.metrics if m.startswith(("split", "param"))]
    first = children[0]
    assert first.name == "max_depth=5, min_samples_split=2, n_estimators=10"
    assert first.params["classifier__n_estimators"] == "10"


def test_the_parent_record_names_the_search_and_its_best_combination_as_autologging_did():
    search = FittedSearch()
    params, metrics, tags = search_record(search)
    assert params["cv"] == "5" and params["scoring"] == "accuracy"
    assert {f"best_{k}" for k in GRID_PARAMS} <= set(params)
    assert metrics == {"best_cv_score": search.best_score_}
    assert tags["estimator_name"] == "FittedSearch"
    assert tags["estimator_class"].endswith(".FittedSearch")


def test_the_search_logs_27_finished_children_the_notebook_table_reads(store):
    uri, client, experiment = store
    parent = client.create_run(experiment, tags={"mlflow.user": "ana", "team": "not inherited"})
    search = FittedSearch()
    with RunLog(client, parent.info.run_id) as run_log:
        run_log.search(parent, search)

    table = child_runs(uri, parent.info.run_id)
    assert len(table) == 27
    assert table["rank"].tolist() == sorted(table["rank"].tolist())
    assert table.loc[0, "cv_accuracy"] == pytest.approx(search.best_score_)
    best = search.best_params_
    assert (table.loc[0, "n_estimators"], table.loc[0, "max_depth"]) == (
        best["classifier__n_estimators"],
        best["classifier__max_depth"],
    )
    children = client.search_runs(
        [experiment], f"tags.mlflow.parentRunId = '{parent.info.run_id}'", max_results=100
    )
    assert {c.info.status for c in children} == {"FINISHED"}
    assert all(c.info.end_time is not None for c in children)
    assert all(c.data.tags["mlflow.user"] == "ana" for c in children)
    assert not any("team" in c.data.tags for c in children)
    recorded = client.get_run(parent.info.run_id).data
    assert recorded.metrics["best_cv_score"] == pytest.approx(search.best_score_)
    assert recorded.params["best_classifier__n_estimators"] == str(best["classifier__n_estimators"])
    assert recorded.tags["estimator_name"] == "FittedSearch"
    assert CV_RESULTS_FILE in [a.path for a in client.list_artifacts(parent.info.run_id)]


def test_files_and_batches_land_in_the_run_they_name(store):
    _, client, experiment = store
    run_id = client.create_run(experiment).info.run_id
    with RunLog(client, run_id) as run_log:
        run_log.batch(params={"rows_used": 333}, metrics={"test_accuracy": 0.99})
        run_log.text("a,b\n1,2\n", "evaluation/eval_rows.csv")
        run_log.json({"format": 1}, "reference_profile.json")
    data = client.get_run(run_id).data
    assert data.params == {"rows_used": "333"} and data.metrics == {"test_accuracy": 0.99}
    assert {a.path for a in client.list_artifacts(run_id)} == {
        "evaluation",
        "reference_profile.json",
    }
    assert client.get_run(run_id).info.status == RunStatus.to_string(RunStatus.RUNNING)


class FakeClient:
    """The calls RunLog makes; child runs block on `release` when it is given, and the log_batch
    of the run named in `fail` raises."""

    def __init__(self, release: threading.Event | None = None, fail: str | None = None):
        self.release, self.fail = release, fail
        self.batches: dict[str, dict] = {}
        self.finished: list[str] = []
        self.files: dict[str, str] = {}
        self._lock = threading.Lock()
        self._runs = 0

    def create_run(self, experiment_id, start_time=None, tags=None, run_name=None):
        if self.release is not None:
            assert self.release.wait(30), "never released"
        with self._lock:
            self._runs += 1
            run_id = f"child-{self._runs}"

        class Run:
            class info:
                pass

        Run.info.run_id = run_id
        return Run

    def log_batch(self, run_id, metrics=(), params=(), tags=()):
        if run_id == self.fail:
            raise RuntimeError(f"cannot log {run_id}")
        with self._lock:
            self.batches[run_id] = {
                "params": {p.key: p.value for p in params},
                "metrics": {m.key: m.value for m in metrics},
            }

    def set_terminated(self, run_id, end_time=None):
        with self._lock:
            self.finished.append(run_id)

    def log_text(self, run_id, text, artifact_file):
        with self._lock:
            self.files[artifact_file] = text


class Parent:
    class info:
        run_id, experiment_id, start_time = "parent", "1", 0

    class data:
        tags = {"mlflow.user": "ana"}


def test_waiting_for_the_files_does_not_wait_for_the_child_runs():
    release = threading.Event()
    client = FakeClient(release=release)
    run_log = RunLog(client, "parent")
    run_log.search(Parent, FittedSearch({"classifier__max_depth": [3, 5]}))
    waited = threading.Thread(target=run_log.wait_files)
    waited.start()
    waited.join(30)  # only a guard against hanging: the children are still blocked here
    assert not waited.is_alive()
    assert "parent" in client.batches and CV_RESULTS_FILE in client.files
    assert client.finished == []
    release.set()
    assert run_log.wait_children() == []
    run_log.close()
    assert sorted(client.finished) == ["child-1", "child-2"]


def test_a_child_run_that_fails_is_reported_once_every_call_has_ended():
    client = FakeClient(fail="child-1")
    run_log = RunLog(client, "parent", child_threads=1)
    run_log.search(Parent, FittedSearch({"classifier__max_depth": [3, 5, 8]}))
    failures = run_log.wait_children()
    assert [str(f) for f in failures] == ["cannot log child-1"]
    assert client.finished == ["child-2", "child-3"]
    with pytest.raises(RuntimeError, match="cannot log child-1"):
        run_log.wait()
