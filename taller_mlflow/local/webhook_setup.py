"""`make run`'s webhook: the MLflow server it starts can deliver registry events to the local API,
signed with a secret generated once into the run's folder (or TALLER_WEBHOOK_SECRET)."""

import secrets
from pathlib import Path

from cryptography.fernet import Fernet

from taller_mlflow.serving.problems import ModelNotFound, RegistryUnavailable
from taller_mlflow.serving.webhooks import ensure_webhook
from taller_mlflow.settings import Settings

# What a server needs to deliver to an http:// API on a private network (`make run`, the stack,
# the tests); the encryption key and the cache TTL are set next to it by whoever starts it.
SERVER_ENV = {
    "MLFLOW_WEBHOOK_ALLOWED_SCHEMES": "http,https",
    "MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS": "true",
}


def server_env(workdir: Path) -> dict[str, str]:
    """Environment for an MLflow server started here (`make run`): deliveries to the local API,
    secrets encrypted with a key kept in `workdir` so they stay readable across restarts."""
    key_file = workdir / "webhook_encryption.key"
    if not key_file.exists():
        key_file.write_text(Fernet.generate_key().decode())
        key_file.chmod(0o600)
    return {
        **SERVER_ENV,
        "MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY": key_file.read_text().strip(),
        "MLFLOW_WEBHOOK_CACHE_TTL": "5",
    }


def local_secret(workdir: Path, configured: str = "") -> str:
    """TALLER_WEBHOOK_SECRET when set, else one generated once into `workdir`."""
    if configured:
        return configured
    path = workdir / "webhook_secret"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def register_local(tracking_uri: str, api_url: str, workdir: Path, say=print) -> str:
    """`make run`: register the local API's receiver right after MLflow is up (before training
    sets an alias), and return the secret the API must be started with."""
    secret = local_secret(workdir, Settings().webhook_secret)
    url = f"{api_url}/webhooks/mlflow"
    try:
        outcome = ensure_webhook(tracking_uri, url, secret)
    except (ModelNotFound, RegistryUnavailable) as exc:
        say(f"webhook not registered ({exc}); aliases are picked up by polling")
        return secret
    say(f"webhook {outcome}: MLflow posts alias moves to {url}")
    return secret
