"""One measurement of the drift job's memory, in a fresh process: `python -m bench.drift_probe URL
--method streamed|whole --profile FILE --end ISO` prints one JSON line. bench/drift_memory.py runs
it; it lives apart so that the process imports what `python -m taller_mlflow.monitor` imports and
nothing of the benchmark's own (whose harness imports MLflow)."""

import argparse
import io
import json
import sys
import threading
import time
from datetime import datetime, timedelta

# What the job's process may have imported; the measurement says which it did.
HEAVY = ("mlflow", "pandas", "sklearn", "scipy", "matplotlib", "sqlalchemy", "numpy")


class PeakRss:
    """The largest RSS seen by a thread sampling every 5 ms while the block runs."""

    def __init__(self):
        import psutil

        self.process, self.peak, self._stop = psutil.Process(), 0, threading.Event()

    def _sample(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.005)

    def __enter__(self):
        self.before = self.process.memory_info().rss
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def measure(url: str, method: str, profile_path: str, end: datetime) -> dict:
    """Check the window as the job does (counted in SQL, streamed into counts, compared, drawn
    and serialised for upload), or as it did (`whole`: read into pandas, then compared)."""
    import sqlalchemy as sa

    import taller_mlflow.monitoring.monitor_cli  # noqa: F401 - the service's own imports
    from taller_mlflow.monitoring import job
    from taller_mlflow.monitoring import report as pictures
    from taller_mlflow.monitoring.drift import Thresholds, compare, report
    from taller_mlflow.monitoring.window import WindowSummary

    with open(profile_path) as file:
        profile = json.load(file)
    engine = sa.create_engine(url)
    start = end - timedelta(hours=24)
    started = time.perf_counter()
    with PeakRss() as rss:
        if method == "streamed":
            [(name, version, n)] = job.window_counts(engine, start, end)
            summary = job.summarise(engine, name, version, start, end, WindowSummary(profile))
            result = report(summary, Thresholds())
        else:  # the job before: the whole window in pandas
            import pandas as pd

            t = job.prediction_log
            columns = [*job.FEATURE_COLUMNS, "prediction"]
            query = sa.select(*(t.c[c] for c in columns)).where(t.c.ts >= start, t.c.ts < end)
            with engine.connect() as conn:
                frame = pd.read_sql(query, conn)
            result = compare(profile, frame, Thresholds())
        # what the job then uploads: the picture as PNG, the numbers as JSON
        figure = pictures.figure(result, "bench")
        figure.savefig(io.BytesIO(), format="png")
        pictures.close(figure)
        json.dumps(result.as_dict())
    return {
        "rows": result.rows,
        "status": result.status,
        "seconds": time.perf_counter() - started,
        "rss_before_mib": rss.before / 2**20,
        "window_mib": (rss.peak - rss.before) / 2**20,
        # Sampled, not ru_maxrss: a child's ru_maxrss starts at its parent's RSS at the fork.
        "process_peak_mib": rss.peak / 2**20,
        "imported": [m for m in HEAVY if m in sys.modules],
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("url", help="the log's SQLAlchemy URL")
    p.add_argument("--method", choices=("streamed", "whole"), required=True)
    p.add_argument("--profile", required=True)
    p.add_argument("--end", required=True)
    args = p.parse_args(argv)
    print(
        json.dumps(measure(args.url, args.method, args.profile, datetime.fromisoformat(args.end)))
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
