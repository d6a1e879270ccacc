"""The serving artifact of a model version: the ONNX graph the gate verified, and its manifest.

When the promotion gate verifies a version (taller_mlflow/promotion/serving_artifact.py), it logs
two files into the version's source run, under `serving/<name>/v<version>/`:

    model.onnx     the graph (taller_mlflow/serving/onnx_model.py runs it)
    manifest.json  what the graph takes and gives, how it was made, and the parity evidence

and tags the version:

    serving.format = onnx
    serving.sha256 = <hex digest of model.onnx>
    serving.path   = serving/<name>/v<version>

The API serves a version only from these: it downloads both files, and loads the graph only when
its sha256 equals the tag and the manifest's, the manifest names this very version, and the graph
answers the manifest's input example as it answered the gate. A version without the tags is never
served, and nothing of the training stack (no pickle) is ever loaded to serve it.
"""

import hashlib
import json
from dataclasses import asdict, dataclass, field

from taller_mlflow.penguins import CATEGORICAL, FEATURES, ISLANDS, SEXES, UPPER_BOUNDS

SCHEMA = 1
FORMAT = "onnx"
FORMAT_TAG = "serving.format"
SHA256_TAG = "serving.sha256"
PATH_TAG = "serving.path"
GRAPH_FILE = "model.onnx"
MANIFEST_FILE = "manifest.json"
PROBA_TOLERANCE = 1e-5  # onnxruntime sums the trees' leaf probabilities in float32


def artifact_dir(name: str, version: str) -> str:
    """Where a version's serving files live inside its source run's artifacts. The name is part
    of it: one run can be registered under several models, each version with its own files."""
    return f"serving/{name}/v{version}"


def export_command(name: str, version: str) -> str:
    """The command that verifies a version and logs its serving artifact."""
    model = "" if name == "modelo_penguins" else f" --model {name}"
    return f"python -m taller_mlflow.promote --export {version}{model}"


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class ManifestError(ValueError):
    """A manifest that cannot be read, or does not match its graph or its version."""


@dataclass(frozen=True)
class Feature:
    name: str
    type: str  # "string" or "double"
    categories: list[str] | None = None  # the allowed values of a string feature
    upper_bound: float | None = None  # a measurement's bound: 0 < x <= upper_bound


def penguin_features() -> list[Feature]:
    """The six features as the API validates them (taller_mlflow/penguins.py)."""
    allowed = {"island": list(ISLANDS), "sex": list(SEXES)}
    return [
        Feature(c, "string", categories=allowed[c])
        if c in CATEGORICAL
        else Feature(c, "double", upper_bound=float(UPPER_BOUNDS[c]))
        for c in FEATURES
    ]


@dataclass(frozen=True)
class Parity:
    """How the graph was checked against the fitted scikit-learn model."""

    rows: int  # rows compared, each batched, one by one and as columns
    max_abs_diff: float  # the largest probability difference seen
    tolerance: float
    sources: list[str]  # where the rows came from, e.g. "held-out rows of run ...: 103"


@dataclass(frozen=True)
class Manifest:
    model_name: str
    model_version: str
    run_id: str
    sha256: str
    classes: list[str]
    features: list[Feature]
    input_example: dict[str, list]  # a few rows, as columns
    expected_labels: list[str]  # the graph's answers for the input example, at the gate
    expected_probabilities: list[list[float]]
    parity: Parity
    versions: dict[str, str]  # converter, runtime and training library versions, opsets
    created_at: str
    format: str = FORMAT
    schema: int = SCHEMA
    extra: dict = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> "Manifest":
        try:
            data = json.loads(raw)
            if data.get("schema") != SCHEMA or data.get("format") != FORMAT:
                raise ManifestError(
                    f"manifest schema {data.get('schema')!r} / format {data.get('format')!r} "
                    f"is not {SCHEMA} / {FORMAT!r}"
                )
            data["features"] = [Feature(**f) for f in data["features"]]
            data["parity"] = Parity(**data["parity"])
            return cls(**data)
        except ManifestError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ManifestError(f"{MANIFEST_FILE} is not a serving manifest: {exc}") from exc

    def check(self, name: str, version: str, graph_sha256: str, tagged_sha256: str) -> None:
        """Raise ManifestError unless the graph, the tag and this manifest agree on one version."""
        if (self.model_name, str(self.model_version)) != (name, str(version)):
            raise ManifestError(
                f"manifest is for {self.model_name}/{self.model_version}, not {name}/{version}"
            )
        if not (graph_sha256 == tagged_sha256 == self.sha256):
            raise ManifestError(
                f"sha256 of {GRAPH_FILE} is {graph_sha256[:12]}..., the version's "
                f"{SHA256_TAG} tag says {tagged_sha256[:12]}... and the manifest "
                f"{self.sha256[:12]}...: refusing a graph the gate did not verify"
            )
        names = [f.name for f in self.features]
        if names != FEATURES:
            raise ManifestError(f"manifest features {names} are not {FEATURES}")
        if not self.classes:
            raise ManifestError("manifest lists no classes")
