# Docker Compose targets; the main Makefile does `include docker.mk`. Alone: make -f docker.mk up
# Settings come from .env: `make up` creates it from .env.example with generated secrets (mode
# 0600, names printed, values never) and refuses one that still holds a CHANGE-ME placeholder;
# see docs/docker.md and docs/security.md.

COMPOSE ?= docker compose
DOCKER ?= docker
NOTEBOOK ?= JupyterLab/mlflow_pipeline.ipynb
NOTEBOOK_OUT ?= JupyterLab/output.ipynb
# More papermill arguments, e.g. NOTEBOOK_ARGS="-p quick True" for the 2-combination grid.
NOTEBOOK_ARGS ?=
# make promote-run RUN=<run id>: that training run (default: the newest).
RUN ?=
PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
# JupyterLab writes to the mounted notebook folder as its owner, so a student can save the
# notebook whoever owns it (root included); set them in the environment to choose another user.
JUPYTER_UID ?= $(shell stat -c %u $(or $(JUPYTER_WORKDIR),.)/JupyterLab 2>/dev/null || echo 1000)
JUPYTER_GID ?= $(shell stat -c %g $(or $(JUPYTER_WORKDIR),.)/JupyterLab 2>/dev/null || echo 1000)
export JUPYTER_UID JUPYTER_GID

.PHONY: up down notebook promote-run secrets logs stack-test backup restore

secrets: ## replace every CHANGE-ME placeholder in .env with a generated secret (creates .env if missing); prints names, never values
	@$(PYTHON) taller_mlflow/local/envfile.py --fill

up: ## make or check .env's secrets, check the host ports and who they reach, build and start the whole stack (Dask included), wait until healthy, print the URLs
	@$(PYTHON) taller_mlflow/local/envfile.py
	@$(PYTHON) -m taller_mlflow.local.doctor --for up --quiet --skip ports --docker "$(DOCKER)" --compose "$(COMPOSE)"
	@$(PYTHON) taller_mlflow/local/preflight.py $(COMPOSE)
	$(COMPOSE) up -d --build --wait
	@echo
	@echo "MLflow UI   http://$$($(COMPOSE) port mlflow 5000 | sed 's/^0\.0\.0\.0/localhost/')  (users admin, trainer, promoter, reader, monitor: passwords in .env)"
	@echo "API         http://$$($(COMPOSE) port api 8989 | sed 's/^0\.0\.0\.0/localhost/')/docs"
	@echo "JupyterLab  http://$$($(COMPOSE) port jupyter 8888 | sed 's/^0\.0\.0\.0/localhost/')/lab  (token: JUPYTER_TOKEN in .env)"
	@echo "MinIO       http://$$($(COMPOSE) port minio 9000) (S3 API), console http://$$($(COMPOSE) port minio 9001) (bucket mlflows3)"
	@echo "MySQL       $$($(COMPOSE) port mysql 3306)  PostgreSQL $$($(COMPOSE) port postgres 5432)"
	@echo "Prometheus  http://$$($(COMPOSE) port prometheus 9090) (alerts: prometheus/alerts.yml)"
	@echo "Dask        http://$$($(COMPOSE) port dask-scheduler 8787)/status (2 workers; the notebook's fits and batch scoring use tcp://dask-scheduler:8786)"

down: ## stop and remove the stack's containers (volumes, so data, are kept; add -v by hand to drop them)
	$(COMPOSE) down

notebook: ## run $(NOTEBOOK) headless in the jupyter container as the trainer, then register and promote its run as the promoter (promote-run); output in $(NOTEBOOK_OUT)
	$(COMPOSE) up -d --wait jupyter
	$(COMPOSE) exec -T jupyter sh -c 'nb="$$1"; shift; papermill --cwd "$$(dirname "$$nb")" "$$nb" /tmp/notebook-output.ipynb -p tracking_uri "$$MLFLOW_TRACKING_URI" -p data_url "$$DATA_URL" "$$@"' sh $(NOTEBOOK) $(NOTEBOOK_ARGS)
	$(COMPOSE) cp jupyter:/tmp/notebook-output.ipynb $(NOTEBOOK_OUT)
	@echo "executed notebook: $(NOTEBOOK_OUT)"
	$(COMPOSE) run --rm --no-deps promoter python -m taller_mlflow.local.promote_run

