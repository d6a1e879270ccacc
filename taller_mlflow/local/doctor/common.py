"""What every check shares: the paths, the thresholds, a message in two languages, a result,
and the options."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from taller_mlflow.local.doctor.spanish import ES

ROOT = Path(__file__).resolve().parents[3]
PATHS = ("run", "up", "unit")
DEFAULT_PATHS = ("run", "up")
OK, WARN, PROBLEM = "ok", "warn", "problem"
GIB = 1024**3

# Thresholds, measured here (2 cores, Debian 12) and rounded up:
# - make run's .venv (api, train, notebook extras, pinned) is 1.26 GB; pip's downloads add ~0.3 GB,
#   and a run's data (.run/) is a few MB. Once .venv exists, little more is needed.
# - make up builds five images (1.7 GB together, shared layers counted once) and pulls MySQL,
#   PostgreSQL, MinIO and Prometheus (~1.7 GB): ~3.4 GB, plus build cache and volumes.
# - make run's process tree (MLflow, training the 27 combinations, the API, JupyterLab, the drift
#   job) peaked at 1.04 GiB PSS (1.5 GiB RSS); the notebook's kernel training again adds ~0.5 GiB.
#   The stack adds MySQL, PostgreSQL, MinIO, Prometheus and a second MLflow worker (~1 GiB more).
#   Its Dask scheduler and two workers held 0.95 GiB RSS after fitting the grid (2026-12-03);
#   UP_MEMORY below predates them and was not re-measured for the whole stack.
RUN_DISK_NEW = 2 * GIB  # no .venv yet: the venv and pip's downloads
RUN_DISK_EXISTING = GIB // 2
UP_DISK = 4 * GIB
DISK_MARGIN = 2 * GIB  # below need + margin: a warning
RUN_MEMORY, RUN_MEMORY_WARN = GIB, 2 * GIB
UP_MEMORY, UP_MEMORY_WARN = 2 * GIB, 4 * GIB
COMPOSE_MIN = (2, 20, 3)  # `include:` (docker-compose.yaml), per Docker's docs
PYTHON_WANTED = (3, 11)
RUN_PORTS = (("mlflow", "MLflow", "--mlflow-port"), ("api", "API", "--api-port"))
JUPYTER_PORT = ("jupyter", "JupyterLab", "--jupyter-port")
UNIT_PORT = 5000
TIMEOUT = 5.0  # seconds, for any one command


@dataclass(frozen=True)
class M:
    """A message: an English template and its values, rendered in the reader's language."""

    template: str
    values: tuple = ()

    @classmethod
    def of(cls, template: str, **values) -> M:
        return cls(template, tuple(sorted(values.items())))

    def render(self, lang: str) -> str:
        text = ES.get(self.template, self.template) if lang == "es" else self.template
        values = {k: v.render(lang) if isinstance(v, M) else v for k, v in self.values}
        return text.format(**values)


def language(env: dict) -> str:
    """'es' when LANG starts with es (es_CO.UTF-8, es_ES, es), else 'en'."""
    return "es" if env.get("LANG", "").lower().startswith("es") else "en"


@dataclass
class Result:
    severity: str
    name: str
    found: M
    fix: M | None = None
    needed_by: frozenset = field(default_factory=frozenset)  # paths that need this check


@dataclass
class Options:
    paths: tuple[str, ...] = DEFAULT_PATHS
    python: str | None = None  # the interpreter make run creates .venv with
    docker: str = "docker"
    compose: tuple[str, ...] = ("docker", "compose")
    mlflow_port: int = 5000
    api_port: int = 8989
    jupyter_port: int = 8888
    no_jupyter: bool = False
    skip: frozenset = frozenset()


def path_kind(paths) -> M:
    """'make run', 'make up', 'the unit path', joined in PATHS order."""
    names = [
        M.of("the unit path") if p == "unit" else M.of(f"make {p}") for p in PATHS if p in paths
    ]
    if len(names) == 1:
        return names[0]
    return M.of(
        " / ".join(f"{{p{i}}}" for i in range(len(names))),
        **{f"p{i}": n for i, n in enumerate(names)},
    )
