"""The grid search's runs, logged from its results in a few batched calls, on small thread pools.

MLflow's sklearn autologging patched every estimator class, recomputed training metrics and plots
nobody read, and logged each combination's child run call by call. Training now logs what is
read (the notebook's `child_runs` table, the UI's comparison, the tests) directly:

- the parent run: the search's own settings (GridSearchCV's parameters), the best combination as
  `best_<param>` params and `best_cv_score`, tags `estimator_name` and `estimator_class`: one
  log_batch;
- one child run per combination, from `cv_results_`: created with its parent's id, its name and
  the parent's source tags; its grid params (`classifier__n_estimators`, ...) and its CV scores
  (`mean_test_score`, `std_test_score`, `rank_test_score`, and the mean/std fit and score times)
  in one log_batch; then FINISHED. Three calls each, whatever the number of params and metrics;
- files (the confusion matrix, the evaluation rows, the reference profile, `cv_results.csv`), one
  upload each.

`RunLog` runs these calls on a few threads, so they overlap one another and whatever the caller
does meanwhile (training logs the model in the main thread). MLflow's fluent API follows the
active run per thread, so everything here names its run explicitly, through an MlflowClient.
"""

import io
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import pandas as pd
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID
from mlflow.utils.validation import MAX_PARAM_VAL_LENGTH

from taller_mlflow.training.progress import short_name

# Calls in flight at once: the run's record and files (the promotion gate waits for these), and
# the child runs (nobody waits for those until training ends). The server runs two workers.
FILE_THREADS = 2
CHILD_THREADS = 2
CV_RESULTS_FILE = "cv_results.csv"
# The parent's tags its children repeat: who ran the search and from what source.
INHERITED_TAG_PREFIXES = ("mlflow.user", "mlflow.source.")


@dataclass(frozen=True)
class ChildRun:
    """One combination of the grid: its run name, grid params and cross-validation scores."""

    name: str
    params: dict[str, str]
    metrics: dict[str, float]


def child_runs_of(cv_results: dict) -> list[ChildRun]:
    """One ChildRun per combination, in `cv_results_` order. Its metrics are the aggregate
    columns autologging logged: every numeric column but the per-split scores and the
    `param_*` copies of the params."""
    columns = [
        key for key in cv_results if key != "params" and not key.startswith(("param_", "split"))
    ]
    children = []
    for i, params in enumerate(cv_results["params"]):
        metrics = {key: float(cv_results[key][i]) for key in columns}
        name = ", ".join(f"{short_name(k)}={v}" for k, v in params.items())
        children.append(ChildRun(name, {k: str(v) for k, v in params.items()}, metrics))
    return children


def search_record(search) -> tuple[dict, dict, dict]:
    """(params, metrics, tags) of a fitted search for its parent run, as autologging named them."""
    params = {key: str(value) for key, value in search.get_params(deep=False).items()}
    params |= {f"best_{key}": str(value) for key, value in search.best_params_.items()}
    cls = type(search)
    tags = {"estimator_name": cls.__name__, "estimator_class": f"{cls.__module__}.{cls.__name__}"}
    return params, {"best_cv_score": float(search.best_score_)}, tags


def log_batch(client, run_id: str, params=None, metrics=None, tags=None, step_time=None) -> None:
    """params, metrics and tags of one run in one call. Values longer than MLflow's limit for
    a param are cut to it (as autologging cut them)."""
    at = step_time or int(time.time() * 1000)
    client.log_batch(
        run_id,
        metrics=[Metric(k, float(v), at, 0) for k, v in (metrics or {}).items()],
        params=[Param(k, str(v)[:MAX_PARAM_VAL_LENGTH]) for k, v in (params or {}).items()],
        tags=[RunTag(k, str(v)) for k, v in (tags or {}).items()],
    )


def finish_run(client, run_id: str, end_time: int) -> None:
    """Mark the run FINISHED. MlflowClient.set_terminated would first read the run back to print
    its URL (one more call per child run, and two lines of output each): its store does not."""
    store = getattr(getattr(client, "_tracking_client", None), "store", None)
    if store is None:  # not an MlflowClient (a test's fake): the public call
        client.set_terminated(run_id, end_time=end_time)
        return
    store.update_run_info(run_id, RunStatus.FINISHED, end_time, None)


