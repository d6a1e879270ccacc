"""One `make run` (the full 27-combination grid, JupyterLab on) shared by this folder's tests, in
the order pytest runs the files: the browser checks (which count the first training's 28 runs),
the notebook run through JupyterLab (a second version), then the supervision checks, the last of
which SIGKILLs make."""

import pytest

from tests.support.make_run import READY, start_make_run

FIRST_BOOT_SECONDS = 1200  # MLflow start, 27 combinations and the API on a loaded 2-core machine


@pytest.fixture(scope="session")
def make_run(tmp_path_factory):
    run = start_make_run(tmp_path_factory.mktemp("make-run"))
    try:
        run.wait_for(READY, FIRST_BOOT_SECONDS)
        yield run
    finally:
        run.stop()
