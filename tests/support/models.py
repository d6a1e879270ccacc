"""Real fitted pipelines for the serving-artifact tests, trained here on the packaged CSV."""

import numpy as np
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from taller_mlflow.penguins import CATEGORICAL, FEATURES, NUMERIC, TARGET, clean, read_csv
from taller_mlflow.training.model import build_pipeline


def training_data():
    frame = clean(read_csv()).frame
    return frame[FEATURES], frame[TARGET]


def fitted(pipeline):
    x, y = training_data()
    return pipeline.fit(x, y)


def production_like(seed: int = 42) -> Pipeline:
    """The project's pipeline at the largest point of its grid (100 trees, depth 10)."""
    pipe = build_pipeline(seed)
    pipe.set_params(classifier__n_estimators=100, classifier__max_depth=10)
    return fitted(pipe)


def unconvertible() -> Pipeline:
    """A real pipeline skl2onnx cannot convert: FunctionTransformer with a non-identity function."""
    preprocess = ColumnTransformer(
        [
            ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
            ("numeric", FunctionTransformer(np.log1p), NUMERIC),
        ]
    )
    return fitted(
        Pipeline([("preprocess", preprocess), ("classifier", RandomForestClassifier(20))])
    )


def always_adelie() -> Pipeline:
    """A real, convertible pipeline that answers "Adelie" for every penguin: a forest whose trees
    may not split (a leaf needs more rows than there are), so each gives the class shares of its
    bootstrap sample, and Adelie, the most common species, wins every vote."""
    preprocess = build_pipeline().steps[0][1]
    forest = RandomForestClassifier(n_estimators=25, min_samples_leaf=1000, random_state=0)
    return fitted(Pipeline([("preprocess", preprocess), ("classifier", forest)]))
