"""python -m bench.train_child plain|tracked DATA_URL TRACKING_URI [--quick]: one timed training.

bench.training runs it in a fresh process for every measurement, as the training CLI runs, so
imports stay out of the timing and no run inherits another's warm caches. It prints one line,
`BENCH_JSON {...}`, with the seconds (and, when tracked, what was registered).
"""

import argparse
import json
import time
import warnings

from taller_mlflow.settings import Settings
from taller_mlflow.training.data import read_penguins
from taller_mlflow.training.model import PARAM_GRID, QUICK_GRID, build_search, split
from taller_mlflow.training.trainer import train


def plain(settings: Settings) -> dict:
    """The same data read, grid search and test prediction as training, with no tracking."""
    penguins = read_penguins(settings.data_url)
    x_train, x_test, y_train, _ = split(penguins.frame, settings.test_size, settings.seed)
    grid = QUICK_GRID if settings.quick_grid else PARAM_GRID
    search = build_search(grid, settings.cv_folds, settings.n_jobs, settings.seed)
    search.verbose = 0
    search.fit(x_train, y_train)
    search.best_estimator_.predict(x_test)
    return {}


def tracked(settings: Settings) -> dict:
    result = train(settings, say=lambda _: None)
    return {
        "run_id": result.run_id,
        "experiment_id": result.experiment_id,
        "model_version": result.model_version,
        "best_params": result.best_params,
        "combinations": result.combinations,
    }


KINDS = {"plain": plain, "tracked": tracked}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("data_url")
    parser.add_argument("tracking_uri")
    parser.add_argument("--quick", action="store_true", help="the 2-combination grid")
    args = parser.parse_args(argv)
    # scikit-learn's and MLflow's warnings would only bury the result line in the captured output.
    warnings.filterwarnings("ignore")
    settings = Settings(
        data_url=args.data_url, mlflow_tracking_uri=args.tracking_uri, quick_grid=args.quick
    )
    started = time.perf_counter()
    out = KINDS[args.kind](settings)
    out["seconds"] = time.perf_counter() - started
    print("BENCH_JSON " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