promote-run: ## as the promoter, in a container of the training image: register training run RUN (default: the newest) and send it through the promotion gate
	$(COMPOSE) run --rm --no-deps promoter python -m taller_mlflow.local.promote_run $(RUN)

# make backup [FILE=...] and make restore FILE=... [FORCE=1]: the stack's three stores in one
# archive (taller_mlflow/backup; docs/operations.md). The tool runs here, with .venv's Python;
# pg_dump, pg_restore and psql run inside the postgres container (its own version, its
# PGPASSWORD passed through the environment); MinIO is reached at its published S3 port as its
# root user. Credentials come from BACKUP_ENV (.env).
BACKUP_ENV ?= .env
BACKUP_DIR ?= backups
FILE ?=
FORCE ?=
BACKUP_TOOL = $(PYTHON) -m taller_mlflow.backup --stack-env "$(BACKUP_ENV)" \
  --pg-exec "$(COMPOSE) exec -T -e PGPASSWORD postgres"
BACKUP_VENV_CHECK = $(PYTHON) -c 'import boto3, taller_mlflow.backup' 2>/dev/null \
  || { echo "make backup and make restore need the package in $(PYTHON): make install first" >&2; exit 1; }
MINIO_S3 = $(BACKUP_VENV_CHECK); s3="$$($(COMPOSE) port minio 9000 | sed 's/^0\.0\.0\.0/127.0.0.1/')" && test -n "$$s3" \
  || { echo "the stack's MinIO does not answer: make up first" >&2; exit 1; }

backup: ## the stack's MLflow database, prediction log and bucket in one archive, FILE (default backups/stack-<UTC time>.tar.gz), with a manifest of counts and sha256s
	@$(MINIO_S3); $(BACKUP_TOOL) --s3-endpoint "http://$$s3" backup \
	  "$(or $(FILE),$(BACKUP_DIR)/stack-$(shell date -u +%Y%m%dT%H%M%SZ).tar.gz)"

# The writers (the API's log, the drift job's runs and version tags) pause while restore replaces
# and counts the stores; only those found running are started again. Then mlflow-init grants the
# users their permissions again, on the restored experiments' ids (MLflow's user store is not
# in the archive: it lives on the mlflow_auth volume, rebuilt from .env).
restore: ## restore archive FILE into the running stack, which must be empty (FORCE=1 overwrites it); checks the manifest's counts afterwards
	@test -n "$(FILE)" || { echo "usage: make restore FILE=backups/<archive>.tar.gz [FORCE=1]" >&2; exit 2; }
	@$(MINIO_S3); \
	writers="$$($(COMPOSE) ps --status running --services | grep -xE 'api|monitor' | tr '\n' ' ')"; \
	if [ -n "$$writers" ]; then $(COMPOSE) stop $$writers; fi; \
	$(BACKUP_TOOL) --s3-endpoint "http://$$s3" restore "$(FILE)" \
	  $(if $(filter 1 yes true,$(FORCE)),--force); rc=$$?; \
	if [ -n "$$writers" ]; then $(COMPOSE) start $$writers; fi; \
	if [ $$rc = 0 ]; then $(COMPOSE) run --rm --no-deps mlflow-init; else exit $$rc; fi

logs: ## follow the logs of every service (last 100 lines each)
	$(COMPOSE) logs -f --tail=100

stack-test: ## boot the whole stack on spare ports, train, predict, down/up, check persistence (tests/stack/test_stack.py)
	scripts/stack_test.sh
