# Switchboard: one Makefile for the whole workspace. `make help` lists the targets.
SHELL := /bin/bash
MAKEFLAGS += --no-print-directory
.DEFAULT_GOAL := help
UV := scripts/uv.sh
INFRA := scripts/infra/infra.sh
STEP := scripts/step.sh
PYTEST_ARGS ?=
# The control plane's bootstrap file `make up` applies (your own: make up BOOTSTRAP=path).
BOOTSTRAP ?= $(or $(SWITCHBOARD_BOOTSTRAP),scripts/local/bootstrap.yaml)

.PHONY: help install asyncapi up down infra-up infra-down infra-status services-up services-down monitoring-install \
        status test test-unit lint format migrate demo sim rules bench-ingress bench-history bench-dialer bench-dialer-soak bench-ai bench-control bench-ferretdb bench-system bench-voice vegeta wrk kustomize docs token images test-deploy chaos

help: ## List the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | \
	  awk 'BEGIN {FS = ":.*## "}; {printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2}'

install: ## Install uv (pinned) and every workspace member into .venv from uv.lock
	$(UV) sync --all-packages --frozen

up: ## Start everything: docker compose when an engine answers, else local servers + services (V=1: all output; BOOTSTRAP=file; MONITORING=1: + Prometheus, Alertmanager)
	@if docker info >/dev/null 2>&1 && [ -f compose/docker-compose.yml ]; then \
	  docker compose -f compose/docker-compose.yml up -d --wait; \
	else \
	  $(STEP) "install (uv sync)" $(UV) sync --all-packages --frozen && \
	  $(STEP) "start Kafka PostgreSQL Redis FerretDB" bash $(INFRA) start && \
	  $(STEP) "migrate control" scripts/services.sh run control migrate && \
	  $(STEP) "bootstrap $(notdir $(BOOTSTRAP))" scripts/local/bootstrap.sh $(BOOTSTRAP) && \
	  $(STEP) "migrate history" scripts/services.sh run history migrate && \
	  $(STEP) "migrate dialer" scripts/services.sh run dialer migrate && \
	  $(STEP) "start services" scripts/services.sh start && \
	  if [ "$(MONITORING)" = 1 ]; then \
	    $(STEP) "start Alertmanager Prometheus" bash $(INFRA) start alertmanager prometheus; \
	  fi && \
	  scripts/services.sh urls && \
	  if [ "$(MONITORING)" = 1 ]; then bash $(INFRA) status alertmanager prometheus; fi; \
	fi

down: ## Stop what `make up` started (services, then local servers)
	@if docker info >/dev/null 2>&1 && [ -f compose/docker-compose.yml ]; then \
	  docker compose -f compose/docker-compose.yml down; \
	fi
	@scripts/services.sh stop
	@bash $(INFRA) stop

status: ## Show which local servers and services are running
	-@bash $(INFRA) status
	-@scripts/services.sh status

infra-up: ## Install (first time) and start Kafka, PostgreSQL, Redis, FerretDB locally
	bash $(INFRA) start

infra-down: ## Stop the local servers
	bash $(INFRA) stop

infra-status: ## Is each local server running?
	bash $(INFRA) status

migrate: ## Apply database migrations of every service
	scripts/services.sh run control migrate
	scripts/services.sh run history migrate
	scripts/services.sh run dialer migrate

services-up: ## Start the services in the background (logs in .local/log)
	scripts/services.sh start
	@scripts/services.sh urls

services-down: ## Stop the services
	scripts/services.sh stop

monitoring-install: ## Install Prometheus + promtool and Alertmanager + amtool (Debian packages) if missing
	bash $(INFRA) install alertmanager prometheus

test: install infra-up monitoring-install ## Run every test (unit, component, integration on the real servers, e2e)
	.venv/bin/python -m pytest $(PYTEST_ARGS)

test-unit: install ## Only the tests that need no server
	.venv/bin/python -m pytest -m "not integration" $(PYTEST_ARGS)

lint: install ## ruff (lint + format check) and mypy --strict
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy libs/common/src services/*/src tools/*/src

format: install ## Apply ruff's fixes and formatting
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .

demo: up ## Offline demo: calls and WhatsApp → ingress → Kafka → history, then a dialer campaign; live progress + summary
	@set -a; source scripts/local/common.env; set +a; \
	  SWITCHBOARD_DEMO_OPERATOR_KEY=$$(cat $${SWITCHBOARD_LOCAL_DIR:-.local}/control/operator.key) \
	  .venv/bin/switchboard-provider-sim demo --sim-url http://127.0.0.1:$${SWITCHBOARD_SIM_PORT:-8010} \
	  --control-url http://127.0.0.1:$${SWITCHBOARD_CONTROL_PORT:-8007} \
	  --ingress-url http://127.0.0.1:$${SWITCHBOARD_INGRESS_PORT:-8000} \
	  --ai-url http://127.0.0.1:$${SWITCHBOARD_AI_API_PORT:-8006} \
	  --dialer-url http://127.0.0.1:$${SWITCHBOARD_DIALER_API_PORT:-8002} $(DEMO_ARGS)

