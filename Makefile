# make run: fresh machine -> the whole platform on the embedded default (127.0.0.1:8000)
# make test: fresh machine -> the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck services clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch==2.13.0 resolves to the CPU wheel on this machine's disk; constraints pin the rest.
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

services:
	bash scripts/services.sh

run: install
	$(BIN)/regioncare up --scale tiny

# services.sh installs/starts PostgreSQL (and the browser) on 127.0.0.1 and prints the
# database URL; redis.sh does the same for Redis. The API suite runs on SQLite and on
# PostgreSQL, the feature-store suite on SQLite and on Redis.
test: install
	$(BIN)/ruff check .
	url=$$(timeout 1200 bash scripts/services.sh --url) && redis=$$(timeout 600 bash scripts/redis.sh) && \
	REGIONCARE_TEST_POSTGRES_URL="$$url" REGIONCARE_TEST_REDIS_URL="$$redis" $(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

clean:
	rm -rf var test-artifacts .pytest_cache
