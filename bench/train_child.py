"""One timed training in a fresh process, from the process's start:
`python bench/train_child.py plain|tracked DATA_URL TRACKING_URI SPAWNED_AT [--quick]`.

bench.training runs it for every measurement, as a script (so the checkout under test, on
PYTHONPATH, provides `taller_mlflow`). SPAWNED_AT is the parent's time.time() just before the
spawn: every stage is timed from there, interpreter start and imports included, for both kinds.
It prints one line, `BENCH_JSON {...}`: the stages in seconds and, when tracked, what was
registered.

tracked = taller_mlflow.training.trainer.train(): data read, tracked grid search (27 child
runs), test metrics, model and reference profile logged, registration, the promotion gate.
plain = the same data read, the same GridSearchCV and the test split's prediction, untracked.
The tracked stages after the imports are train()'s own breakdown (TrainResult.phases: setup,
search, model logging, registration, gate, child runs); a checkout whose train() has none (before
the breakdown existed) reports imports and the rest as one stage.
"""

import json
import sys
import time
from pathlib import Path

T_INTERPRETER = time.time()  # the interpreter is up; nothing heavy imported yet
# Run as a script, its folder (bench/) heads sys.path: its modules must not shadow anything.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

TRACKED_STAGES = (("imports", "imported"), ("training", "done"))  # without train()'s breakdown
PLAIN_STAGES = (
    ("imports", "imported"),
    ("data and setup", "search_start"),
    ("search", "search_end"),
    ("test prediction", "done"),
)


def stages(spawned_at: float, marks: dict[str, float], order) -> dict[str, float | None]:
    """Seconds per stage; a stage whose end mark is missing is None and its time goes to the
    next stage that has one."""
    out, last = {}, spawned_at
    for stage, mark in order:
        if mark in marks:
            out[stage] = marks[mark] - last
            last = marks[mark]
        else:
            out[stage] = None
    return out


def plain(settings, marks: dict) -> dict:
    from taller_mlflow.training.data import read_penguins
    from taller_mlflow.training.model import PARAM_GRID, QUICK_GRID, build_search, split

    penguins = read_penguins(settings.data_url)
    x_train, x_test, y_train, _ = split(penguins.frame, settings.test_size, settings.seed)
    grid = QUICK_GRID if settings.quick_grid else PARAM_GRID
    search = build_search(grid, settings.cv_folds, settings.n_jobs, settings.seed)
    search.verbose = 0
    marks["search_start"] = time.time()
    search.fit(x_train, y_train)
    marks["search_end"] = time.time()
    search.best_estimator_.predict(x_test)
    marks["done"] = time.time()
    return {}


def tracked(settings, marks: dict) -> dict:
    from taller_mlflow.training import trainer

    result = trainer.train(settings, say=lambda _: None)
    marks["done"] = time.time()
    return {
        "run_id": result.run_id,
        "experiment_id": result.experiment_id,
        "model_version": result.model_version,
        "promoted": result.promoted,
        "best_params": result.best_params,
        "combinations": result.combinations,
        "phases": dict(getattr(result, "phases", {}) or {}),
    }


def main(argv: list[str]) -> None:
    kind, data_url, tracking_uri, spawned_at = argv[:4]
    quick = "--quick" in argv[4:]
    spawned_at = float(spawned_at)
    marks: dict[str, float] = {}
    import warnings

    from taller_mlflow.settings import Settings

    if kind == "tracked":
        import taller_mlflow.training.trainer  # noqa: F401  (what `python -m ...train` imports)
    else:
        import taller_mlflow.training.model  # noqa: F401
    marks["imported"] = time.time()
    # scikit-learn's and MLflow's warnings would only bury the result line in the output.
    warnings.filterwarnings("ignore")
    settings = Settings(data_url=data_url, mlflow_tracking_uri=tracking_uri, quick_grid=quick)
    out = {"plain": plain, "tracked": tracked}[kind](settings, marks)
    order = TRACKED_STAGES if kind == "tracked" else PLAIN_STAGES
    out["stages"] = stages(spawned_at, marks, order)
    if out.get("phases"):  # train()'s own breakdown after the imports
        out["stages"] = {"imports": out["stages"]["imports"], **out.pop("phases")}
    out["total_s"] = marks["done"] - spawned_at
    out["interpreter_s"] = T_INTERPRETER - spawned_at
    print("BENCH_JSON " + json.dumps(out), flush=True)
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)  # idle workers would hold stdout open


if __name__ == "__main__":
    main(sys.argv[1:])
