"""An in-memory MLflow for the monitoring checks' tests: MonitorTracking (the job's REST client,
taller_mlflow/monitoring/monitor_rest.py) with its transport replaced by dictionaries. The pictures
and numbers are rendered by the real client's code; only the upload lands in memory. Its errors
are the real client's: ModelNotFound for "no such thing", RegistryUnavailable when `down`."""

import collections

from taller_mlflow.monitoring.monitor_rest import MonitorTracking, _Run
from taller_mlflow.serving.mlflow_rest import ModelVersion
from taller_mlflow.serving.problems import ModelNotFound, RegistryUnavailable


class RecordingTracking(MonitorTracking):
    def __init__(self):
        super().__init__("http://mlflow.invalid")
        self.versions: dict[tuple[str, str], dict] = {}
        self.aliases: dict[tuple[str, str], str] = {}
        self.artifacts: dict[tuple[str, str], bytes] = {}  # (run_id, path) -> content
        self.run_metrics: dict[str, dict[str, float]] = {}  # training runs' metrics
        self.experiments: dict[str, str] = {}
        self.runs: dict[str, dict] = {}  # the runs the checks wrote
        self.version_tags: dict[tuple[str, str], dict] = {}  # the tags the checks set
        self.calls: collections.Counter = collections.Counter()
        self.down = False

    def request(self, *args, **kwargs):
        raise AssertionError("the fake makes no HTTP call")

    def _call(self, what: str) -> None:
        self.calls[what] += 1
        if self.down:
            raise RegistryUnavailable("MLflow at http://mlflow.invalid: connection refused")

    # --- set-up helpers -----------------------------------------------------------------------
    def add_version(self, name: str, run_id: str | None = None, tags: dict | None = None) -> str:
        version = str(1 + sum(1 for n, _ in self.versions if n == name))
        self.versions[(name, version)] = {"run_id": run_id or f"run-{name}-{version}", "tags": tags}
        return version

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.aliases[(name, alias)] = version

    # --- the registry and training's runs -----------------------------------------------------
    def get_model_version(self, name: str, version: str) -> ModelVersion:
        self._call("get_model_version")
        if (name, str(version)) not in self.versions:
            raise ModelNotFound(f"{name}/{version}: not found")
        aliases = [a for (n, a), v in self.aliases.items() if n == name and v == str(version)]
        data = self.versions[(name, str(version))]
        return ModelVersion(
            name,
            str(version),
            data["run_id"],
            "READY",
            tags={**(data["tags"] or {}), **self.version_tags.get((name, str(version)), {})},
            aliases=aliases,
        )

    def get_run(self, run_id: str) -> _Run:
        self._call("get_run")
        return _Run(
            run_id, f"mlflow-artifacts:/0/{run_id}/artifacts", self.run_metrics.get(run_id, {})
        )

    def download_run_artifact(self, run_id: str, path: str) -> bytes:
        self._call("download_run_artifact")
        if (run_id, path) not in self.artifacts:
            raise ModelNotFound(f"artifact {path} of run {run_id}: not found")
        return self.artifacts[(run_id, path)]

    # --- what the checks write ----------------------------------------------------------------
    def get_experiment_by_name(self, name: str):
        self._call("get_experiment_by_name")
        found = self.experiments.get(name)
        return None if found is None else type("Experiment", (), {"experiment_id": found})

    def create_experiment(self, name: str) -> str:
        self._call("create_experiment")
        self.experiments[name] = str(len(self.experiments) + 1)
        return self.experiments[name]

    def create_run(self, experiment_id, run_name=None, tags=None) -> _Run:
        self._call("create_run")
        run_id = f"check-{len(self.runs) + 1}"
        self.runs[run_id] = {"experiment_id": experiment_id, "name": run_name, "tags": dict(tags)}
        self.runs[run_id].update(artifacts={}, status="RUNNING")
        return _Run(run_id, f"mlflow-artifacts:/{experiment_id}/{run_id}/artifacts")

    def log_batch(self, run_id, metrics=(), params=(), tags=()) -> None:
        self._call("log_batch")
        run = self.runs[run_id]
        run["metrics"] = {m.key: m.value for m in metrics}
        run["params"] = {p.key: p.value for p in params}
        run["tags"].update({t.key: t.value for t in tags})

    def log_bytes(self, run_id: str, content: bytes, artifact_file: str, mime: str) -> None:
        self._call("log_bytes")
        self.runs[run_id]["artifacts"][artifact_file] = content

    def set_terminated(self, run_id: str, status: str = "FINISHED") -> None:
        self._call("set_terminated")
        self.runs[run_id]["status"] = status

    def set_model_version_tag(self, name, version, key, value) -> None:
        self._call("set_model_version_tag")
        self.version_tags.setdefault((name, str(version)), {})[key] = value
