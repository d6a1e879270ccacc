"""One partition, start to end: read, checked, scored with the verified graph, written. This is
the task a Dask worker runs (or this process, without a scheduler); it returns counts only.

The graph travels as its bytes (an onnxruntime session cannot be pickled) with the sha256 the
gate tagged; each process builds its session once per graph and reuses it for every partition.
"""

import sys
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from taller_mlflow.batch import reader, rows, writer
from taller_mlflow.penguins import FEATURES
from taller_mlflow.serving.manifest import sha256_hex
from taller_mlflow.serving.onnx_model import OnnxModel, labels_of


@dataclass(frozen=True)
class Graph:
    """A verified serving artifact as it travels to the workers."""

    onnx: bytes
    classes: tuple[str, ...]
    sha256: str


_sessions: dict[str, OnnxModel] = {}


def session(graph: Graph) -> OnnxModel:
    if graph.sha256 not in _sessions:
        if sha256_hex(graph.onnx) != graph.sha256:  # damaged on the way: never score with it
            raise ValueError(f"graph bytes do not match sha256 {graph.sha256[:12]}")
        _sessions[graph.sha256] = OnnxModel(graph.onnx, graph.classes)
    return _sessions[graph.sha256]


@dataclass(frozen=True)
class Job:
    """Everything a partition's task needs but the partition and the graph."""

    data_url: str
    table: str
    key: str
    out_url: str
    out_table: str
    stamp: writer.Stamp


@dataclass(frozen=True)
class Counts:
    partition: int
    rows: int
    bad: int
    bad_by_column: dict[str, int] = field(default_factory=dict)
    example: str = ""  # one bad row's key and reason, for the report
    worker: str = ""  # the Dask worker's address; empty: this process


def output_columns(key: str, keys, good, labels, proba, reasons, classes) -> dict[str, list]:
    """The partition's output as columns, in key order: scored and bad rows alike (a bad row:
    no prediction, no probabilities, its reason)."""
    n = len(keys)
    prediction = np.full(n, None, dtype=object)
    prediction[good] = labels
    out = {key: list(keys), "prediction": prediction.tolist()}
    for j, label in enumerate(classes):
        column = np.full(n, None, dtype=object)
        column[good] = proba[:, j].tolist()
        out[writer.probability_column(label)] = column.tolist()
    reason = [None] * n
    for row, text in reasons.items():
        reason[row] = text[: writer.REASON_LENGTH]
    out["reason"] = reason
    return out


def score_partition(job: Job, graph: Graph, part: reader.Partition) -> Counts:
    columns = reader.read(job.data_url, job.table, job.key, part)
    keys = columns[job.key]
    features, reasons = rows.check(columns)
    good = np.ones(len(keys), dtype=bool)
    good[list(reasons)] = False
    classes = list(graph.classes)
    if good.any():
        proba = session(graph).predict_proba({c: features[c][good] for c in FEATURES})
        labels = labels_of(classes, proba)
    else:
        proba, labels = np.empty((0, len(classes))), []
    table = writer.output_table(job.out_table, job.key, classes)
    out = output_columns(job.key, keys, good, labels, proba, reasons, classes)
    span = (part.low, part.high)
    writer.replace(reader.engine(job.out_url), table, job.key, span, out, job.stamp.columns())
    by_column = Counter(reason.split(":", 1)[0] for reason in reasons.values())
    first = min(reasons, default=None)
    example = f"{job.key}={keys[first]}: {reasons[first]}" if first is not None else ""
    return Counts(part.index, len(keys), len(reasons), dict(by_column), example, worker_address())


def worker_address() -> str:
    if "distributed" not in sys.modules:  # no Dask here: not worth importing it to find out
        return ""
    from distributed import get_worker

    try:
        return get_worker().address
    except ValueError:  # not on a Dask worker
        return ""
