#!/usr/bin/env python3
"""Create the stack's MLflow users and set exactly their permissions; safe to run again.

Run as MLflow's admin once the server (start_mlflow.sh with MLFLOW_AUTH=true) answers: the
compose service `mlflow-init`, the Swarm service of the same name, the systemd unit's
ExecStartPost and the Kubernetes Job `mlflow-users`. Standard library only, so it runs in the
MLflow image, the host's venv or any Python 3.11.

    MLFLOW_INIT_URI                  the server (default http://127.0.0.1:$MLFLOW_PORT, port 5000)
    MLFLOW_AUTH_ADMIN_USERNAME/_PASSWORD   the admin the server created (start_mlflow.sh)
    MLFLOW_<ROLE>_USERNAME/_PASSWORD  one user per role below (usernames default to the role);
                                     a role whose password is unset is left out, with a line
    EXPERIMENT_NAME, MODEL_NAME      mlflow_penguins_vf, modelo_penguins
    TALLER_WEBHOOK_SECRET, TALLER_WEBHOOK_URL   both set: the API's registry webhook, which only
                                     an admin may create, is registered here (idempotently)
    MLFLOW_INIT_WAIT_SECONDS         how long to wait for the server (300)

The server runs with default_permission READ (start_mlflow.sh): any user may read, and may write
only what its grants below say. The admin creates the experiments and the registered model first,
so no user owns (MANAGE) them; the grants repeat READ where a role needs it, so they still hold
under default_permission NO_PERMISSIONS:

    trainer   EDIT on EXPERIMENT_NAME (runs, metrics, artifacts, logged models), READ on
              MODEL_NAME. It trains and logs models; it cannot register a version, because MLflow
              asks the same EDIT on a registered model to create a version and to move an alias.
    promoter  EDIT on MODEL_NAME (register versions, tag them, move @production) and on
              EXPERIMENT_NAME (the promotion gate logs each version's serving artifact in its run).
              The only non-admin that can move an alias of MODEL_NAME.
    reader    READ on MODEL_NAME and EXPERIMENT_NAME: the API (aliases, versions, their artifacts).
    monitor   READ on MODEL_NAME and EXPERIMENT_NAME, EDIT on monitoring_<MODEL_NAME> (the drift
              job's check runs) and on registered-model versions (their drift.* tags), which
              MLflow checks apart from the registered model: no alias move.

Every other grant a role's user holds on its own (synthetic) role is revoked, and each user's
password is set to the configured one, so the environment (.env, the Secret) stays the truth.
Nothing secret is printed. Exit 0 when done, 1 when the server refuses, 2 on a bad setting.
"""

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

ROLES = ("trainer", "promoter", "reader", "monitor")
PLACEHOLDER = "CHANGE-ME"
WEBHOOK_NAME = "taller-api-alias-moves"  # taller_mlflow/serving/webhooks.py's NAME
WEBHOOK_EVENTS = [
    {"entity": "MODEL_VERSION_ALIAS", "action": "CREATED"},
    {"entity": "MODEL_VERSION_ALIAS", "action": "DELETED"},
]


class Refused(Exception):
    """The server answered with an error: (status, MLflow error code, message)."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status, self.code = status, code


def say(line: str) -> None:
    print(f"mlflow-init: {line}", flush=True)


class Server:
    def __init__(self, uri: str, username: str, password: str):
        self.uri = uri.rstrip("/")
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        self.auth = f"Basic {token}"
        # Straight to the server: a proxy from the environment has no business here.
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(self, method: str, path: str, body: dict | None = None, **params) -> dict:
        url = self.uri + path + (f"?{urllib.parse.urlencode(params)}" if params else "")
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Authorization", self.auth)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with self.opener.open(request, timeout=30) as response:
                text = response.read().decode() or "{}"
        except urllib.error.HTTPError as exc:
            text = exc.read().decode(errors="replace")
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = {"message": text.strip()[:200]}
            raise Refused(
                exc.code, parsed.get("error_code", ""), parsed.get("message", "")
            ) from None
        return json.loads(text)

    def healthy(self) -> bool:
        try:
            with self.opener.open(self.uri + "/health", timeout=5) as response:
                return response.status == 200
        except OSError:
            return False


def server_gone(env) -> bool:
    """Under systemd's ExecStartPost, MAINPID is the server: when it has exited, stop waiting."""
    pid = env.get("MAINPID", "")
    return pid.isdigit() and not os.path.exists(f"/proc/{pid}")


