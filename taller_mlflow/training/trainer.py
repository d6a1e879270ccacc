"""Train the penguin classifier with a tracked grid search, register and promote the best model.

python -m taller_mlflow.train [--data-url URL] [--tracking-uri URI] [--quick] [--verbose]
"""

import logging
import threading
import time
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")

import cloudpickle  # noqa: E402
import mlflow  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import sklearn  # noqa: E402
from matplotlib import pyplot as plt  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from sklearn.metrics import ConfusionMatrixDisplay, accuracy_score, f1_score  # noqa: E402

from taller_mlflow.mlflow_setup import check_server, configure_mlflow  # noqa: E402
from taller_mlflow.monitoring.reference import build_profile, log_profile  # noqa: E402
from taller_mlflow.promotion.evaluation import log_eval_rows  # noqa: E402
from taller_mlflow.promotion.gate import gate_for, promote_retrying  # noqa: E402
from taller_mlflow.promotion.lease import PromotionBusy  # noqa: E402
from taller_mlflow.promotion.outcome import REJECTED_STATUS, PromotionError  # noqa: E402
from taller_mlflow.settings import Settings, get_settings  # noqa: E402
from taller_mlflow.stage import StageError  # noqa: E402
from taller_mlflow.training.data import read_penguins  # noqa: E402
from taller_mlflow.training.model import PARAM_GRID, QUICK_GRID, build_search, grid_size, split  # noqa: E402
from taller_mlflow.training.progress import GridProgress, counting_fits, top_table  # noqa: E402
from taller_mlflow.training.tracking import register_and_promote  # noqa: E402

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
            + ([f"promotion       {self.promotion}"] if self.promotion else [])
        )


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
    fig, ax = plt.subplots(figsize=(5, 4))
    ConfusionMatrixDisplay.from_predictions(y_true, y_pred, labels=labels, ax=ax, colorbar=False)
    ax.set_title("Test set")
    fig.tight_layout()
    return fig


def tracked_search(settings: Settings, grid: dict, x_train, y_train, say=print):
    """The grid search inside the active run, every combination autologged as a child run, with
    a progress bar; every fit's own line only when settings.search_verbose is 2 or more."""
    mlflow.sklearn.autolog(
        max_tuning_runs=None,
        log_models=False,
        log_datasets=False,
        log_post_training_metrics=False,
        silent=True,
    )
    fold_lines = settings.search_verbose if settings.search_verbose >= 2 else 0
    progress = GridProgress(grid_size(grid), say)
    try:
        search = build_search(grid, settings.cv_folds, settings.n_jobs, settings.seed, fold_lines)
        warm = threading.Thread(target=warm_requirement_checks, daemon=True)
        warm.start()  # runs while the fits run in joblib's worker processes
        with counting_fits(lambda fits: progress.update(fits // settings.cv_folds)):
            search.fit(x_train, y_train)
        warm.join()
        return search
    finally:
        progress.close()
        mlflow.sklearn.autolog(disable=True)


def log_best(best, penguins, x_test, y_test, labels) -> tuple[float, float, object]:
    """Test metrics, confusion matrix and the model itself, logged once in the active run."""
    y_pred = best.predict(x_test)
    accuracy = float(accuracy_score(y_test, y_pred))
    f1_macro = float(f1_score(y_test, y_pred, average="macro"))
    mlflow.log_metrics({"test_accuracy": accuracy, "test_f1_macro": f1_macro})
    mlflow.log_params({"rows_used": len(penguins.frame), "rows_dropped": penguins.rows_dropped})
    fig = confusion_figure(y_test, y_pred, labels)
    mlflow.log_figure(fig, "confusion_matrix.png")
    plt.close(fig)
    # The promotion gate scores this version and production on these very rows.
    log_eval_rows(x_test, y_test)
    model_info = mlflow.sklearn.log_model(
        best,
        name="model",
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
        signature=infer_signature(x_test, y_pred),
        input_example=x_test.head(3),
        pip_requirements=pip_requirements(),
    )
    return accuracy, f1_macro, model_info


def train(settings: Settings | None = None, say=print) -> TrainResult:
    """Run the whole chain: data → tracked grid search → registered, promoted best model."""
    settings = settings or get_settings()
    started = time.perf_counter()
    grid = QUICK_GRID if settings.quick_grid else PARAM_GRID

    say(f"[1/4] reading penguins from {settings.data_url.split('@')[-1]}")
    penguins = read_penguins(settings.data_url)
    say(f"      {len(penguins.frame)} rows, {penguins.rows_dropped} dropped as incomplete")

    say(f"[2/4] checking MLflow at {settings.mlflow_tracking_uri}")
    client = check_server(settings.mlflow_tracking_uri)
    configure_mlflow(settings)

    x_train, x_test, y_train, y_test = split(penguins.frame, settings.test_size, settings.seed)
    say(f"[3/4] grid search: {grid_size(grid)} combinations x {settings.cv_folds} folds")
    try:
        mlflow.set_experiment(settings.experiment_name)
        with mlflow.start_run(run_name="grid_search") as run:
            search = tracked_search(settings, grid, x_train, y_train, say)
            say(top_table(search.cv_results_))
            labels = sorted(y_train.unique())
            accuracy, f1_macro, model_info = log_best(
                search.best_estimator_, penguins, x_test, y_test, labels
            )
            # The drift job's reference: the training split, in the run the version comes from.
            log_profile(build_profile(x_train, y_train, settings.reference_bins))
        alias = settings.model_alias
        say(f"[4/4] registering {settings.model_name}; the promotion gate decides @{alias}")
        version = register_and_promote(
            client,
            model_info.model_uri,
            run.info.run_id,
            settings.model_name,
            None,  # registered only: the alias moves through the gate, as `promote` moves it
            # The API lists each version's accuracy from this tag: no get_run per version.
            tags={"test_accuracy": accuracy},
            timeout=settings.registration_timeout_seconds,
        )
        gate = gate_for(settings, client, say=say)
        outcome = promote_retrying(
            gate, str(version.version), settings.registration_timeout_seconds
        )
        say(outcome.line())
    except MlflowException as exc:
        raise StageError("mlflow", f"{settings.mlflow_tracking_uri}: {exc.message}") from exc
    except (PromotionError, PromotionBusy) as exc:
        raise StageError("promotion", str(exc)) from exc
    live = outcome.status != REJECTED_STATUS

    return TrainResult(
        run_id=run.info.run_id,
        experiment_id=run.info.experiment_id,
        best_params=search.best_params_,
        cv_score=float(search.best_score_),
        test_accuracy=accuracy,
        test_f1_macro=f1_macro,
        model_name=settings.model_name,
        model_alias=settings.model_alias,
        model_version=str(version.version),
        model_uri=f"models:/{settings.model_name}"
        + (f"@{settings.model_alias}" if live else f"/{version.version}"),
        rows_used=len(penguins.frame),
        rows_dropped=penguins.rows_dropped,
        combinations=grid_size(grid),
        seconds=time.perf_counter() - started,
        promoted=live,
        promotion=outcome.line(),
    )


def release_workers() -> None:
    """Stop joblib's idle worker processes, which would otherwise outlive a command line by
    minutes, holding its stdout open (so `cmd | tee`, or a caller reading its output, hangs)."""
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)
