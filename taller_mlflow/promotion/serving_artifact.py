"""Build, verify and log a version's serving artifact: the only thing the API will serve it from.

`build_artifact` converts the fitted pipeline to ONNX, verifies the graph through the API's own
runtime against scikit-learn on every row source it is given (the version's held-out evaluation
rows, and the 351 API-shaped rows of the packaged CSV), and writes the manifest
(taller_mlflow/serving/manifest.py) with that evidence and with the graph's own answers to a few
example rows, which the API's smoke test will ask again. `log_artifact` puts `model.onnx` and
`manifest.json` into the version's source run under `serving/v<version>/`, then tags the version:
`serving.format` and `serving.path`, and `serving.sha256` last, since that tag is what makes the
version servable; a half-written artifact is therefore never taken for a verified one.

The promotion gate (its check "ONNX graph verified against scikit-learn") and
`python -m taller_mlflow.promote --export N` both call `export`.
"""

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from taller_mlflow.penguins import FEATURES
from taller_mlflow.promotion.evaluation import as_api_rows
from taller_mlflow.promotion.onnx_export import (
    Evidence,
    columns_of,
    opsets_of,
    runtime_of,
    to_onnx,
    verification_rows,
    verify,
)
from taller_mlflow.promotion.outcome import PromotionError
from taller_mlflow.serving.manifest import (
    FORMAT,
    FORMAT_TAG,
    GRAPH_FILE,
    MANIFEST_FILE,
    PATH_TAG,
    PROBA_TOLERANCE,
    SHA256_TAG,
    Manifest,
    Parity,
    artifact_dir,
    penguin_features,
    sha256_hex,
)
from taller_mlflow.serving.onnx_model import labels_of

EXAMPLE_ROWS = 3
CSV_SOURCE = "API-shaped rows of the packaged penguins_size.csv"


@dataclass(frozen=True)
class RowSource:
    """Rows to verify the graph on, and where they came from (for the manifest)."""

    label: str
    rows: list[dict]

    def describe(self) -> str:
        return f"{self.label}: {len(self.rows)}"


@dataclass(frozen=True)
class Exported:
    """What `export` logged: the artifact's folder, its sha256, and the parity evidence."""

    name: str
    version: str
    path: str
    sha256: str
    parity: Parity
    previous_sha256: str | None  # the version's serving.sha256 before this export, if any

    def line(self) -> str:
        if self.previous_sha256 is None:
            news = "logged"
        elif self.previous_sha256 == self.sha256:
            news = "re-verified, same sha256 as before"
        else:
            news = f"replaced {self.previous_sha256[:12]}"
        return (
            f"sha256 {self.sha256[:12]}, {self.parity.rows} rows compared, max abs diff "
            f"{self.parity.max_abs_diff:.2e} <= {self.parity.tolerance:g}; {news} at {self.path}"
        )


def row_sources(eval_rows: pd.DataFrame | None, run_id: str) -> list[RowSource]:
    """The version's held-out rows (when it has them), then the packaged CSV's penguins."""
    sources = []
    if eval_rows is not None and len(eval_rows):
        sources.append(
            RowSource(f"held-out evaluation rows of run {run_id}", as_api_rows(eval_rows))
        )
    return [*sources, RowSource(CSV_SOURCE, verification_rows())]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def library_versions(graph: bytes) -> dict[str, str]:
    from importlib.metadata import version

    versions = {
        lib: version(lib) for lib in ("skl2onnx", "onnx", "onnxruntime", "scikit-learn", "mlflow")
    }
    for domain, opset in sorted(opsets_of(graph).items()):
        versions[f"opset.{domain or 'ai.onnx'}"] = str(opset)
    return versions


def example_columns(rows: list[dict]) -> dict[str, list]:
    """The example as JSON-plain columns: strings and floats, as a client would send them."""
    return {
        c: [v if isinstance(v, str) else float(v) for v in col]
        for c, col in columns_of(rows).items()
    }


