"""Typed settings, read from the environment or a `.env` file.

Generic names carry the prefix TALLER_ (TALLER_SEED, TALLER_API_PORT, ...) so they cannot collide
with another program's variables. The names the workshop's users already set keep their plain
names: MLFLOW_TRACKING_URI, DATA_URL, EXPERIMENT_NAME, MODEL_NAME, MODEL_ALIAS,
MODEL_REFRESH_SECONDS, and the prediction log's PREDICTION_LOG_URL and
PREDICTION_LOG_RETENTION_DAYS (`.env` files, compose files and scripts in the wild use them).

    python -m taller_mlflow.settings --env-example   # every setting with its default, for .env
"""

import sys
from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PREFIX = "TALLER_"


def plain(default, env: str, description: str):
    """A field read from the unprefixed variable `env`."""
    return Field(default, validation_alias=env, description=description)


class Settings(BaseSettings):
    # validate_by_name: code passes fields by attribute name, e.g. Settings(data_url=...).
    model_config = SettingsConfigDict(
        env_file=".env", env_prefix=PREFIX, extra="ignore", validate_by_name=True
    )

    data_url: str = plain(
        "sqlite:///data/penguins.db",
        "DATA_URL",
        "SQLAlchemy URL of the database holding table `penguins`.",
    )
    mlflow_tracking_uri: str = plain(
        "http://127.0.0.1:5000",
        "MLFLOW_TRACKING_URI",
        "MLflow tracking and registry server, for training, the notebook and the API.",
    )
    experiment_name: str = plain(
        "mlflow_penguins_vf", "EXPERIMENT_NAME", "MLflow experiment the training runs go to."
    )
    model_name: str = plain(
        "modelo_penguins",
        "MODEL_NAME",
        "Registered model that training creates and the API serves.",
    )
    model_alias: str = plain(
        "production", "MODEL_ALIAS", "Alias training points at its version and the API serves."
    )

    # Training
    quick_grid: bool = Field(
        False, description="Shrink the grid to 2 combinations, for smoke runs."
    )
    cv_folds: int = Field(5, description="Cross-validation folds of the grid search.")
    n_jobs: int = Field(-1, description="Parallel fits of the grid search; -1 uses every core.")
    seed: int = Field(42, description="Random seed of the split and the forest.")
    test_size: float = Field(0.3, description="Share of rows held out for the test metrics.")
    search_verbose: int = Field(1, description="GridSearchCV verbosity: 2 prints every fit.")
    registration_timeout_seconds: float = Field(
        120.0, description="Budget for registering and promoting a version, retries included."
    )
    dask_scheduler: str = Field(
        "",
        description="Dask scheduler (tcp://host:8786) the grid search's fits and batch scoring "
        "run on; empty: this machine. Unreachable: training and scoring exit 1, no fallback.",
    )
    dask_connect_timeout_seconds: float = Field(
        10.0, gt=0, description="How long training and batch scoring wait to reach the scheduler."
    )
    promotion_tolerance: float = Field(
        0.01,
        ge=0.0,
        le=1.0,
        description="Promotion gate: how far below production's accuracy, on the same evaluation "
        "rows, a candidate's may be.",
    )
    promotion_lock_url: str = Field(
        "",
        description="postgresql:// URL the promotion gate takes its lock on (an advisory lock on "
        "one connection; any role with CONNECT); empty: a lock held in the MLflow registry.",
    )

    # API
    api_host: str = Field("0.0.0.0", description="Interface `python -m app` listens on.")
    api_port: int = Field(8989, description="Port `python -m app` listens on.")
    api_workers: int = Field(1, description="Worker processes of `python -m app`.")
    model_refresh_seconds: float = plain(
        30.0, "MODEL_REFRESH_SECONDS", "How often the API re-resolves aliases."
    )
    model_load_retry_seconds: float = Field(
        15.0, description="Wait before retrying a version that failed to load; doubles each time."
    )
    model_load_retry_max_seconds: float = Field(
        600.0, description="Longest wait between retries of a version that failed to load."
    )
    mlflow_request_timeout_seconds: float = Field(
        10.0, description="Timeout of each API request to MLflow, in seconds (rounded up to whole)."
    )
    mlflow_request_max_retries: int = Field(
        1, description="Retries of a failed request the API makes to MLflow (no backoff)."
    )
    served_models: str = Field(
        "",
        description="Registered models the API answers for, comma separated; empty: MODEL_NAME "
        "only. Any other name is a 404 naming these, and nothing is downloaded for it.",
    )
    challenger_alias: str = Field(
        "challenger",
        description="Alias whose version shadow scoring compares with MODEL_ALIAS's.",
    )
    max_loaded_models: int = Field(
        8,
        ge=1,
        description="Most model versions a worker keeps loaded; past it the least recently used "
        "is dropped (and loads again when asked for).",
    )
    not_found_cache_seconds: float = Field(
        5.0,
        ge=0.0,
        description="How long the API remembers that a model, alias or version does not exist, "
        "so repeated requests for it cost no registry call.",
    )
    listing_cache_seconds: float = Field(
        5.0,
        ge=0.0,
        description="How long /listar_modelos reuses the registry's answer (loaded versions and "
        "load errors are always current).",
    )
    scoring_threads: int = Field(
        1,
        ge=1,
        description="Threads per worker that parse large bodies and score off the event loop; "
        "more workers, not more threads, use more cores (parsing holds the GIL).",
    )
    max_pending_requests: int = Field(
        64,
        ge=1,
        description="Requests a worker lets wait for a scoring thread; past it it answers 503 "
        "with Retry-After instead of queueing without bound.",
    )
    inline_body_bytes: int = Field(
        65_536,
        ge=0,
        description="Bodies up to this size, for a loaded model, are parsed and scored on the "
        "event loop (a thread hop costs more than a small batch); larger ones on a thread.",
    )
    api_keys: str = Field(
        "",
        description="API keys, comma separated; empty: off. When set, every request but the "
        "probes, /metrics, the docs and MLflow's signed webhook needs `Authorization: Bearer "
        "KEY` or `X-API-Key: KEY` (401 otherwise).",
    )
    cors_origins: str = Field(
        "",
        description="Origins browsers may call the API from, comma separated (`*`: any); empty: "
        "no CORS headers, so a browser allows same-origin calls only.",
    )
    rate_limit: str = Field(
        "",
        description="Per-client rate limit, e.g. `100/second` or `6000/minute` (the `limits` "
        "library's syntax); empty: off. A client is its API key when keys are on, else its "
        "address; past the limit: 429 with Retry-After. Each worker counts on its own.",
    )
    max_concurrent_requests: int = Field(
        256,
        ge=1,
        description="Requests a worker handles at once (probes and /metrics aside); past it it "
        "answers 503 with Retry-After instead of queueing without bound.",
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="Proxies whose X-Forwarded-For the API believes (uvicorn's "
        "forwarded_allow_ips; `*` behind an ingress you trust): the client address the rate "
        "limit counts.",
    )
    max_batch_size: int = Field(1000, description="Most penguins one /predict request may carry.")
    max_body_bytes: int = Field(1_000_000, description="Largest /predict body, in bytes.")
    protocol_max_rows: int = Field(
        10_000, description="Most rows one /invocations or V2 infer request may carry."
    )
    protocol_max_body_bytes: int = Field(
        8_000_000, description="Largest /invocations or V2 infer body, in bytes."
    )

    # Prediction log (taller_mlflow/monitoring/log.py)
    prediction_log_url: str = plain(
        "",
        "PREDICTION_LOG_URL",
        "SQLAlchemy URL the API logs every prediction to (table prediction_log); empty: off.",
    )
    prediction_log_retention_days: int = plain(
        30,
        "PREDICTION_LOG_RETENTION_DAYS",
        "Prediction log rows older than this many days are deleted (hourly); 0 keeps them all.",
    )
    prediction_log_queue_size: int = Field(
        50_000, description="Prediction log rows waiting to be written; beyond it they drop."
    )
    prediction_log_batch_size: int = Field(
        500, description="Rows the prediction log writes per insert, at most."
    )
    prediction_log_flush_seconds: float = Field(
        1.0, description="Longest a logged prediction waits before its batch is written."
    )

    # Safe promotion: MLflow webhooks (app/webhook_receiver.py) and the shadow challenger (app/shadow.py)
    webhook_secret: str = Field(
        "",
        description="Secret MLflow signs its registry webhooks with; empty: /webhooks/mlflow "
        "answers 404 and only polling swaps.",
    )
    webhook_url: str = Field(
        "",
        description="URL MLflow calls for this API's /webhooks/mlflow; set with the secret, the "
        "API registers the webhook at start.",
    )
    shadow_fraction: float = Field(
        0.1,
        ge=0.0,
        le=1.0,
        description="Share of requests served by MODEL_ALIAS also scored, off the response "
        "path, by the model's `challenger` alias; 0: off.",
    )

    # Batch scoring (python -m taller_mlflow.batch; taller_mlflow/batch/)
    batch_bad_rows_threshold: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Batch scoring exits 4 when more than this share of the rows is bad (nulls, "
        "unknown categories, out-of-range numbers); they are written with a reason either way.",
    )
    batch_partition_rows: int = Field(
        50_000, ge=1, description="Batch scoring: rows per partition, one task each."
    )

    # Drift monitoring (python -m taller_mlflow.monitor; taller_mlflow/monitoring/)
    reference_bins: int = Field(
        5, description="Training: quantile bins per numeric feature in the reference profile."
    )
    monitor_window_hours: float = Field(
        24.0, description="Drift job: how far back it reads the prediction log, in hours."
    )
    monitor_min_rows: int = Field(
        100,
        description="Drift job: fewest logged rows a version needs in the window to be checked.",
    )
    monitor_interval_seconds: float = Field(
        600.0, description="Drift job: seconds between checks when it runs as a service."
    )
    monitor_psi_warn: float = Field(
        0.1, description="Drift job: PSI from which a feature is `warn` (if its test agrees)."
    )
    monitor_psi_drift: float = Field(
        0.25, description="Drift job: PSI from which a feature is `drift` (if its test agrees)."
    )
    monitor_p_value: float = Field(
        0.01,
        description="Drift job: a PSI level counts only when the KS or chi-squared p-value is below it.",
    )
    monitor_min_labels: int = Field(
        30,
        ge=1,
        description="Quality check: fewest labelled predictions (POST /feedback) a version needs "
        "in the window for its accuracy to be measured, alarmed on and acted on.",
    )
    quality_tolerance: float = Field(
        0.05,
        ge=0.0,
        le=1.0,
        description="Quality alarm: how far below its held-out test_accuracy a version's "
        "realised accuracy may fall before the alarm fires (and the auto-rollback acts).",
    )
    auto_rollback: bool = Field(
        False,
        description="Quality check: roll @production back when its version is below the alarm's "
        "floor; at most once per version, never beyond the version the first rollback restored.",
    )
    monitor_metrics_host: str = Field(
        "0.0.0.0", description="Drift job service: interface its Prometheus /metrics listens on."
    )
    monitor_metrics_port: int = Field(
        9108, description="Drift job service: port of its Prometheus /metrics (0: none)."
    )

    @field_validator("rate_limit")
    @classmethod
    def _rate_limit_parses(cls, value: str) -> str:
        if value.strip():
            from limits import parse  # only when a limit is set

            parse(value)  # ValueError names what it could not read
        return value.strip()

    @property
    def api_key_list(self) -> list[str]:
        return [k.strip() for k in self.api_keys.split(",") if k.strip()]

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]

    @property
    def served_model_names(self) -> tuple[str, ...]:
        """TALLER_SERVED_MODELS as names, MODEL_NAME when it is empty."""
        names = [n.strip() for n in self.served_models.split(",") if n.strip()]
        return tuple(dict.fromkeys(names or [self.model_name]))


def env_name(field: str) -> str:
    """The environment variable (and `.env` key) that sets `field`."""
    alias = Settings.model_fields[field].validation_alias
    return alias if isinstance(alias, str) else PREFIX + field.upper()


def env_value(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def documented() -> list[tuple[str, str, str, str]]:
    """(attribute, env name, default as it is written in .env, description) of every setting."""
    return [
        (name, env_name(name), env_value(info.default), info.description or "")
        for name, info in Settings.model_fields.items()
    ]


def env_example() -> str:
    """Every setting as a commented `.env` entry: description, then `# NAME=default`."""
    return "".join(f"# {doc}\n# {env}={default}\n" for _, env, default, doc in documented())


def help_text() -> str:
    """Every setting, its variable, default and description: for command lines' --help."""
    lines = ["settings, as VARIABLE=default (set them in the environment or .env; a flag wins):"]
    lines += [f"  {env}={default}\n      {doc}" for _, env, default, doc in documented()]
    return "\n".join(lines)


@lru_cache
def get_settings() -> Settings:
    return Settings()


if __name__ == "__main__":
    sys.stdout.write(env_example() if "--env-example" in sys.argv[1:] else help_text() + "\n")
