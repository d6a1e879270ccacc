#!/bin/bash
# MLflow's basic-auth user store (MLFLOW_AUTH_DATABASE_URI in secrets.env): a database of its own,
# mlflow_auth, owned by MLflow's user, which both MLflow replicas share (the Job
# mlflow-db-upgrade migrates it). The postgres image runs this once, when it initialises an empty
# data volume (mounted at /docker-entrypoint-initdb.d, after 01-monitoring.sh). On a volume made
# before, run it by hand: kubectl -n taller-mlflow exec postgres-0 -- bash /docker-entrypoint-initdb.d/02-mlflow-auth.sh
set -euo pipefail

psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" <<'SQL'
SELECT format('CREATE DATABASE mlflow_auth OWNER %I', current_user)
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'mlflow_auth')\gexec
SQL