def log_child_run(client, parent, child: ChildRun, tags: dict, end_time: int) -> str:
    """Create, fill and finish one child run of `parent` (an mlflow Run). Returns its id."""
    run = client.create_run(
        parent.info.experiment_id,
        start_time=parent.info.start_time,  # when the combination ran is not known more exactly
        tags={**tags, MLFLOW_PARENT_RUN_ID: parent.info.run_id},
        run_name=child.name,
    )
    run_id = run.info.run_id
    log_batch(client, run_id, child.params, child.metrics, step_time=end_time)
    finish_run(client, run_id, end_time)
    return run_id


def inherited_tags(parent) -> dict[str, str]:
    return {k: v for k, v in parent.data.tags.items() if k.startswith(INHERITED_TAG_PREFIXES)}


class RunLog:
    """Calls that log into one run, on two small thread pools: one for the run's own record and
    files, one for the child runs, so a file the caller waits for (`wait_files()`) never queues
    behind 27 child runs. `wait()` (or leaving the `with` block) joins every call and raises the
    first failure, once all have ended."""

    def __init__(self, client, run_id: str, file_threads: int = 0, child_threads: int = 0):
        self.client, self.run_id = client, run_id
        self._files = ThreadPoolExecutor(file_threads or FILE_THREADS, "runlog")
        self._children = ThreadPoolExecutor(child_threads or CHILD_THREADS, "runlog-child")
        self._file_futures: list[Future] = []
        self._child_futures: list[Future] = []

    def submit(self, fn: Callable, *args, **kwargs) -> Future:
        future = self._files.submit(fn, *args, **kwargs)
        self._file_futures.append(future)
        return future

    def batch(self, params=None, metrics=None, tags=None) -> Future:
        return self.submit(log_batch, self.client, self.run_id, params, metrics, tags)

    def figure(self, render: Callable, artifact_file: str) -> Future:
        """Render the figure in the pool too (matplotlib is imported there, when first used)."""
        return self.submit(lambda: self.client.log_figure(self.run_id, render(), artifact_file))

    def text(self, text: str, artifact_file: str) -> Future:
        return self.submit(self.client.log_text, self.run_id, text, artifact_file)

    def json(self, data: dict, artifact_file: str) -> Future:
        return self.submit(self.client.log_dict, self.run_id, data, artifact_file)

    def search(self, parent, search) -> None:
        """The search's record on the parent run, its cv_results.csv, and one child run per
        combination (`parent` is the parent's mlflow Run, with its tags)."""
        params, metrics, tags = search_record(search)
        self.batch(params, metrics, tags)
        self.text(cv_results_csv(search), CV_RESULTS_FILE)
        end_time, inherited = int(time.time() * 1000), inherited_tags(parent)
        self._child_futures += [
            self._children.submit(log_child_run, self.client, parent, child, inherited, end_time)
            for child in child_runs_of(search.cv_results_)
        ]

    def wait_files(self) -> None:
        """Join the run's own record and files (not the child runs); raise the first failure."""
        _raise_first(self._file_futures)

    def wait_children(self) -> list[BaseException]:
        """Join the child runs; the failures, if any (none raised)."""
        return [e for e in (f.exception() for f in self._child_futures) if e is not None]

    def wait(self) -> None:
        """Join every call; raise the first failure."""
        try:
            self.wait_files()
            failures = self.wait_children()
            if failures:
                raise failures[0]
        finally:
            self.close()

    def close(self, cancel: bool = False) -> None:
        """Let the calls end (`cancel`: those not started yet do not start), raising nothing."""
        self._files.shutdown(wait=True, cancel_futures=cancel)
        self._children.shutdown(wait=True, cancel_futures=cancel)

    def __enter__(self) -> "RunLog":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.wait()
        else:  # the caller's own failure wins; what already runs still ends before it propagates
            self.close(cancel=True)


def _raise_first(futures: list[Future]) -> None:
    """Wait for every future, then raise the first one's failure, if any failed."""
    errors = [f.exception() for f in futures]
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first


def cv_results_csv(search) -> str:
    buffer = io.StringIO()
    pd.DataFrame(search.cv_results_).to_csv(buffer, index=False)
    return buffer.getvalue()
