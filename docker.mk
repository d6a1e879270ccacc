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

.PHONY: up down notebook promote-run secrets logs stack-test

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

logs: ## follow the logs of every service (last 100 lines each)
	$(COMPOSE) logs -f --tail=100

stack-test: ## boot the whole stack on spare ports, train, predict, down/up, check persistence (tests/stack/test_stack.py)
	scripts/stack_test.sh
