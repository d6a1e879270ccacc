"""A verified ONNX graph of the penguin pipeline, run by onnxruntime: the only way the API predicts.

The graph takes one [n, 1] input per feature (island and sex as strings, the measurements as
float64) and gives `probabilities` [n, classes] in the order of the manifest's classes. The
promotion gate builds it from the fitted scikit-learn pipeline and checks it against scikit-learn
(taller_mlflow/promotion/serving_artifact.py); the API only ever runs it.
"""

from collections.abc import Mapping, Sequence

import numpy as np
import onnxruntime as ort

from taller_mlflow.penguins import CATEGORICAL, FEATURES, NUMERIC

OUTPUT = "probabilities"


class GraphError(ValueError):
    """The bytes are not a graph this API can run: not ONNX, or other inputs and outputs."""


class OnnxModel:
    """predict_proba(columns) with one onnxruntime session (thread-safe, per onnxruntime)."""

    def __init__(self, graph: bytes, classes: Sequence[str], threads: int = 1):
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own Fail/InvalidGraph types
            raise GraphError(f"onnxruntime cannot load the graph: {exc}") from exc
        self.classes = list(classes)
        names = [i.name for i in self.session.get_inputs()]
        if names != FEATURES:
            raise GraphError(f"graph inputs {names} are not {FEATURES}")
        outputs = {o.name: o for o in self.session.get_outputs()}
        if OUTPUT not in outputs:
            raise GraphError(f"graph has no {OUTPUT!r} output (it has {sorted(outputs)})")
        width = outputs[OUTPUT].shape[-1] if outputs[OUTPUT].shape else None
        if isinstance(width, int) and width != len(self.classes):
            raise GraphError(f"graph gives {width} probabilities for {len(self.classes)} classes")
        self._outputs = [OUTPUT]

    def predict_proba(self, columns: Mapping[str, Sequence]) -> np.ndarray:
        """One sequence (a list or a 1-D array) per feature, all of one length; rows x classes."""
        return self.session.run(self._outputs, feeds(columns))[0]


def feeds(columns: Mapping[str, Sequence]) -> dict[str, np.ndarray]:
    """The graph's inputs: [n, 1] arrays, strings as objects and measurements as float64."""
    out = {c: np.asarray(columns[c], dtype=object).reshape(-1, 1) for c in CATEGORICAL}
    out.update({c: np.asarray(columns[c], dtype=np.float64).reshape(-1, 1) for c in NUMERIC})
    return out


def labels_of(classes: Sequence[str], proba: np.ndarray) -> list[str]:
    """The most probable class of each row."""
    return np.asarray(classes, dtype=object)[proba.argmax(axis=1)].tolist()
