"""Where the grid search's fits run: this machine's joblib processes, or a Dask cluster.

    with fits_on(settings.dask_scheduler) as where:   # "" or None: here, as always
        search.fit(x_train, y_train)
    print(where.summary())   # tcp://dask-scheduler:8786: 2 workers, tasks per worker 1809 + 1730 (fits 67 + 68)

On a cluster, joblib's Dask backend (scikit-learn's documented route) sends GridSearchCV's fits
to the scheduler's workers (and, nested, each forest's batches of trees: the backend sends nested
joblib work to the cluster too); the scheduler's task stream, read when the block ends, says
which worker ran how many. A scheduler that cannot be reached is a ClusterUnreachable (a StageError:
the command line prints one line and exits 1) before anything is fitted: no silent local run.
"""

import contextlib
import logging
import re
import socket
import warnings
from collections import Counter
from dataclasses import dataclass, field

from taller_mlflow.stage import StageError

LOCAL = "this machine (joblib processes)"


class ClusterUnreachable(StageError):
    def __init__(self, address: str, why: str):
        super().__init__("dask", f"cannot reach the Dask scheduler at {address}: {why}")
        self.address = address


@dataclass
class Where:
    """Where the fits of a `fits_on` block ran, filled in when the block ends."""

    scheduler: str | None = None  # None: locally
    workers: int = 0  # workers the scheduler had when the block started
    tasks_per_worker: dict[str, int] = field(default_factory=dict)  # worker address: tasks run
    fits_per_worker: dict[str, int] = field(default_factory=dict)  # of which GridSearchCV fits

    @property
    def local(self) -> bool:
        return not self.scheduler

    def summary(self) -> str:
        if self.local:
            return LOCAL
        workers = sorted(self.tasks_per_worker)
        tasks = " + ".join(str(self.tasks_per_worker[w]) for w in workers) or "none"
        fits = " + ".join(str(self.fits_per_worker.get(w, 0)) for w in workers) or "none"
        plural = "s" if self.workers != 1 else ""
        return (
            f"{self.scheduler}: {self.workers} worker{plural}, "
            f"tasks per worker {tasks} (fits {fits})"
        )


@contextlib.contextmanager
def quiet_distributed():
    """distributed logs each failed connection attempt with a traceback; the caller's one line
    says it better."""
    names = ("distributed", "distributed.client", "distributed.comm", "tornado")
    loggers = [logging.getLogger(n) for n in names]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


def reach(address: str, timeout: float) -> None:
    """Open and close a TCP connection to the scheduler, or ClusterUnreachable. A Client that
    fails to connect prints a traceback when it is garbage-collected; a socket does not."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        host, port = parse_host_port(location)
    except ValueError as exc:
        raise ClusterUnreachable(address, f"not a scheduler address ({exc})") from None
    if scheme not in ("tcp", "tls"):
        raise ClusterUnreachable(address, f"{scheme}:// is not a network address")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ClusterUnreachable(address, exc.strerror or str(exc) or type(exc).__name__) from None


def connect(address: str, timeout: float = 10.0):
    """A distributed.Client of the scheduler at `address`, or ClusterUnreachable."""
    from distributed import Client

    address = address.strip()
    reach(address, timeout)
    with quiet_distributed():
        try:
            return Client(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:  # listening, but not a scheduler that answers
            why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ClusterUnreachable(address, why) from None


def check_scheduler(address: str | None, timeout: float = 10.0) -> int:
    """Workers of the scheduler at `address` (0 for none given); ClusterUnreachable if it is
    not there. Training calls it before it starts its run, so a wrong address costs nothing."""
    if not address:
        return 0
    client = connect(address, timeout)
    try:
        return len(client.scheduler_info().get("workers", {}))
    finally:
        client.close()


FITS = re.compile(r"_fit_and_score_(\d+)_calls")  # joblib's key for a batch of GridSearchCV fits


def worker_counts(task_stream: list[dict]) -> tuple[dict[str, int], dict[str, int]]:
    """(tasks, fits) per worker in a scheduler task stream (distributed's TaskStreamPlugin
    records). Tasks include the forests' nested tree batches, which the Dask backend sends to
    the cluster too; fits count GridSearchCV's fits alone."""
    tasks, fits = Counter(), Counter()
    for record in task_stream:
        worker = str(record.get("worker") or "")
        if not worker:
            continue
        tasks[worker] += 1
        match = FITS.search(str(record.get("key", "")))
        if match:
            fits[worker] += int(match[1])
    return dict(tasks), dict(fits)


# Warning categories from these packages exist on the workers (the training image has them).
WORKER_PACKAGES = {"builtins", "warnings", "numpy", "scipy", "sklearn", "pandas", "joblib"}


def portable_filters(filters: list) -> list:
    """The warnings filters scikit-learn may ship with each fit (it sends the caller's filters
    along), less those whose category a worker cannot unpickle: a Jupyter kernel adds one of
    IPython's, and the scheduler, with no IPython, then refuses the whole task graph and the
    search waits for ever. Such filters only concern the kernel's own code anyway."""
    return [f for f in filters if f[2].__module__.split(".")[0] in WORKER_PACKAGES]


@contextlib.contextmanager
def fits_on(scheduler: str | None, timeout: float = 10.0):
    """Run the joblib work in the block (GridSearchCV's fits) on the Dask cluster at `scheduler`,
    or here when it is empty. Yields a Where, complete once the block has ended."""
    where = Where(scheduler.strip() if scheduler else None)
    if where.local:
        yield where
        return
    import joblib
    from distributed import get_task_stream

    client = connect(where.scheduler, timeout)
    try:
        where.workers = len(client.scheduler_info().get("workers", {}))
        with (
            get_task_stream(client=client) as stream,
            joblib.parallel_config(backend="dask", client=client),
            warnings.catch_warnings(),
        ):
            warnings.filters[:] = portable_filters(warnings.filters)
            yield where
        where.tasks_per_worker, where.fits_per_worker = worker_counts(stream.data)
    finally:
        client.close()
