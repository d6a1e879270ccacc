"""Train the penguin classifier with a tracked grid search, register the best model and send it
to the promotion gate.

python -m taller_mlflow.train [--data-url URL] [--tracking-uri URI] [--quick] [--verbose]

`train()` runs six steps; TrainResult.phases holds the wall-clock seconds of each, in this order,
and they add up to TrainResult.seconds (the imports before train() are not in it):

setup          read the penguins, check the tracking server, start the parent run
search         the GridSearchCV, its fits in joblib's worker processes or on the Dask cluster
               of TALLER_DASK_SCHEDULER (taller_mlflow.training.cluster), with its progress
model logging  the test metrics and the best model (log_model, in this thread), while the
               search's record and the run's files are logged on a thread pool
               (taller_mlflow.training.runlog), and the wait for those files
registration   the version registered and tagged with its test accuracy, once READY
gate           the promotion gate (taller_mlflow.promotion.gate): the version's ONNX serving
               artifact, the fresh-process probe, the comparison with production, the alias
child runs     the wait for the 27 child runs, logged on their own threads since the search
               ended (behind the three steps above), and the parent run's end
"""

import logging
import threading
import time
from dataclasses import dataclass, field

import cloudpickle
import mlflow
import numpy as np
import pandas as pd
import sklearn
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, f1_score

from taller_mlflow.mlflow_setup import check_server, configure_mlflow
from taller_mlflow.monitoring.reference import build_profile, log_profile
from taller_mlflow.promotion.evaluation import log_eval_rows
from taller_mlflow.promotion.gate import gate_for, promote_retrying
from taller_mlflow.promotion.lease import PromotionBusy
from taller_mlflow.promotion.outcome import REJECTED_STATUS, PromotionError
from taller_mlflow.settings import Settings, get_settings
from taller_mlflow.stage import StageError
from taller_mlflow.training.cluster import check_scheduler, fits_on
from taller_mlflow.training.data import read_penguins
from taller_mlflow.training.model import PARAM_GRID, QUICK_GRID, build_search, grid_size, split
from taller_mlflow.training.progress import GridProgress, counting_fits, top_table
from taller_mlflow.training.runlog import RunLog
from taller_mlflow.training.tracking import register_and_promote

log = logging.getLogger(__name__)
PROMOTION_REJECTED_EXIT = 3  # trained and registered; the promotion gate kept the alias


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    experiment_id: str
    best_params: dict
    cv_score: float
    test_accuracy: float
    test_f1_macro: float
    model_name: str
    model_alias: str
    model_version: str
    model_uri: str
    rows_used: int
    rows_dropped: int
    combinations: int
    seconds: float
    promoted: bool = True  # False when the promotion gate kept the alias where it was
    promotion: str = ""  # the gate's one-line decision
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step (module docstring)
    fits_ran_on: str = ""  # cluster.Where.summary(): here, or the scheduler, workers and tasks

    def summary(self) -> str:
        params = ", ".join(f"{k.split('__')[-1]}={v}" for k, v in self.best_params.items())
        return "\n".join(
            [
                f"run id          {self.run_id}",
                f"best params     {params}",
                f"cv accuracy     {self.cv_score:.4f}",
                f"test accuracy   {self.test_accuracy:.4f}",
                f"test macro F1   {self.test_f1_macro:.4f}",
                f"model           {self.model_name} version {self.model_version} "
                + (f"(@{self.model_alias})" if self.promoted else "(registered, not promoted)"),
                f"rows            {self.rows_used} used, {self.rows_dropped} dropped",
                f"wall time       {self.seconds:.1f} s for {self.combinations} combinations",
            ]
            + ([f"fits ran on     {self.fits_ran_on}"] if self.fits_ran_on else [])
            + ([f"promotion       {self.promotion}"] if self.promotion else [])
        )


class Phases:
    """Wall-clock laps of train()'s steps: each lap ends one step, and the next starts there."""

    def __init__(self, clock=time.perf_counter):
        self.clock = clock
        self.started = self._last = clock()
        self.seconds: dict[str, float] = {}

    def lap(self, step: str) -> None:
        now = self.clock()
        self.seconds[step] = self.seconds.get(step, 0.0) + now - self._last
        self._last = now

    def total(self) -> float:
        return self.clock() - self.started


