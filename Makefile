# taller_mlflow: `make run` runs the whole job on this machine (no Docker); `make test` tests it.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PYTHON_BIN ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt
PYTEST_ARGS ?=
# `make test` runs the test files on this many pytest-xdist workers (0: all in the pytest process;
# tests/conftest.py says how files are shared out).
# Most of the suite waits on servers and containers, so workers beyond the core count still help.
TEST_WORKERS ?= 3
# `make run JUPYTER=0` leaves JupyterLab off. --stop-with-parent: killing make, even with SIGKILL,
# stops the run and its servers (Linux's parent-death signal).
JUPYTER ?= 1
RUN_FLAGS = --stop-with-parent $(if $(filter 0 no false,$(JUPYTER)),--no-jupyter)

.PHONY: help install install-dev doctor doctor-run run run-quick monitor promote test test-fast test-static lint format bench bench-report load clean backup-run restore-run

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(VENV)/.run-installed: pyproject.toml constraints.txt
	@echo "==> creating $(VENV) and installing the package (pinned by constraints.txt)"
	test -x $(PY) || $(PYTHON_BIN) -m venv $(VENV)
	$(PIP) --upgrade pip
	$(PIP) -e ".[api,train,notebook]"
	touch $@

$(VENV)/.dev-installed: $(VENV)/.run-installed
	@echo "==> installing test tools"
	$(PIP) -e ".[dev]"
	touch $@

install: $(VENV)/.run-installed ## create .venv and install what `make run` needs (API, JupyterLab)

# `make doctor`: can this machine take the chosen path? FOR=run, up, unit (the systemd unit) or all;
# default run and up. One line per check; exit 1 on a problem; changes nothing. Stdlib only, so it
# runs before .venv exists. `make run` and `make up` run their part first (taller_mlflow/local/doctor/).
FOR ?= run up
DOCTOR = $(PYTHON_BIN) -m taller_mlflow.local.doctor --python "$(PYTHON_BIN)" $(RUN_FLAGS) $(RUN_ARGS)

doctor: ## check this machine for make run and make up (FOR=run|up|unit|all): Python, Docker, ports, disk, memory, systemd; changes nothing
	@$(DOCTOR) --for "$(FOR)" --docker "$(DOCKER)" --compose "$(COMPOSE)"

doctor-run: # make run's part of the doctor, before .venv is created or updated
	@$(DOCTOR) --for run --quiet

install-dev: $(VENV)/.dev-installed ## also install the test, notebook and lint tools

run: doctor-run install ## the whole job, no Docker: MLflow on :5000, training, API on :8989, JupyterLab on :8888 (Ctrl-C stops)
	$(PY) -m taller_mlflow.local $(RUN_FLAGS) $(RUN_ARGS)

run-quick: doctor-run install ## like run, with the 2-combination grid
	$(PY) -m taller_mlflow.local --quick $(RUN_FLAGS) $(RUN_ARGS)

# MariaDB and PostgreSQL: the host's when they answer on the test settings' ports, else started
# from the compose files for the run and removed afterwards (tests/support/host_services.py).
test: install-dev ## all tests: unit, static, real services (MariaDB, PostgreSQL, S3, MLflow, API), Docker stack
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m tests.support.host_services -- \
	  $(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

test-fast: install-dev ## tests/unit only: in-process, no service, no Docker
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-static: install-dev ## tests/static: compose config, hadolint, systemd-analyze, ruff, secrets
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(PY) -m pytest -m static tests/static $(PYTEST_ARGS)

lint: install-dev ## ruff lint and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-dev ## ruff format and autofix
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: install-dev ## benchmark: the API vs `mlflow models serve`, scikit-learn, GridSearchCV; log, shadow, swaps; writes bench/results/ and the docs
	@command -v wrk >/dev/null || { echo "make bench needs wrk: apt-get install wrk" >&2; exit 1; }
	$(PY) -m bench $(BENCH_ARGS)

bench-report: ## rewrite docs/benchmark.md and README's benchmark block from bench/results/*.json
	$(PY) -m bench.report_md

# Locust against a running API (`make run`'s by default): LOAD_URL, LOAD_SECONDS, LOAD_USERS.
LOAD_URL ?= http://127.0.0.1:8989
LOAD_SECONDS ?= 60
LOAD_USERS ?= 16
load: install-dev ## Locust, headless, against LOAD_URL for LOAD_SECONDS; report in bench/results/load.html
	$(VENV)/bin/locust -f bench/locustfile.py --headless --host $(LOAD_URL) \
	  --users $(LOAD_USERS) --spawn-rate $(LOAD_USERS) --run-time $(LOAD_SECONDS)s \
	  --html bench/results/load.html --only-summary

# The drift job, once, over the last 24 h: `make run`'s prediction log and MLflow by default;
# an exported PREDICTION_LOG_URL, and MLFLOW_TRACKING_URI (environment or .env), point it elsewhere.
monitor: install ## one drift check now: each version's logged predictions vs. its training data, written to MLflow
	PREDICTION_LOG_URL="$${PREDICTION_LOG_URL:-sqlite:///$(CURDIR)/.run/monitoring.db}" \
	  $(PY) -m taller_mlflow.monitor --once $(MONITOR_ARGS)

# The promotion gate by hand, against MLFLOW_TRACKING_URI (environment or .env; make run's MLflow
# by default): `make promote V=5`, `make promote V=5 FORCE=1`, `make promote ROLLBACK=1`, and
# `make promote EXPORT=3` to verify and log the serving artifact of a version registered before it.
promote: install ## move @production to version V through the promotion gate (FORCE=1 overrides it; ROLLBACK=1 undoes the last move; EXPORT=N verifies version N's ONNX graph for the API)
	PREDICTION_LOG_URL="$${PREDICTION_LOG_URL:-sqlite:///$(CURDIR)/.run/monitoring.db}" \
	  $(PY) -m taller_mlflow.promote $(if $(EXPORT),--export $(EXPORT),$(if $(filter 1 yes true,$(ROLLBACK)),--rollback,$(V)) \
	  $(if $(filter 1 yes true,$(FORCE)),--force)) $(PROMOTE_ARGS)

# make run's stores: .run/'s SQLite databases (SQLite's online backup, so a running `make run` is
# fine) and its artifact folder. restore-run wants an empty .run (stop make run, `make clean`).
RUN_DIR ?= .run
backup-run: install ## make run's MLflow database, prediction log and artifacts (RUN_DIR, .run) in one archive, FILE (default backups/run-<UTC time>.tar.gz)
	$(PY) -m taller_mlflow.backup backup --local "$(RUN_DIR)" \
	  "$(or $(FILE),backups/run-$(shell date -u +%Y%m%dT%H%M%SZ).tar.gz)"

restore-run: install ## restore archive FILE into an empty RUN_DIR (.run; FORCE=1 overwrites it), then check the manifest's counts
	@test -n "$(FILE)" || { echo "usage: make restore-run FILE=backups/<archive>.tar.gz [FORCE=1]" >&2; exit 2; }
	$(PY) -m taller_mlflow.backup restore --local "$(RUN_DIR)" "$(FILE)" $(if $(filter 1 yes true,$(FORCE)),--force)

clean: ## remove the embedded run's data (.run/)
	rm -rf .run

include docker.mk
