#!/usr/bin/env bash
# Start the MLflow tracking server on port 5000, configured from the environment.
# Used by mlflow_serv.service (host mode), the mlflow container, `make run` and the tests.
# Closed by default: basic auth on, and a server without auth refuses to listen beyond loopback.
#
#   MLFLOW_BACKEND_STORE_URI      postgresql+psycopg2://user:pass@host:5432/db | sqlite:///path.db
#   MLFLOW_ARTIFACTS_DESTINATION  s3://mlflows3 (default) | a local folder; proxied to clients
#   MLFLOW_S3_ENDPOINT_URL        http://minio:9000 for MinIO (with AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY:
#                                 the bucket-scoped user minio/create_user.sh makes, not MinIO's root)
#   MLFLOW_ALLOWED_HOSTS          Host headers to accept, e.g. localhost,127.0.0.1,mlflow,mlflow:5000
#   MLFLOW_HOST / MLFLOW_PORT     bind address (127.0.0.1; the image sets 0.0.0.0) and port (5000)
#   MLFLOW_PUBLISHED_HOST         where the port is really reachable from, when that is not
#                                 MLFLOW_HOST (compose passes the address it publishes the port on)
#   MLFLOW_WORKERS                server workers (2)
#   MLFLOW_AUTH                   true (default) → --app-name basic-auth: every request but /health
#                                 needs a user. false is refused unless the server is reachable from
#                                 this machine only (MLFLOW_PUBLISHED_HOST, else MLFLOW_HOST, loopback)
#   MLFLOW_AUTH_ADMIN_USERNAME    the admin MLflow creates in an empty user store (admin); MLflow reads
#   MLFLOW_AUTH_ADMIN_PASSWORD      these two itself, so no password is ever written to a file;
#                                 required with auth, and never a CHANGE-ME placeholder
#   MLFLOW_AUTH_DEFAULT_PERMISSION  what a signed-in user may do where no grant says otherwise: READ
#                                 (writes need a grant: mlflow/init_users.py gives each role its own).
#                                 Not NO_PERMISSIONS: MLflow authorizes listing the artifact store's
#                                 root, the API's readiness probe, by this setting alone
#   MLFLOW_AUTH_DATABASE_URI      where the users live (sqlite:///basic_auth.db in the working directory)
#   MLFLOW_AUTH_CONFIG_PATH       a full basic_auth.ini of your own instead (then the three above are unused)
#   MLFLOW_FLASK_SERVER_SECRET_KEY  the auth app's CSRF key (a random one per start when unset)
#   MLFLOW_BIN                    the mlflow executable (default: `mlflow` on PATH)
#   MLFLOW_SERVER_ENABLE_JOB_EXECUTION  false (default here): no huey job workers, which only the
#                                 GenAI features use; saves three processes per server
#   MLFLOW_PROMETHEUS_DIR         set → --expose-prometheus: request counts and latencies on /metrics
#                                 (needs prometheus-flask-exporter); the folder holds the workers'
#                                 shared counters and is emptied at each start. Under MLFLOW_AUTH,
#                                 /metrics answers admins only (MLflow's auth app fails closed).
#   MLFLOW_METRICS_PORT           set (with MLFLOW_PROMETHEUS_DIR) → the same counters, and nothing
#                                 else, on this port without a login (mlflow/metrics_exporter.py), for
#                                 a Prometheus inside the private network; never publish it
#   MLFLOW_DB_UPGRADE             true (default) → before serving, `mlflow db upgrade` on a SQL backend
#                                 store, under a lock (PostgreSQL advisory lock, MySQL GET_LOCK, flock
#                                 beside a SQLite file) so servers starting together do not both
#                                 migrate (mlflow/db_upgrade.py); false: the server's own start only
#   MLFLOW_PYTHON                 the Python that has MLflow, for the helpers (default: beside MLFLOW_BIN)
#   MLFLOW_WEBHOOK_KEY_FILE       where to keep the Fernet key MLflow encrypts webhook secrets with,
#                                 created on the first start, when MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY
#                                 is unset. Without either, each worker makes its own key and no
#                                 webhook can be delivered (taller_mlflow/serving/webhooks.py).
set -euo pipefail

: "${MLFLOW_BACKEND_STORE_URI:?set MLFLOW_BACKEND_STORE_URI (e.g. postgresql+psycopg2://user:pass@host:5432/mlflow)}"
MLFLOW_ARTIFACTS_DESTINATION="${MLFLOW_ARTIFACTS_DESTINATION:-s3://mlflows3}"
MLFLOW_HOST="${MLFLOW_HOST:-127.0.0.1}"
MLFLOW_PORT="${MLFLOW_PORT:-5000}"
MLFLOW_WORKERS="${MLFLOW_WORKERS:-2}"
MLFLOW_ALLOWED_HOSTS="${MLFLOW_ALLOWED_HOSTS:-localhost,localhost:*,127.0.0.1,127.0.0.1:*,mlflow,mlflow:*,10.*,192.168.*}"
MLFLOW_BIN="${MLFLOW_BIN:-mlflow}"
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"
export MLFLOW_S3_ENDPOINT_URL="${MLFLOW_S3_ENDPOINT_URL:-}"
[ -n "$MLFLOW_S3_ENDPOINT_URL" ] || unset MLFLOW_S3_ENDPOINT_URL
if [ -z "${MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY:-}" ] && [ -n "${MLFLOW_WEBHOOK_KEY_FILE:-}" ]; then
  if [ ! -s "$MLFLOW_WEBHOOK_KEY_FILE" ]; then
    # A Fernet key: 32 random bytes, URL-safe base64. Kept, so stored secrets stay readable.
    (umask 077 && head -c 32 /dev/urandom | base64 | tr '+/' '-_' >"$MLFLOW_WEBHOOK_KEY_FILE")
  fi
  MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY="$(cat "$MLFLOW_WEBHOOK_KEY_FILE")"
  export MLFLOW_WEBHOOK_SECRET_ENCRYPTION_KEY
