# Thin targets over scripts; see README.md. Every target installs what it needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help
UV ?= uv
export PATH := $(HOME)/.local/bin:$(PATH)

.PHONY: help setup up down status demo test lint format bench migrate schemas faults

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

setup: ## install uv, Python deps (locked) and the Kafka jars
	@bash scripts/setup.sh

up: setup ## start Kafka, PostgreSQL, every service and the sandbox
	@bash deploy/local/stack.sh up

down: ## stop everything `make up` started
	@bash deploy/local/stack.sh down

status: ## show each process and its health
	@bash deploy/local/stack.sh status

demo: setup ## start the stack and run the end-to-end demo
	@bash deploy/local/stack.sh up
	@$(UV) run --no-sync python scripts/demo.py

test: setup ## run the whole test suite on real Kafka and PostgreSQL
	@bash scripts/test.sh

lint: setup ## ruff (lint + format check) and mypy
	$(UV) run --no-sync ruff check .
	$(UV) run --no-sync ruff format --check .
	$(UV) run --no-sync mypy --strict --allow-subclassing-any libs/common/src libs/tiktok-shop/src
	$(UV) run --no-sync mypy services/auth-broker/src services/catalog-sync/src services/order-ingest/src services/shipment-notifier/src services/tiktok-sandbox/src services/console/src clients/cli/src

format: setup ## apply ruff formatting and safe fixes
	$(UV) run --no-sync ruff format .
	$(UV) run --no-sync ruff check --fix .

bench: setup ## run the benchmarks (catalog export: about an hour); results in bench/results/*.json
	@bash scripts/bench.sh
	@# shipment-notifier's full crash test: 5,000 shipments, 503s, a SIGKILL (docs/shipments.md)
	@eval "$$(bash deploy/local/infra.sh env)" && TTS_SHIPMENTS_KILL_N=5000 $(UV) run --no-sync pytest services/shipment-notifier/tests/integration/test_shipments_restart.py -q -p no:cacheprovider

faults: setup ## the full fault suite on its own Kafka and PostgreSQL (~9 min); bench/results/faults.json
	@TTS_FAULTS_FULL=1 $(UV) run --no-sync pytest tests/faults/test_faults_full.py -q -s -p no:cacheprovider

migrate: setup ## create and migrate every service database
	@bash scripts/migrate.sh

schemas: setup ## regenerate the committed event JSON Schemas
	$(UV) run --no-sync python -m tts_common.schemas_gen
