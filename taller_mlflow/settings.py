"""Typed settings, read from the environment or a `.env` file."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    data_url: str = Field(
        "sqlite:///data/penguins.db",
        description="SQLAlchemy URL of the database holding table `penguins`.",
    )
    mlflow_tracking_uri: str = "http://127.0.0.1:5000"
    experiment_name: str = "mlflow_penguins_vf"
    model_name: str = "modelo_penguins"
    model_alias: str = "production"

    # Training
    quick_grid: bool = Field(
        False, description="Shrink the grid to 2 combinations, for smoke runs."
    )
    cv_folds: int = 5
    n_jobs: int = -1
    seed: int = 42
    test_size: float = 0.3
    search_verbose: int = Field(1, description="GridSearchCV verbosity: 2 prints every fit")

    # API
    api_host: str = "0.0.0.0"
    api_port: int = 8989
    api_workers: int = 1
    model_refresh_seconds: float = Field(30.0, description="How often the API re-resolves aliases.")
    max_batch_size: int = 1000
    max_body_bytes: int = 1_000_000


@lru_cache
def get_settings() -> Settings:
    return Settings()
