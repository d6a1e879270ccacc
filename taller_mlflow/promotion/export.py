"""`--export N`: verify an already registered version's ONNX graph and log its serving artifact.

For versions registered before the gate logged serving artifacts (or whose artifact was lost):
the same build, verification and logging as the gate's first check, and nothing else. No alias
moves, no promotion tag is written. The version's held-out evaluation rows are used when its run
has them; versions older than those are verified on the packaged CSV's 351 rows alone (the
manifest's parity sources say which).

Exporting a version again re-verifies it and rewrites its two files and tags. The conversion is
reproducible (taller_mlflow.promotion.onnx_export), so the graph and its sha256 stay the same
and the line says so ("re-verified, same sha256 as before"); only the manifest's created_at and
parity evidence are new.
"""

from taller_mlflow.promotion.aliases import ready_version
from taller_mlflow.promotion.evaluation import EvalRowsMissing, load_eval_rows
from taller_mlflow.promotion.fitted import fitted_loader
from taller_mlflow.promotion.onnx_export import OnnxExportError
from taller_mlflow.promotion.outcome import PromotionError
from taller_mlflow.promotion.serving_artifact import Exported, export


class ExportRejected(RuntimeError):
    """The version cannot be served from a graph: it does not load, convert or agree. One line."""


def export_version(
    client,
    tracking_uri: str,
    name: str,
    version: str,
    say=print,
    *,
    loader=None,
    eval_rows=None,
) -> Exported:
    """Verify `name`/`version` and log its serving artifact. Raises ExportRejected when the graph
    cannot be verified; PromotionError, MlflowException or OSError for anything else."""
    mv = ready_version(client, name, version)
    if not mv.run_id:
        raise PromotionError(f"{name} version {version} has no source run to log its artifact in")
    try:
        fitted = (loader or fitted_loader(client, tracking_uri))(name, str(version))
        try:
            rows = (eval_rows or load_eval_rows)(client, name, str(version))
        except EvalRowsMissing as exc:
            rows = None
            say(f"{exc}; verifying on the packaged CSV's penguins only")
        return export(
            client, name, str(version), mv.run_id, fitted.sk_model, rows, fitted.input_example
        )
    except OnnxExportError as exc:
        raise ExportRejected(f"{name} version {version} cannot be served: {exc}") from exc
