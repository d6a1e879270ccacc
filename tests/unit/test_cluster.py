"""Where the grid search's fits run (taller_mlflow/training/cluster.py): the summary line, the
task stream's counts, and a scheduler that is not there (a closed local port, no mock)."""

import socket

import pytest

from taller_mlflow.training import train_cli
from taller_mlflow.training.cluster import (
    LOCAL,
    ClusterUnreachable,
    Where,
    check_scheduler,
    fits_on,
    worker_counts,
)
from taller_mlflow.training.data import load_csv_into


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]  # closed again when the block ends: nothing listens


def test_no_scheduler_means_this_machine_and_says_so():
    with fits_on(None) as where, fits_on("") as also:
        pass
    assert where.local and also.local
    assert where.summary() == LOCAL


def test_summary_names_the_scheduler_workers_and_tasks_per_worker():
    where = Where(
        "tcp://dask-scheduler:8786",
        workers=2,
        tasks_per_worker={"tcp://10.0.0.3:4000": 59, "tcp://10.0.0.2:4000": 83},
        fits_per_worker={"tcp://10.0.0.2:4000": 5, "tcp://10.0.0.3:4000": 5},
    )
    assert where.summary() == (
        "tcp://dask-scheduler:8786: 2 workers, tasks per worker 83 + 59 (fits 5 + 5)"
    )


def test_task_stream_counts_tasks_and_fits_per_worker():
    stream = [
        {"worker": "tcp://a:1", "key": "batch_of__fit_and_score_1_calls-0f3a"},
        {"worker": "tcp://a:1", "key": "batch_of__parallel_build_trees_1_calls-77"},
        {"worker": "tcp://b:1", "key": "mixed_batch_of__fit_and_score_3_calls-1c"},
        {"worker": None, "key": "lost"},
    ]
    tasks, fits = worker_counts(stream)
    assert tasks == {"tcp://a:1": 2, "tcp://b:1": 1}
    assert fits == {"tcp://a:1": 1, "tcp://b:1": 3}


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:{port}", "127.0.0.1:{port}"])
def test_an_unreachable_scheduler_is_one_error_naming_its_address(address):
    address = address.format(port=closed_port())
    with pytest.raises(ClusterUnreachable) as caught:
        check_scheduler(address, timeout=2)
    assert address in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ClusterUnreachable), fits_on(address, timeout=2):
        pytest.fail("the block ran without its cluster")


def test_an_address_that_is_no_address_is_refused():
    with pytest.raises(ClusterUnreachable, match="not a scheduler address"):
        check_scheduler("tcp://nonsense", timeout=1)


def test_training_exits_1_with_one_line_and_contacts_no_mlflow(tmp_path, capsys):
    """The MLflow URI points at a closed port too: training stops at the scheduler, before the
    tracking server (so no run and no version), and does not fit anything locally instead."""
    data_url = f"sqlite:///{tmp_path / 'p.db'}"
    load_csv_into(data_url)
    address = f"tcp://127.0.0.1:{closed_port()}"
    argv = ["--data-url", data_url, "--tracking-uri", f"http://127.0.0.1:{closed_port()}"]
    code = train_cli.main([*argv, "--quick", "--dask-scheduler", address])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.strip().splitlines() == [
        f"error: dask: cannot reach the Dask scheduler at {address}: Connection refused"
    ]
    assert "checking MLflow" not in out and "grid search" not in out


def test_only_filters_the_workers_can_unpickle_go_with_the_fits():
    from taller_mlflow.training.cluster import portable_filters

    kernel_only = type("ProvisionalCompleterWarning", (Warning,), {"__module__": "IPython.core"})
    filters = [
        ("ignore", None, DeprecationWarning, None, 0),
        ("ignore", None, kernel_only, None, 0),
        ("default", None, __import__("numpy").exceptions.RankWarning, None, 0),
    ]
    kept = portable_filters(filters)
    assert [f[2] for f in kept] == [DeprecationWarning, __import__("numpy").exceptions.RankWarning]