sim: install ## Run the provider simulator on :8010 (SWITCHBOARD_SIM__PORT)
	.venv/bin/switchboard-provider-sim serve

vegeta: ## Install the vegeta load generator (Go module) into .local/bin
	@test -x .local/bin/vegeta || GOBIN=$(CURDIR)/.local/bin go install github.com/tsenart/vegeta/v12@v12.13.0

kustomize: ## Install kustomize (Go module) into .local/bin; tests/deploy renders k8s/ with it
	@test -x .local/bin/kustomize || GOBIN=$(CURDIR)/.local/bin go install sigs.k8s.io/kustomize/kustomize/v5@v5.7.1

wrk: ## Install the wrk load generator (Debian package, apt-get as root) for bench-ingress
	@command -v wrk >/dev/null || bash scripts/infra/wrk.sh

bench-ingress: install infra-up vegeta wrk ## Every ingress route's webhooks/s vs a bare Litestar endpoint, with vegeta and with wrk (BENCH_SECONDS, BENCH_ROUNDS, BENCH_ROUTES) → docs/benchmarks.md
	.venv/bin/python services/ingress/bench/ingress_bench.py

rules: install ## Regenerate k8s/base/prometheusrule.yaml from deploy/monitoring/rules.yml (the one rules file)
	.venv/bin/python scripts/monitoring/prometheusrule.py

docs: install ## Regenerate the event JSON Schemas in docs/events/ from the models
	.venv/bin/python -m switchboard.common.events.schemas docs/events

asyncapi: up ## Write docs/asyncapi/<service>.yaml from what the running services serve at /asyncapi.yaml
	.venv/bin/python scripts/asyncapi.py write docs/asyncapi

BENCH_TABLE := .venv/bin/python -m switchboard.bench.report $(CURDIR)

bench-history: install infra-up ## History: events stored/s vs raw COPY; GET /v1/calls p95 over millions of rows
	.venv/bin/python services/history/bench/history_bench.py
	$(BENCH_TABLE)

token: ## Print a bearer token from the running control plane for one API: TOKEN=$$(make token AUDIENCE=history) (dialer, ai, control; TENANT=local)
	@python3 scripts/local/token.py --tenant "$(or $(TENANT),local)" --audience "$(or $(AUDIENCE),history)"

bench-dialer: install infra-up ## Dialer: 300k upload vs raw COPY, achieved vs configured calls/s, peak in-flight vs cap
	.venv/bin/python services/dialer/bench/dialer_bench.py
	$(BENCH_TABLE)

bench-dialer-soak: install infra-up ## Dialer: a whole campaign against the simulator (SOAK_ARGS="--contacts 300000 --cps 200")
	.venv/bin/python services/dialer/bench/dialer_soak.py $(SOAK_ARGS)
	$(BENCH_TABLE)

bench-ai: install infra-up ## AI worker: unowned-channel msg/s vs bare consume, replies/s vs stateless calls (simulator at 0 ms)
	.venv/bin/python services/ai/bench/ai_bench.py $(AI_BENCH_ARGS)
	$(BENCH_TABLE)

bench-control: install infra-up vegeta ## Ingress webhooks/s with 1,000 tenants vs 1, and a rotated secret's time to be in force → bench/results/control.json
	.venv/bin/python services/control/bench/control_bench.py $(CONTROL_BENCH_ARGS)

bench-ferretdb: install infra-up ## AI worker on FerretDB's SQLite vs PostgreSQL backend (the default's evidence) → bench/results/ferretdb.json
	.venv/bin/python services/ai/bench/ferretdb_backends.py $(FERRETDB_BENCH_ARGS)

bench-system: install ## The whole stack, no fault, at SYSTEM_ARGS="--rate 2000 --duration 300" → bench/results/system.json
	.venv/bin/switchboard-chaos system $(SYSTEM_ARGS)

bench-voice: install infra-up vegeta ## Live Vapi answers at 50 concurrent calls: assistant-request / tool-calls p99 via ingress + AI voice API vs a bare endpoint (VOICE_BENCH_ARGS)
	.venv/bin/python services/ai/bench/voice_bench.py $(VOICE_BENCH_ARGS)
	$(BENCH_TABLE)

chaos: install ## Faults on purpose under load on a stack of its own → bench/results/chaos.json (CHAOS_ARGS="--rate 1000 --duration 900")
	.venv/bin/switchboard-chaos run $(CHAOS_ARGS)

IMAGE_TAG ?= dev
IMAGES := ingress:services/ingress history:services/history dialer:services/dialer ai:services/ai provider-sim:tools/provider-sim

images: ## Build the service images from the repo root (needs a Docker engine; skipped without one)
	@if docker info >/dev/null 2>&1; then \
	  for spec in $(IMAGES); do \
	    docker build -f $${spec#*:}/Dockerfile -t switchboard-$${spec%%:*}:$(IMAGE_TAG) . || exit 1; \
	  done; \
	else echo "images: no Docker engine answers (docker info failed); nothing built"; fi

test-deploy: install ## Offline checks of the Dockerfiles, compose and k8s manifests
	.venv/bin/python -m pytest tests/deploy -q -p no:cacheprovider
