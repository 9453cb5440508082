# The two commands: `make run` and `make test`. Both set up everything they need on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export VAR_DIR ?= var

.PHONY: run test bench chaos install deps-up db seed deploy-tools bench-tools browser-tools clean

# The addresses and demo sign-ins are printed (and kept in var/demo.txt) once every service is ready.
run: install deps-up db
	@mkdir -p $(VAR_DIR)/mailbox
	@$(BIN)/python -m shared.dev.announce &
	@PATH="$(CURDIR)/$(BIN):$$PATH" exec $(BIN)/honcho start -f Procfile

# Lint and format ([tool.ruff] in pyproject.toml), the architecture's import contracts ([tool.importlinter]), the
# types ([tool.mypy]; incremental, cached in .mypy_cache), then the suite: the end-to-end tests on their own (one
# stack of real processes, timings that must not compete), then the rest in three processes (pytest-xdist; each
# has its own databases, Redis and fake Stripe; mostly waiting on I/O: on two cores, three take 4:51 where two took
# 5:46, measured on the same machine the same hour). The slowest tests are listed at the end of each part, to see
# where the suite's time goes as it grows.
test: install deps-up deploy-tools browser-tools
	$(BIN)/ruff check
	$(BIN)/ruff format --check
	$(BIN)/lint-imports --no-cache
	$(BIN)/mypy
	$(BIN)/python -m pytest --durations=12 tests/e2e
	$(BIN)/python -m pytest --durations=12 -n 3 tests/unit tests/integration

bench: install deps-up bench-tools browser-tools
	$(BIN)/python -m tests.perf.bench $(BENCH_ARGS)

# Faults injected under load, then the invariant checker (tests/chaos/runner.py). Options: CHAOS_DURATION
# (seconds, default 180), CHAOS_RATE (journeys/s), CHAOS_FAULTS (comma-separated), CHAOS_STALL (seconds a stall lasts),
# CHAOS_SETTLE, CHAOS_FAULT_SETTLE (the checker's allowance after each fault); or CHAOS_ARGS="--help".
chaos: install deps-up
	$(BIN)/python -m tests.chaos $(CHAOS_ARGS)

install: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

# PostgreSQL and Redis normally run already; start them if not (HANDBOOK §3).
deps-up:
	@pg_isready -q -h 127.0.0.1 -p 5432 || { \
		echo "starting PostgreSQL"; \
		pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start; \
		for i in $$(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done; }
	@redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || { \
		echo "starting Redis"; \
		redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no; \
		for i in $$(seq 30); do redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break; sleep 0.2; done; }

db: install
	$(BIN)/python -m shared.migrations services/booking services/payments services/notifications
	$(BIN)/python -m services.booking.seed

deploy-tools: install
	@PATH="$(CURDIR)/$(BIN):$$PATH" bash deploy/install-tools.sh

# Debian's Chromium for the browser tests (Playwright drives it; it never downloads a browser of its own).
browser-tools:
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; }

bench-tools:
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk >/dev/null; }

clean:
	rm -rf $(VENV) $(VAR_DIR) *.egg-info bench-results.json