fi

# Refuse before anything starts: `mlflow server` would only say so in a traceback, or not at all.
fail() {
  echo "start_mlflow.sh: $*" >&2
  exit 2
}
is_loopback() {
  case "$1" in
    127.* | localhost | ::1 | "[::1]") return 0 ;;
    *) return 1 ;;
  esac
}
case "${MLFLOW_AUTH:-true}" in
  1 | true | yes) MLFLOW_AUTH=true ;;
  0 | false | no) MLFLOW_AUTH=false ;;
  *) fail "MLFLOW_AUTH=${MLFLOW_AUTH} is neither true nor false" ;;
esac
reachable_from="${MLFLOW_PUBLISHED_HOST:-$MLFLOW_HOST}"
if [ "$MLFLOW_AUTH" = false ] && ! is_loopback "$reachable_from"; then
  fail "MLFLOW_AUTH=false but MLflow would be reachable on ${reachable_from}: anyone there could register, move an alias, delete runs; set MLFLOW_AUTH=true (or bind 127.0.0.1)"
fi
if [ "$MLFLOW_AUTH" = true ] && [ -z "${MLFLOW_AUTH_CONFIG_PATH:-}" ]; then
  case "${MLFLOW_AUTH_ADMIN_PASSWORD:-}" in
    "") fail "MLFLOW_AUTH=true needs MLFLOW_AUTH_ADMIN_PASSWORD (make up generates it into .env)" ;;
    CHANGE-ME*) fail "MLFLOW_AUTH_ADMIN_PASSWORD is the placeholder from .env.example: run \`make secrets\` or set a password of your own" ;;
  esac
fi

here="$(dirname "${BASH_SOURCE[0]}")"
mlflow_python="${MLFLOW_PYTHON:-$(dirname "$(command -v "$MLFLOW_BIN" || echo "$MLFLOW_BIN")")/python}"
[ -x "$mlflow_python" ] || mlflow_python=python3
case "${MLFLOW_DB_UPGRADE:-true}" in
  1 | true | yes)
    # Before serving: a server refuses a schema older than its MLflow, and the next pin bump
    # must not leave it so. Under a lock, so two servers starting together migrate once.
    "$mlflow_python" "$here/db_upgrade.py" || fail "mlflow db upgrade failed (above); not starting"
    ;;
  0 | false | no) ;;
  *) fail "MLFLOW_DB_UPGRADE=${MLFLOW_DB_UPGRADE} is neither true nor false" ;;
esac

args=(server
  --backend-store-uri "$MLFLOW_BACKEND_STORE_URI"
  --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION"
  --serve-artifacts
  --host "$MLFLOW_HOST"
  --port "$MLFLOW_PORT"
  --workers "$MLFLOW_WORKERS"
  --allowed-hosts "$MLFLOW_ALLOWED_HOSTS")
if [ -n "${MLFLOW_PROMETHEUS_DIR:-}" ]; then
  mkdir -p "$MLFLOW_PROMETHEUS_DIR"
  # A previous start's counter files would be added to this one's (prometheus_client multiprocess).
  find "$MLFLOW_PROMETHEUS_DIR" -maxdepth 1 -name '*.db' -type f -delete
  args+=(--expose-prometheus "$MLFLOW_PROMETHEUS_DIR")
  if [ -n "${MLFLOW_METRICS_PORT:-}" ]; then
    # The counters without the auth app's login, on a port of their own (never published). A
    # child of this shell, so of the server it becomes: it stops with the container or the unit.
    "$mlflow_python" "$here/metrics_exporter.py" &
  fi
fi
if [ "$MLFLOW_AUTH" = true ]; then
  args+=(--app-name basic-auth)
  auth_note=", basic auth"
  if [ -z "${MLFLOW_FLASK_SERVER_SECRET_KEY:-}" ]; then
    # One key for all workers of this start; set it to keep UI sessions valid across restarts.
    MLFLOW_FLASK_SERVER_SECRET_KEY="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
    export MLFLOW_FLASK_SERVER_SECRET_KEY
  fi
  if [ -z "${MLFLOW_AUTH_CONFIG_PATH:-}" ]; then
    # The auth app's settings from the environment; the admin password stays in the environment.
    auth_ini="$(mktemp "${TMPDIR:-/tmp}/mlflow_basic_auth.XXXXXX")"
    cat >"$auth_ini" <<EOF
[mlflow]
default_permission = ${MLFLOW_AUTH_DEFAULT_PERMISSION:-READ}
database_uri = ${MLFLOW_AUTH_DATABASE_URI:-sqlite:///basic_auth.db}
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME:-admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
EOF
    export MLFLOW_AUTH_CONFIG_PATH="$auth_ini"
  fi
fi

echo "mlflow: backend ${MLFLOW_BACKEND_STORE_URI%%://*}://…, artifacts ${MLFLOW_ARTIFACTS_DESTINATION}, port ${MLFLOW_PORT}${auth_note:-}" >&2
exec "$MLFLOW_BIN" "${args[@]}"