def wait_for(server: Server, seconds: float, env=os.environ) -> None:
    deadline = time.monotonic() + seconds
    while not server.healthy():
        if server_gone(env):
            raise SystemExit(f"mlflow-init: error: the server (pid {env['MAINPID']}) exited")
        if time.monotonic() > deadline:
            raise SystemExit(
                f"mlflow-init: error: {server.uri}/health did not answer in {seconds:.0f} s"
            )
        time.sleep(2)


# --- users ----------------------------------------------------------------------------------------


def configured_users(env) -> dict[str, tuple[str, str]]:
    """role -> (username, password) for every role with a password; refuses placeholders."""
    users = {}
    for role in ROLES:
        prefix = f"MLFLOW_{role.upper()}"
        password = env.get(f"{prefix}_PASSWORD", "")
        if not password:
            say(f"{prefix}_PASSWORD is not set: no {role} user")
            continue
        if password.startswith(PLACEHOLDER):
            raise SystemExit(
                f"mlflow-init: error: {prefix}_PASSWORD is the placeholder from .env.example: "
                "run `make secrets` (or set a password of your own) and start again"
            )
        users[role] = (env.get(f"{prefix}_USERNAME") or role, password)
    return users


def ensure_user(server: Server, username: str, password: str) -> str:
    try:
        server.call(
            "POST", "/api/2.0/mlflow/users/create", {"username": username, "password": password}
        )
        return "created"
    except Refused as exc:
        if exc.code != "RESOURCE_ALREADY_EXISTS":
            raise
    user = server.call("GET", "/api/2.0/mlflow/users/get", username=username)["user"]
    if user.get("is_admin"):
        raise SystemExit(f"mlflow-init: error: {username} is an admin: give this role another user")
    body = {"username": username, "password": password}
    server.call("PATCH", "/api/2.0/mlflow/users/update-password", body)
    return "exists, password set"


# --- what the roles are granted on ------------------------------------------------------------------


def experiment_id(server: Server, name: str) -> str:
    try:
        found = server.call("GET", "/api/2.0/mlflow/experiments/get-by-name", experiment_name=name)
        return found["experiment"]["experiment_id"]
    except Refused as exc:
        if exc.code != "RESOURCE_DOES_NOT_EXIST":
            raise
    try:
        return server.call("POST", "/api/2.0/mlflow/experiments/create", {"name": name})[
            "experiment_id"
        ]
    except Refused as exc:  # another init created it meanwhile (two Kubernetes replicas)
        if exc.code != "RESOURCE_ALREADY_EXISTS":
            raise
        return experiment_id(server, name)


def ensure_registered_model(server: Server, name: str) -> None:
    try:
        server.call("GET", "/api/2.0/mlflow/registered-models/get", name=name)
        return
    except Refused as exc:
        if exc.code != "RESOURCE_DOES_NOT_EXIST":
            raise
    try:
        description = "served by the API; versions registered and promoted by the promoter"
        server.call(
            "POST",
            "/api/2.0/mlflow/registered-models/create",
            {"name": name, "description": description},
        )
    except Refused as exc:
        if exc.code != "RESOURCE_ALREADY_EXISTS":
            raise


def role_grants(
    training: str, monitoring: str, model: str
) -> dict[str, dict[tuple[str, str], str]]:
    """role -> {(resource_type, resource id or "*"): permission}."""
    return {
        "trainer": {("experiment", training): "EDIT", ("registered_model", model): "READ"},
        "promoter": {("experiment", training): "EDIT", ("registered_model", model): "EDIT"},
        "reader": {("experiment", training): "READ", ("registered_model", model): "READ"},
        "monitor": {
            ("experiment", training): "READ",
            ("experiment", monitoring): "EDIT",
            ("registered_model", model): "READ",
            ("registered_model_version", "*"): "EDIT",
        },
    }


def own_grants(server: Server, username: str) -> dict[tuple[str, str], str]:
    """The grants on the user's own synthetic role (what grant/revoke write)."""
    rows = server.call("GET", "/api/3.0/mlflow/users/permissions/list", username=username)
    return {
        (row["resource_type"], row["resource_pattern"]): row["permission"]
        for row in rows.get("permissions", [])
        if str(row.get("role_name", "")).startswith("__user_")
    }


