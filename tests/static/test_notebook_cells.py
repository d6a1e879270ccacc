"""The notebook teaches MLflow: its own cells make MLflow's calls, each after a Markdown cell
that says what it records and where to see it (the package keeps the plumbing only)."""

import json
from pathlib import Path

NOTEBOOK = Path(__file__).resolve().parents[2] / "JupyterLab" / "mlflow_pipeline.ipynb"


def test_notebook_shows_the_mlflow_calls_in_its_own_cells():
    """What a student comes to learn is in the notebook's cells, not hidden in a package call."""
    nb = json.loads(NOTEBOOK.read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    for call in [
        "mlflow.sklearn.autolog(",
        "mlflow.start_run(",
        "search.fit(",
        "mlflow.sklearn.log_model(",
        "mlflow.register_model(",
        "mlflow.end_run()",
    ]:
        assert call in code, call
    assert "train(" not in code.replace("x_train", "").replace("y_train", "")
    cells = nb["cells"]
    for call in ["mlflow.sklearn.autolog(", "mlflow.start_run(", "mlflow.register_model("]:
        at = next(
            i
            for i, c in enumerate(cells)
            if c["cell_type"] == "code" and call in "".join(c["source"])
        )
        assert cells[at - 1]["cell_type"] == "markdown", f"no explanation before {call}"
