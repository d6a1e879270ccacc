#!/bin/bash
# The prediction log's database: `monitoring`, owned by its own user, so the API's credentials
# reach neither MLflow's database nor anything else. The postgres image runs this once, when it
# initialises an empty data volume (mounted at /docker-entrypoint-initdb.d). On a volume made
# before this script existed, run it by hand:
#   docker compose exec postgres bash /docker-entrypoint-initdb.d/01-monitoring.sh
# The API creates and migrates the table itself (taller_mlflow/monitoring/schema.py).
set -euo pipefail

user="${MONITORING_DB_USER:-monitoring}"
password="${MONITORING_DB_PASSWORD:?set MONITORING_DB_PASSWORD (see .env.example)}"

# psql variables (:"user", :'password') quote the values: no SQL is built by string pasting.
psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    -v user="$user" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'user', :'password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'user')\gexec
SELECT format('CREATE DATABASE monitoring OWNER %I', :'user')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'monitoring')\gexec
SQL