def set_grants(server: Server, username: str, wanted: dict[tuple[str, str], str]) -> list[str]:
    """Make the user's own grants exactly `wanted`; returns what changed."""
    changes = []
    have = own_grants(server, username)
    for (kind, resource), permission in have.items():
        if wanted.get((kind, resource)) != permission:
            body = {"username": username, "resource_type": kind, "resource_id": resource}
            server.call("POST", "/api/3.0/mlflow/users/permissions/revoke", body)
            changes.append(f"revoked {permission} on {kind} {resource}")
    for (kind, resource), permission in wanted.items():
        if have.get((kind, resource)) != permission:
            body = {
                "username": username,
                "resource_type": kind,
                "resource_id": resource,
                "permission": permission,
            }
            server.call("POST", "/api/3.0/mlflow/users/permissions/grant", body)
            changes.append(f"granted {permission} on {kind} {resource}")
    return changes


# --- the API's registry webhook (only an admin may create one) ------------------------------------


def ensure_webhook(server: Server, url: str, secret: str) -> str:
    ours = [
        w
        for w in server.call("GET", "/api/2.0/mlflow/webhooks", max_results=100).get("webhooks", [])
        if w.get("name") == WEBHOOK_NAME
    ]
    body = {"url": url, "events": WEBHOOK_EVENTS, "secret": secret, "status": "ACTIVE"}
    if not ours:
        server.call("POST", "/api/2.0/mlflow/webhooks", {"name": WEBHOOK_NAME, **body})
        return "created"
    keep, *extra = sorted(
        ours, key=lambda w: (int(w.get("creation_timestamp", 0)), w["webhook_id"])
    )
    for webhook in extra:
        server.call("DELETE", f"/api/2.0/mlflow/webhooks/{webhook['webhook_id']}")
    # MLflow never returns a secret, so it is always written.
    server.call("PATCH", f"/api/2.0/mlflow/webhooks/{keep['webhook_id']}", body)
    return "updated"


def main(env=os.environ) -> int:
    uri = env.get("MLFLOW_INIT_URI") or f"http://127.0.0.1:{env.get('MLFLOW_PORT', '5000')}"
    if env.get("MLFLOW_AUTH", "true").lower() in ("0", "false", "no"):
        say(
            "MLFLOW_AUTH is off: the server has no users to make (start_mlflow.sh allows that on loopback only)"
        )
        return 0
    admin = env.get("MLFLOW_AUTH_ADMIN_USERNAME") or "admin"
    admin_password = env.get("MLFLOW_AUTH_ADMIN_PASSWORD", "")
    if not admin_password or admin_password.startswith(PLACEHOLDER):
        say("error: set MLFLOW_AUTH_ADMIN_PASSWORD (make up generates it into .env)")
        return 2
    users = configured_users(env)
    training = env.get("EXPERIMENT_NAME") or "mlflow_penguins_vf"
    model = env.get("MODEL_NAME") or "modelo_penguins"
    monitoring = env.get("MONITOR_EXPERIMENT_NAME") or f"monitoring_{model}"
    server = Server(uri, admin, admin_password)
    wait_for(server, float(env.get("MLFLOW_INIT_WAIT_SECONDS") or 300), env)
    try:
        me = server.call("GET", "/api/2.0/mlflow/users/current")
    except Refused as exc:
        say(
            f"error: {uri} refused the admin {admin} ({exc}): MLflow keeps the password it was "
            "first started with; change it there (users/update-password) or reset the user store"
        )
        return 1
    if not me.get("user", {}).get("is_admin"):
        say(f"error: {admin} is not an admin on {uri}")
        return 1
    try:
        ids = {name: experiment_id(server, name) for name in (training, monitoring)}
        ensure_registered_model(server, model)
        grants = role_grants(ids[training], ids[monitoring], model)
        for role, (username, password) in users.items():
            outcome = ensure_user(server, username, password)
            changes = set_grants(server, username, grants[role])
            say(f"{role} {username}: {outcome}; " + ("; ".join(changes) or "grants unchanged"))
    except Refused as exc:
        say(f"error: {uri}: {exc}")
        return 1
    url, secret = env.get("TALLER_WEBHOOK_URL", ""), env.get("TALLER_WEBHOOK_SECRET", "")
    if url and secret:
        try:
            say(
                f"webhook {WEBHOOK_NAME} {ensure_webhook(server, url, secret)}: alias moves -> {url}"
            )
        except Refused as exc:  # the API still swaps at its next poll
            say(f"webhook not registered (polling still swaps): {exc}")
    say(
        f"done: experiment {training} ({ids[training]}), {monitoring} ({ids[monitoring]}), model {model}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
