"""An in-memory stand-in for MLflow's Python client (MlflowClient), for the drift job's tests: the
job runs in MLflow's world (it is not the API), so its fake speaks MlflowClient's entities, errors
and paging, and counts every call; `down = True` makes every call fail as an unreachable server
does."""

import collections
import threading

from mlflow.entities.model_registry import (
    ModelVersion,
    ModelVersionTag,
    RegisteredModel,
    RegisteredModelAlias,
)
from mlflow.exceptions import MlflowException, RestException
from mlflow.store.entities.paged_list import PagedList

CLASSES = ["Adelie", "Chinstrap", "Gentoo"]
SIGNATURE = [
    ("island", "string"),
    ("sex", "string"),
    ("culmen_length_mm", "double"),
    ("culmen_depth_mm", "double"),
    ("flipper_length_mm", "double"),
    ("body_mass_g", "double"),
]
BY_ISLAND = {"Torgersen": 0, "Dream": 1, "Biscoe": 2}


def not_found(message: str) -> RestException:
    return RestException({"error_code": "RESOURCE_DOES_NOT_EXIST", "message": message})


class FakeMlflowClient:
    def __init__(self, page_cap: int = 100):
        self.page_cap = page_cap  # the most a page holds, whatever max_results asks
        self.models: dict[str, dict] = {}
        self.calls: collections.Counter = collections.Counter()
        self.down = False
        self.lock = threading.Lock()

    # --- set-up helpers -----------------------------------------------------------------------
    def add_version(self, name: str, run_id: str | None = None, tags: dict | None = None) -> str:
        model = self.models.setdefault(name, {"aliases": {}, "versions": {}})
        version = str(len(model["versions"]) + 1)
        model["versions"][version] = {"run_id": run_id or f"run-{name}-{version}", "tags": tags}
        return version

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.models[name]["aliases"][alias] = version

    # --- the client API --------------------------------------------------------------------
    def _call(self, what: str) -> None:
        with self.lock:
            self.calls[what] += 1
        if self.down:
            raise MlflowException("API request failed: connection refused")

    def _version(self, name: str, version: str) -> ModelVersion:
        data = self.models[name]["versions"][version]
        aliases = [a for a, v in self.models[name]["aliases"].items() if v == version]
        tags = [ModelVersionTag(k, str(v)) for k, v in (data["tags"] or {}).items()]
        return ModelVersion(
            name,
            version,
            1_700_000_000_000 + int(version),
            run_id=data["run_id"],
            current_stage="None",
            tags=tags,
            aliases=aliases,
        )

    def _page(self, items: list, max_results: int, page_token: str | None) -> PagedList:
        start = int(page_token or 0)
        size = min(max_results, self.page_cap)
        end = start + size
        return PagedList(items[start:end], str(end) if end < len(items) else None)

    def get_model_version(self, name, version):
        self._call("get_model_version")
        if name not in self.models or str(version) not in self.models[name]["versions"]:
            raise not_found(f"Model Version (name={name}, version={version}) not found")
        return self._version(name, str(version))

    def get_model_version_by_alias(self, name, alias):
        self._call("get_model_version_by_alias")
        if name not in self.models:
            raise not_found(f"Registered Model with name={name} not found")
        if alias not in self.models[name]["aliases"]:
            raise RestException(
                {"error_code": "INVALID_PARAMETER_VALUE", "message": f"alias {alias} not found"}
            )
        return self._version(name, self.models[name]["aliases"][alias])

    def search_model_versions(self, filter_string=None, max_results=10_000, page_token=None):
        self._call("search_model_versions")
        names = sorted(self.models)
        if filter_string:
            names = [n for n in names if filter_string == f"name='{n}'"]
        items = [self._version(n, v) for n in names for v in self.models[n]["versions"]]
        return self._page(items, max_results, page_token)

    def search_registered_models(self, max_results=100, page_token=None, **_):
        self._call("search_registered_models")
        items = [
            RegisteredModel(
                n, aliases=[RegisteredModelAlias(a, v) for a, v in m["aliases"].items()]
            )
            for n, m in sorted(self.models.items())
        ]
        return self._page(items, max_results, page_token)

    def search_experiments(self, max_results=1000, page_token=None, **_):
        self._call("search_experiments")
        from mlflow.entities import Experiment

        return self._page([Experiment("0", "Default", "", "active")], max_results, page_token)

    def search_runs(self, experiment_ids, filter_string="", max_results=1000, page_token=None, **_):
        self._call("search_runs")
        from mlflow.entities import Metric, Run, RunData, RunInfo

        wanted = [part.strip(" '()") for part in filter_string.split("IN", 1)[1].split(",")]
        runs = [
            Run(
                RunInfo(r, "0", "u", "FINISHED", 0, 0, "active"),
                RunData(metrics=[Metric("test_accuracy", 0.5, 0, 0)]),
            )
            for r in wanted
        ]
        return self._page(runs, max_results, page_token)
