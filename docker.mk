# Docker Compose targets; the main Makefile does `include docker.mk`. Alone: make -f docker.mk up
# Settings come from .env (created from .env.example on first `make up`); see docs/docker.md.

COMPOSE ?= docker compose
NOTEBOOK ?= JupyterLab/mlflow_pipeline.ipynb
NOTEBOOK_OUT ?= JupyterLab/output.ipynb
# More papermill arguments, e.g. NOTEBOOK_ARGS="-p quick True" for the 2-combination grid.
NOTEBOOK_ARGS ?=
PYTHON ?= $(if $(wildcard .venv/bin/python),.venv/bin/python,python3)
# JupyterLab writes to the mounted checkout as the checkout's owner, so a student can save the
# notebook whoever owns it (root included); set them in the environment to choose another user.
JUPYTER_UID ?= $(shell stat -c %u $(or $(JUPYTER_WORKDIR),.))
JUPYTER_GID ?= $(shell stat -c %g $(or $(JUPYTER_WORKDIR),.))
export JUPYTER_UID JUPYTER_GID

.PHONY: up down notebook logs stack-test

.env:
	cp .env.example .env
	@echo "created .env from .env.example: change its passwords before sharing this machine" >&2

up: .env ## check the host ports, build and start the whole stack, wait until healthy, print the URLs
	@$(PYTHON) taller_mlflow/local/preflight.py $(COMPOSE)
	$(COMPOSE) up -d --build --wait
	@echo
	@echo "MLflow UI   http://$$($(COMPOSE) port mlflow 5000 | sed 's/^0\.0\.0\.0/localhost/')"
	@echo "API         http://$$($(COMPOSE) port api 8989 | sed 's/^0\.0\.0\.0/localhost/')/docs"
	@echo "JupyterLab  http://$$($(COMPOSE) port jupyter 8888 | sed 's/^0\.0\.0\.0/localhost/')/lab  (token: JUPYTER_TOKEN in .env)"
	@echo "MinIO       http://$$($(COMPOSE) port minio 9000) (S3 API), console http://$$($(COMPOSE) port minio 9001) (bucket mlflows3)"
	@echo "MySQL       $$($(COMPOSE) port mysql 3306)  PostgreSQL $$($(COMPOSE) port postgres 5432)"
	@echo "Prometheus  http://$$($(COMPOSE) port prometheus 9090) (alerts: prometheus/alerts.yml)"

down: ## stop and remove the stack's containers (volumes, so data, are kept; add -v by hand to drop them)
	$(COMPOSE) down

notebook: ## run $(NOTEBOOK) headless with papermill inside the jupyter container; output in $(NOTEBOOK_OUT)
	$(COMPOSE) up -d --wait jupyter
	$(COMPOSE) exec -T jupyter sh -c 'nb="$$1"; shift; papermill --cwd "$$(dirname "$$nb")" "$$nb" /tmp/notebook-output.ipynb -p tracking_uri "$$MLFLOW_TRACKING_URI" -p data_url "$$DATA_URL" "$$@"' sh $(NOTEBOOK) $(NOTEBOOK_ARGS)
	$(COMPOSE) cp jupyter:/tmp/notebook-output.ipynb $(NOTEBOOK_OUT)
	@echo "executed notebook: $(NOTEBOOK_OUT)"

logs: ## follow the logs of every service (last 100 lines each)
	$(COMPOSE) logs -f --tail=100

stack-test: ## boot the whole stack on spare ports, train, predict, down/up, check persistence (tests/stack/test_stack.py)
	scripts/stack_test.sh
