"""What the API's image and process must not hold: the training stack. The API reads MLflow's
registry over REST and serves the ONNX graph the promotion gate verified, so none of these is
installed by pyproject's base and `api` extra, app/requirements.txt or app/dockerfile
(tests/static/test_lean_api.py), nor importable in the built image (tests/stack/test_image_contents.py).
"""

from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

# Distribution names (as pip and constraints.txt spell them) and the modules they install.
FORBIDDEN_DISTRIBUTIONS = (
    "mlflow",
    "mlflow-skinny",
    "mlflow-tracing",
    "scikit-learn",
    "pandas",
    "scipy",
    "matplotlib",
    "skl2onnx",
    "cloudpickle",
)
FORBIDDEN_MODULES = (
    "mlflow",
    "sklearn",
    "pandas",
    "scipy",
    "matplotlib",
    "skl2onnx",
    "cloudpickle",
)
# What the API does import: its web framework, server and model runtime.
API_MODULES = ("fastapi", "uvicorn", "onnxruntime", "numpy", "psycopg2", "sqlalchemy")
# What the training image's jobs import: training, the gate's ONNX export, the drift job.
TRAIN_MODULES = (
    "mlflow",
    "sklearn",
    "pandas",
    "scipy",
    "skl2onnx",
    "onnxruntime",
    "boto3",
    "dask",  # the Dask workers of docker-compose-dask.yaml run this image
    "distributed",
    "bokeh",  # their scheduler's dashboard
)


def closure(specs: list[str]) -> dict[str, tuple[str, ...]]:
    """Every distribution `specs` install, with the chain that pulls it in, from the metadata of
    this environment's installed distributions (extras and environment markers honoured)."""
    found: dict[str, tuple[str, ...]] = {}
    extras_seen: dict[str, set[str]] = {}
    todo = [(Requirement(spec), ()) for spec in specs]
    while todo:
        req, chain = todo.pop()
        name = canonicalize_name(req.name)
        extras = set(req.extras)
        if name in extras_seen and extras <= extras_seen[name]:
            continue
        extras_seen.setdefault(name, set()).update(extras)
        found.setdefault(name, (*chain, name))
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            raise AssertionError(
                f"{req.name} (via {' > '.join(chain) or 'pyproject'}) is not installed here: "
                "pip install -c constraints.txt -e '.[dev]'"
            ) from None
        for text in dist.requires or []:
            sub = Requirement(text)
            wanted = sub.marker is None or any(
                sub.marker.evaluate({"extra": extra}) for extra in (extras or {""})
            )
            if wanted:
                todo.append((sub, (*chain, name)))
    return found
