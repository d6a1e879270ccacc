"""A batch run: the version resolved and its graph verified here, once; the partitions scored
here one after another, or on the Dask cluster's workers; the run logged in MLflow.

The graph is loaded through the API's own path (serving.artifacts.ArtifactLoader: the version's
tags, its manifest, the sha256 check, the smoke prediction), so a batch scores only what the
gate verified, with no MLflow model and no scikit-learn.
"""

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from taller_mlflow.batch import reader, writer
from taller_mlflow.batch.scorer import Counts, Graph, Job, score_partition
from taller_mlflow.serving.artifacts import ArtifactLoader
from taller_mlflow.serving.manifest import GRAPH_FILE
from taller_mlflow.serving.mlflow_rest import MlflowRest
from taller_mlflow.serving.refs import ModelRef, Resolver
from taller_mlflow.stage import StageError
from taller_mlflow.training.cluster import connect

RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_.:@/+-]{1,64}$")


def batch_run_id(name: str, version: str, table: str, given: str | None = None) -> str:
    """The idempotency key of a batch run: the one given, else one per version and input table,
    so running the same command again replaces its rows instead of adding a second set."""
    run_id = given.strip() if given else f"{table}@{name}/{version}"[:64]
    if not RUN_ID_PATTERN.match(run_id):
        raise StageError("run id", f"{run_id!r}: use 1 to 64 of A-Z a-z 0-9 _ . : @ / + -")
    return run_id


class _KeepingGraph(ArtifactLoader):
    """The API's loader, keeping the verified graph's bytes for the workers."""

    graph_bytes = b""

    def _download(self, run_id: str, path: str) -> bytes:
        data = super()._download(run_id, path)
        if path.endswith("/" + GRAPH_FILE):
            self.graph_bytes = data
        return data


def load_graph(rest: MlflowRest, model: str, default_alias: str) -> tuple[str, str, Graph]:
    """(name, version, Graph) of the version `model` (NAME@ALIAS, NAME/VERSION) means."""
    try:
        ref = ModelRef.parse(model, default_alias)
    except ValueError as exc:
        raise StageError("model", str(exc)) from None
    resolution = Resolver(rest).resolve(ref)
    loader = _KeepingGraph(rest)
    served = loader(resolution.name, resolution.version)
    graph = Graph(loader.graph_bytes, tuple(served.classes), served.sha256)
    return resolution.name, resolution.version, graph


@dataclass(frozen=True)
class BatchResult:
    run_id: str
    model: str  # name/version
    rows: int
    bad: int
    partitions: int
    seconds: float
    where: str  # "this process" or the scheduler, its workers, partitions per worker
    threshold: float
    bad_by_column: dict[str, int] = field(default_factory=dict)
    example: str = ""
    mlflow_run_id: str = ""

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    @property
    def bad_share(self) -> float:
        return self.bad / self.rows if self.rows else 0.0

    @property
    def too_many_bad(self) -> bool:
        return self.bad_share > self.threshold

    def summary(self) -> str:
        columns = ", ".join(f"{c} {n}" for c, n in sorted(self.bad_by_column.items()))
        lines = [
            f"batch run       {self.run_id} (MLflow run {self.mlflow_run_id or '-'})",
            f"model           {self.model}",
            f"rows            {self.rows} in {self.partitions} partitions, "
            f"{self.rows - self.bad} scored, {self.bad} bad ({self.bad_share:.2%}; "
            f"threshold {self.threshold:.2%})",
            f"time            {self.seconds:.2f} s, {self.rows_per_second:,.0f} rows/s",
            f"scored on       {self.where}",
        ]
        if self.bad:
            lines.append(f"bad rows        by column: {columns}; first: {self.example}")
        return "\n".join(lines)


def run_partitions(job: Job, graph: Graph, parts, scheduler: str | None, timeout: float):
    """([Counts] of every partition, where they ran)."""
    if not scheduler:
        return [score_partition(job, graph, p) for p in parts], "this process"
    client = connect(scheduler, timeout)
    try:
        workers = len(client.scheduler_info().get("workers", {}))
        shared = client.scatter(graph, broadcast=True)  # sent once to each worker, not per task
        n = len(parts)
        futures = client.map(score_partition, [job] * n, [shared] * n, parts, pure=False)
        counts = client.gather(futures)
    finally:
        client.close()
    per_worker = Counter(c.worker for c in counts)
    spread = " + ".join(str(per_worker[w]) for w in sorted(per_worker)) or "none"
    return counts, f"{scheduler}: {workers} workers, partitions per worker {spread}"


def score_table(job: Job, graph: Graph, rows_per_partition: int, scheduler, timeout, threshold):
    """Score job.table into job.out_table: a BatchResult (not yet logged in MLflow)."""
    started = time.perf_counter()
    rows, low, high = reader.inspect_input(job.data_url, job.table, job.key)
    table = writer.output_table(job.out_table, job.key, list(graph.classes))
    writer.ensure(reader.engine(job.out_url), table)
    parts = reader.plan(rows, low, high, rows_per_partition)
    counts, where = run_partitions(job, graph, parts, scheduler, timeout)
    return summed(job, counts, len(parts), time.perf_counter() - started, where, threshold)


def summed(job: Job, counts: list[Counts], partitions: int, seconds, where, threshold):
    by_column: Counter = Counter()
    for c in counts:
        by_column.update(c.bad_by_column)
    example = next((c.example for c in sorted(counts, key=lambda c: c.partition) if c.example), "")
    return BatchResult(
        run_id=job.stamp.run_id,
        model=f"{job.stamp.model_name}/{job.stamp.model_version}",
        rows=sum(c.rows for c in counts),
        bad=sum(c.bad for c in counts),
        partitions=partitions,
        seconds=seconds,
        where=where,
        threshold=threshold,
        bad_by_column=dict(by_column),
        example=example,
    )


def stamp(name: str, version: str, run_id: str) -> writer.Stamp:
    """The run's timestamp: UTC, stored without a zone so every database keeps it alike."""
    return writer.Stamp(run_id, name, version, datetime.now(UTC).replace(tzinfo=None))