def build_artifact(
    sk_model,
    name: str,
    version: str,
    run_id: str,
    sources: Sequence[RowSource],
    example: list[dict] | None = None,
    now=utc_now,
) -> tuple[bytes, Manifest]:
    """(graph bytes, manifest) once the graph agrees with scikit-learn on every source's rows.

    Raises ConversionError or ParityError (taller_mlflow.promotion.onnx_export) when it does not.
    `example` defaults to the first rows of the first source.
    """
    graph_bytes = to_onnx(sk_model)
    graph = runtime_of(graph_bytes, sk_model)
    evidence = Evidence()
    for source in sources:
        evidence = evidence.add(verify(graph, sk_model, source.rows))
    example = (example or [r for s in sources for r in s.rows])[:EXAMPLE_ROWS]
    columns = example_columns(example)
    proba = np.asarray(graph.predict_proba(columns))
    manifest = Manifest(
        model_name=name,
        model_version=str(version),
        run_id=run_id,
        sha256=sha256_hex(graph_bytes),
        classes=list(graph.classes),
        features=penguin_features(),
        input_example=columns,
        expected_labels=labels_of(graph.classes, proba),
        expected_probabilities=proba.astype(np.float64).tolist(),  # exactly as the graph gave
        parity=Parity(
            rows=evidence.rows,
            max_abs_diff=evidence.max_abs_diff,
            tolerance=PROBA_TOLERANCE,
            sources=[s.describe() for s in sources],
        ),
        versions=library_versions(graph_bytes),
        created_at=now(),
    )
    return graph_bytes, manifest


def log_artifact(client, name: str, version: str, run_id: str, graph: bytes, manifest: Manifest):
    """Log both files into the run at artifact_dir(name, version), then tag the version, sha256 last.

    A differing serving.sha256 from an earlier export is removed before the files are replaced,
    so no reader ever pairs the old tag with the new files."""
    folder = artifact_dir(name, version)
    tags = dict(client.get_model_version(name, str(version)).tags or {})
    if tags.get(SHA256_TAG) not in (None, manifest.sha256):
        client.delete_model_version_tag(name, str(version), SHA256_TAG)
    with tempfile.TemporaryDirectory(prefix="serving-") as tmp:
        (Path(tmp) / GRAPH_FILE).write_bytes(graph)
        (Path(tmp) / MANIFEST_FILE).write_bytes(manifest.to_json())
        for file in (GRAPH_FILE, MANIFEST_FILE):
            client.log_artifact(run_id, str(Path(tmp) / file), folder)
    client.set_model_version_tag(name, str(version), FORMAT_TAG, FORMAT)
    client.set_model_version_tag(name, str(version), PATH_TAG, folder)
    client.set_model_version_tag(name, str(version), SHA256_TAG, manifest.sha256)
    return folder


def example_rows(frame: pd.DataFrame | None) -> list[dict] | None:
    """A registered input example (a DataFrame with the six features) as API rows, else None."""
    if frame is None or not isinstance(frame, pd.DataFrame) or frame.empty:
        return None
    if [c for c in FEATURES if c not in frame.columns]:
        return None
    return as_api_rows(frame)


def export(
    client,
    name: str,
    version: str,
    run_id: str | None,
    sk_model,
    eval_rows: pd.DataFrame | None,
    input_example: pd.DataFrame | None = None,
) -> Exported:
    """Build and verify the version's artifact, then log and tag it. The gate and --export."""
    if not run_id:
        raise PromotionError(f"{name} version {version} has no source run to log its artifact in")
    before = dict(client.get_model_version(name, str(version)).tags or {}).get(SHA256_TAG)
    sources = row_sources(eval_rows, run_id)
    graph, manifest = build_artifact(
        sk_model, name, version, run_id, sources, example_rows(input_example)
    )
    path = log_artifact(client, name, version, run_id, graph, manifest)
    return Exported(name, str(version), path, manifest.sha256, manifest.parity, before)