class ParentRun:
    """The grid search's run and its RunLog. Registration and the gate run inside the block while
    the child runs are still being logged; leaving it waits for those and ends the run. The run
    is FINISHED once its own record is logged (`recorded()`): a registration or a gate that
    fails afterwards is not the run's failure. A child run that could not be logged is a
    warning, as it was under autologging."""

    def __init__(self, client, experiment_name: str):
        mlflow.set_experiment(experiment_name)
        self.run = mlflow.start_run(run_name="grid_search")
        self.log = RunLog(client, self.run.info.run_id)
        self.complete = False

    def recorded(self) -> None:
        """Wait for the run's own params, metrics and files (raising a failure): then it is
        complete, whatever follows."""
        self.log.wait_files()
        self.complete = True

    def __enter__(self) -> "ParentRun":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            failures = self.log.wait_children() if self.complete else []
            self.log.close(cancel=not self.complete)
            if failures:
                log.warning(
                    "%d child runs of run %s could not be logged: %s",
                    len(failures),
                    self.run.info.run_id,
                    failures[0],
                )
        finally:
            status = RunStatus.FINISHED if self.complete else RunStatus.FAILED
            mlflow.end_run(RunStatus.to_string(status))


@dataclass(frozen=True)
class Logged:
    """What the parent run recorded: what registration and the result need of it."""

    run_id: str
    experiment_id: str
    best_params: dict
    cv_score: float
    test_accuracy: float
    test_f1_macro: float
    model_uri: str
    fits_ran_on: str = ""


def pip_requirements() -> list[str]:
    """Pinned from the running environment, which constraints.txt pins, so no inference is needed."""
    return [
        f"mlflow=={mlflow.__version__}",
        f"scikit-learn=={sklearn.__version__}",
        f"cloudpickle=={cloudpickle.__version__}",
        f"numpy=={np.__version__}",
        f"pandas=={pd.__version__}",
    ]


def warm_requirement_checks() -> None:
    """log_model checks the pinned requirements against what is installed, building a map of
    every installed package first (about 1 s). Build it during the grid search instead."""
    try:
        from mlflow.utils import requirements_utils

        requirements_utils._init_packages_to_modules_map()
    except Exception:  # a private helper of MLflow's: without it, log_model just pays later
        log.debug("could not pre-build MLflow's package map", exc_info=True)


