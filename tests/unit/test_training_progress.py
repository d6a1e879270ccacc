"""The grid search's output (taller_mlflow.training.progress): the fit count joblib reports in this process,
a bar on a terminal, a few plain lines elsewhere, and the top-5 table. A real GridSearchCV on the
packaged penguins, small enough to run in seconds."""

import io

import pytest

from taller_mlflow.penguins import clean, read_csv
from taller_mlflow.training.model import QUICK_GRID, build_search, grid_size, split
from taller_mlflow.training.progress import GridProgress, counting_fits, top_table

GRID = {**QUICK_GRID, "classifier__max_depth": [3, 5]}  # 4 combinations
FOLDS = 3


@pytest.fixture(scope="module")
def penguins():
    x_train, _, y_train, _ = split(clean(read_csv()).frame)
    return x_train, y_train


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_every_fit_is_counted_in_this_process_in_order(penguins, n_jobs):
    counts = []
    search = build_search(GRID, cv=FOLDS, n_jobs=n_jobs, verbose=0)
    with counting_fits(counts.append):
        search.fit(*penguins)
    assert counts == sorted(counts)
    assert counts[-1] == grid_size(GRID) * FOLDS
    assert len(set(counts)) >= grid_size(GRID)  # at least one report per combination


def test_counting_is_undone_after_the_block(penguins):
    counts = []
    with counting_fits(counts.append):
        pass
    build_search(GRID, cv=FOLDS, n_jobs=1, verbose=0).fit(*penguins)
    assert counts == []


def test_plain_output_is_a_handful_of_lines_ending_at_the_total():
    lines = []
    progress = GridProgress(27, say=lines.append, stream=io.StringIO())
    for done in range(28):
        progress.update(done)
    progress.close()
    assert 3 <= len(lines) <= 6, lines
    assert lines[-1].startswith("grid search: 27/27 combinations (")
    assert all("/27 combinations" in line for line in lines)


def test_a_terminal_gets_one_redrawn_bar_and_no_lines():
    lines, terminal = [], Terminal()
    progress = GridProgress(27, say=lines.append, stream=terminal)
    for done in range(28):
        progress.update(done)
    progress.close()
    drawn = terminal.getvalue()
    assert lines == []
    assert "\r" in drawn and "27/27" in drawn and drawn.count("\n") <= 1


def test_updates_never_go_backwards_or_past_the_total():
    lines = []
    progress = GridProgress(4, say=lines.append, stream=io.StringIO())
    for done in [2, 1, 4, 9]:
        progress.update(done)
    assert progress.done == 4
    assert lines[-1].startswith("grid search: 4/4")


def test_top_table_lists_the_best_combinations_by_rank(penguins):
    search = build_search(GRID, cv=FOLDS, n_jobs=1, verbose=0).fit(*penguins)
    table = top_table(search.cv_results_, n=3).splitlines()
    assert table[0] == f"top 3 of {grid_size(GRID)} combinations"
    header = table[1].split()
    assert header == ["rank", "cv", "accuracy", "max_depth", "min_samples_split", "n_estimators"]
    ranks = [int(row.split()[0]) for row in table[2:]]
    assert len(ranks) == 3 and ranks == sorted(ranks) and ranks[0] == 1
    best = f"{search.best_score_:.4f}"
    assert table[2].split()[1] == best
