"""The estimator: preprocessing + random forest, and the hyper-parameter grid."""

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from taller_mlflow.penguins import CATEGORICAL, FEATURES, NUMERIC, TARGET

PARAM_GRID = {
    "classifier__n_estimators": [10, 50, 100],
    "classifier__max_depth": [5, 8, 10],
    "classifier__min_samples_split": [2, 5, 10],
}
QUICK_GRID = {
    "classifier__n_estimators": [10],
    "classifier__max_depth": [5],
    "classifier__min_samples_split": [2, 5],
}


def build_pipeline(seed: int = 42) -> Pipeline:
    preprocess = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ("numeric", StandardScaler(), NUMERIC),
        ]
    )
    return Pipeline(
        [("preprocess", preprocess), ("classifier", RandomForestClassifier(random_state=seed))]
    )


def grid_size(grid: dict) -> int:
    size = 1
    for values in grid.values():
        size *= len(values)
    return size


def build_search(
    grid: dict, cv: int = 5, n_jobs: int = -1, seed: int = 42, verbose: int = 1
) -> GridSearchCV:
    return GridSearchCV(
        build_pipeline(seed), grid, cv=cv, scoring="accuracy", n_jobs=n_jobs, verbose=verbose
    )


def split(frame: pd.DataFrame, test_size: float = 0.3, seed: int = 42):
    """Stratified split: X_train, X_test, y_train, y_test."""
    return train_test_split(
        frame[FEATURES],
        frame[TARGET],
        test_size=test_size,
        stratify=frame[TARGET],
        random_state=seed,
    )
