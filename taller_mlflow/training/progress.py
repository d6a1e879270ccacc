"""The grid search's output: one progress bar (plain lines when not on a terminal) and a compact
table of the best combinations.

Progress is counted in the parent process, where joblib reports every finished fit through
`Parallel.print_progress`, whether the fits run in worker processes or one after another.
"""

import contextlib
import sys
import threading
import time

import pandas as pd
from tqdm import tqdm

PLAIN_STEPS = 5  # a non-terminal gets about this many progress lines, not one per combination


class GridProgress:
    """Combinations done out of `total`: a tqdm bar on a terminal, else a few lines via `say`."""

    def __init__(self, total: int, say=print, stream=None, label: str = "grid search"):
        stream = stream if stream is not None else sys.stderr
        self.total, self.say, self.label = total, say, label
        self.done, self.started = 0, time.perf_counter()
        self._lock = threading.Lock()
        self._step = max(1, -(-total // PLAIN_STEPS))
        self.bar = None
        if _is_terminal(stream):
            self.bar = tqdm(
                total=total, desc=label, unit="comb", file=stream, dynamic_ncols=True, leave=True
            )

    def update(self, done: int) -> None:
        """Called from joblib's callback thread with the number of combinations done so far."""
        with self._lock:
            done = min(done, self.total)
            if done <= self.done:
                return
            if self.bar is not None:
                self.bar.update(done - self.done)
            elif done == self.total or done // self._step > self.done // self._step:
                elapsed = time.perf_counter() - self.started
                self.say(f"{self.label}: {done}/{self.total} combinations ({elapsed:.0f} s)")
            self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-like stream without a terminal
        return False


@contextlib.contextmanager
def counting_fits(on_fits):
    """Call on_fits(finished_fits) after every fit of the GridSearchCV fitted inside the block.

    GridSearchCV builds its joblib Parallel from sklearn.model_selection._search.Parallel; for
    the block, that name points at a subclass whose print_progress, which joblib calls in this
    process after each finished task, also reports the count.
    """
    from sklearn.model_selection import _search

    original = _search.Parallel

    class CountingParallel(original):
        def print_progress(self):
            super().print_progress()
            on_fits(self.n_completed_tasks)

    _search.Parallel = CountingParallel
    try:
        yield
    finally:
        _search.Parallel = original


def short_name(param: str) -> str:
    return param.split("__")[-1]


def top_table(cv_results: dict, n: int = 5) -> str:
    """The n best combinations by mean CV accuracy, as an aligned text table."""
    frame = pd.DataFrame(cv_results).sort_values(["rank_test_score", "mean_test_score"]).head(n)
    params = [c for c in frame.columns if c.startswith("param_")]
    names = [short_name(c.removeprefix("param_")) for c in params]
    header = ["rank", "cv accuracy", *names]
    rows = [
        [
            str(row["rank_test_score"]),
            f"{row['mean_test_score']:.4f} ± {row['std_test_score']:.4f}",
            *(str(row[c]) for c in params),
        ]
        for _, row in frame.iterrows()
    ]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    total = len(cv_results["rank_test_score"])
    return f"top {len(rows)} of {total} combinations\n" + "\n".join(lines)
