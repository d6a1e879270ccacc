"""The estimator's shape and the search grid."""

from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from taller_mlflow.penguins import CATEGORICAL, NUMERIC, clean, read_csv
from taller_mlflow.training.model import (
    PARAM_GRID,
    QUICK_GRID,
    build_pipeline,
    build_search,
    grid_size,
    split,
)


def test_pipeline_is_column_transformer_then_seeded_random_forest():
    pipe = build_pipeline(seed=7)
    (name_pre, pre), (name_clf, clf) = pipe.steps
    assert (name_pre, name_clf) == ("preprocess", "classifier")
    assert isinstance(pre, ColumnTransformer) and isinstance(clf, RandomForestClassifier)
    assert clf.random_state == 7
    transformers = {name: (t, cols) for name, t, cols in pre.transformers}
    onehot, cat_cols = transformers["categorical"]
    scaler, num_cols = transformers["numeric"]
    assert isinstance(onehot, OneHotEncoder) and onehot.handle_unknown == "ignore"
    assert isinstance(scaler, StandardScaler)
    assert cat_cols == CATEGORICAL == ["island", "sex"]
    assert num_cols == NUMERIC and len(num_cols) == 4


def test_default_grid_has_the_27_workshop_combinations():
    assert grid_size(PARAM_GRID) == 27
    assert PARAM_GRID == {
        "classifier__n_estimators": [10, 50, 100],
        "classifier__max_depth": [5, 8, 10],
        "classifier__min_samples_split": [2, 5, 10],
    }
    search = build_search(PARAM_GRID)
    assert (search.cv, search.scoring, search.n_jobs) == (5, "accuracy", -1)
    assert grid_size(QUICK_GRID) < 27


def test_split_is_stratified_seeded_and_30_percent():
    frame = clean(read_csv()).frame
    x_train, x_test, y_train, y_test = split(frame)
    assert len(x_test) == round(len(frame) * 0.3)
    again = split(frame)
    assert list(x_test.index) == list(again[1].index)
    shares = y_test.value_counts(normalize=True) - frame["species"].value_counts(normalize=True)
    assert shares.abs().max() < 0.02