def confusion_figure(y_true, y_pred, labels):
    """The test set's confusion matrix, drawn on a Figure of its own: no pyplot state, so any
    thread may draw it (matplotlib is imported on the first call)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=labels, ax=ax, colorbar=False)
    ax.set_title("Test set")
    fig.tight_layout()
    return fig


def tracked_search(settings: Settings, grid: dict, x_train, y_train, say=print):
    """The grid search, with a progress bar; every fit's own line only when
    settings.search_verbose is 2 or more. Its runs are logged from its results (RunLog.search).
    Returns (the fitted search, where its fits ran: a cluster.Where)."""
    fold_lines = settings.search_verbose if settings.search_verbose >= 2 else 0
    progress = GridProgress(grid_size(grid), say)
    try:
        search = build_search(grid, settings.cv_folds, settings.n_jobs, settings.seed, fold_lines)
        warm = threading.Thread(target=warm_requirement_checks, daemon=True)
        warm.start()  # runs while the fits run in joblib's worker processes
        with (
            fits_on(settings.dask_scheduler, settings.dask_connect_timeout_seconds) as where,
            counting_fits(lambda fits: progress.update(fits // settings.cv_folds)),
        ):
            search.fit(x_train, y_train)
        warm.join()
        return search, where
    finally:
        progress.close()


def log_best(best, penguins, x_test, y_test, labels, run_log: RunLog | None = None):
    """Test metrics, confusion matrix, evaluation rows and the model itself, logged once in the
    active run: (test accuracy, test macro F1, the model's ModelInfo). The model is logged in
    this thread, the rest on `run_log`, a RunLog of the active run (without one, a RunLog is
    made here and waited for)."""
    if run_log is None:
        with RunLog(mlflow.MlflowClient(), mlflow.active_run().info.run_id) as own:
            return log_best(best, penguins, x_test, y_test, labels, own)
    y_pred = best.predict(x_test)
    accuracy = float(accuracy_score(y_test, y_pred))
    f1_macro = float(f1_score(y_test, y_pred, average="macro"))
    run_log.batch(
        params={"rows_used": len(penguins.frame), "rows_dropped": penguins.rows_dropped},
        metrics={"test_accuracy": accuracy, "test_f1_macro": f1_macro},
    )
    run_log.figure(lambda: confusion_figure(y_test, y_pred, labels), "confusion_matrix.png")
    # The promotion gate scores this version and production on these very rows.
    run_log.submit(log_eval_rows, x_test, y_test, run_log.run_id, run_log.client)
    model_info = mlflow.sklearn.log_model(
        best,
        name="model",
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        signature=infer_signature(x_test, y_pred),
        input_example=x_test.head(3),
        pip_requirements=pip_requirements(),
    )
    return accuracy, f1_macro, model_info


def search_and_log(settings: Settings, grid: dict, penguins, parent: ParentRun, phases, say):
    """The grid search in the parent run, then everything about it logged once: the model in
    this thread, the rest on the run's RunLog. Returns (Logged) once all but the child runs is."""
    x_train, x_test, y_train, y_test = split(penguins.frame, settings.test_size, settings.seed)
    phases.lap("setup")
    search, where = tracked_search(settings, grid, x_train, y_train, say)
    if not where.local:
        say(f"      fits ran on {where.summary()}")
    say(top_table(search.cv_results_))
    phases.lap("search")
    run, run_log = parent.run, parent.log
    run_log.search(run, search)  # its record, cv_results.csv, one child run per combination
    # The drift job's reference: the training split, in the run the version comes from.
    profile = build_profile(x_train, y_train, settings.reference_bins)
    run_log.submit(log_profile, profile, run.info.run_id, run_log.client)
    labels = sorted(y_train.unique())
    accuracy, f1_macro, model_info = log_best(
        search.best_estimator_, penguins, x_test, y_test, labels, run_log
    )
    parent.recorded()  # the gate reads the evaluation rows
    phases.lap("model logging")
    return Logged(
        run.info.run_id,
        run.info.experiment_id,
        search.best_params_,
        float(search.best_score_),
        accuracy,
        f1_macro,
        model_info.model_uri,
        where.summary(),
    )


def register(client, logged: Logged, settings: Settings):
    """The version, READY and tagged, its alias left to the promotion gate (as `promote` does)."""
    return register_and_promote(
        client,
        logged.model_uri,
        logged.run_id,
        settings.model_name,
        None,
        # The API lists each version's accuracy from this tag: no get_run per version.
        tags={"test_accuracy": logged.test_accuracy},
        timeout=settings.registration_timeout_seconds,
    )


def register_and_gate(settings: Settings, client, logged: Logged, phases: Phases, say):
    """Register the version, then send it through the promotion gate: (version, its Outcome)."""
    version = str(register(client, logged, settings).version)
    phases.lap("registration")
    gate = gate_for(settings, client, say=say)
    outcome = promote_retrying(gate, version, settings.registration_timeout_seconds)
    phases.lap("gate")
    say(outcome.line())
    return version, outcome


def result_of(settings, penguins, grid, logged: Logged, version: str, outcome, phases):
    live = outcome.status != REJECTED_STATUS
    name, alias = settings.model_name, settings.model_alias
    return TrainResult(
        run_id=logged.run_id,
        experiment_id=logged.experiment_id,
        best_params=logged.best_params,
        cv_score=logged.cv_score,
        test_accuracy=logged.test_accuracy,
        test_f1_macro=logged.test_f1_macro,
        model_name=name,
        model_alias=alias,
        model_version=version,
        model_uri=f"models:/{name}" + (f"@{alias}" if live else f"/{version}"),
        rows_used=len(penguins.frame),
        rows_dropped=penguins.rows_dropped,
        combinations=grid_size(grid),
        seconds=phases.total(),
        promoted=live,
        promotion=outcome.line(),
        phases=dict(phases.seconds),
        fits_ran_on=logged.fits_ran_on,
    )


def train(settings: Settings | None = None, say=print) -> TrainResult:
    """Run the whole chain: data → tracked grid search → registered version → promotion gate."""
    settings = settings or get_settings()
    phases = Phases()
    grid = QUICK_GRID if settings.quick_grid else PARAM_GRID

    say(f"[1/4] reading penguins from {settings.data_url.split('@')[-1]}")
    penguins = read_penguins(settings.data_url)
    say(f"      {len(penguins.frame)} rows, {penguins.rows_dropped} dropped as incomplete")

    if settings.dask_scheduler:  # before MLflow: a wrong address leaves no run behind
        timeout = settings.dask_connect_timeout_seconds
        workers = check_scheduler(settings.dask_scheduler, timeout)
        say(f"      fits go to the Dask scheduler {settings.dask_scheduler} ({workers} workers)")

    say(f"[2/4] checking MLflow at {settings.mlflow_tracking_uri}")
    client = check_server(settings.mlflow_tracking_uri)
    configure_mlflow(settings)

    say(f"[3/4] grid search: {grid_size(grid)} combinations x {settings.cv_folds} folds")
    try:
        with ParentRun(client, settings.experiment_name) as parent:
            logged = search_and_log(settings, grid, penguins, parent, phases, say)
            alias = settings.model_alias
            say(f"[4/4] registering {settings.model_name}; the promotion gate decides @{alias}")
            version, outcome = register_and_gate(settings, client, logged, phases, say)
        phases.lap("child runs")
    except MlflowException as exc:
        raise StageError("mlflow", f"{settings.mlflow_tracking_uri}: {exc.message}") from exc
    except (PromotionError, PromotionBusy) as exc:
        raise StageError("promotion", str(exc)) from exc
    return result_of(settings, penguins, grid, logged, version, outcome, phases)


def release_workers() -> None:
    """Stop joblib's idle worker processes, which would otherwise outlive a command line by
    minutes, holding its stdout open (so `cmd | tee`, or a caller reading its output, hangs)."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)
