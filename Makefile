# cp: a Kubernetes-style control plane.  `make serve` and `make test` work on a fresh
# machine: they create .venv, install cp into it, and check for the outside tools.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
ARGS   ?=
PYTEST_ARGS ?=

.PHONY: serve test test-slow bench lint format require-redis require-kubectl clean

serve: $(STAMP)
	$(BIN)/cpd serve $(ARGS)

test: $(STAMP) require-redis require-kubectl
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Everything, plus the long soaks and large fault runs (marked slow): opt in.
test-slow: $(STAMP) require-redis require-kubectl
	CP_SOAK_SECONDS=60 $(BIN)/python -m pytest -m "slow or not slow" $(PYTEST_ARGS)

bench: $(STAMP) require-redis
	$(BIN)/python -m bench storage
	$(BIN)/python -m bench controllers
	$(BIN)/python -m bench api
	@if command -v valgrind >/dev/null; then $(BIN)/python -m bench instructions; \
	else echo "skipping bench instructions: valgrind is not installed (apt install valgrind)"; fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "missing: $(PYTHON) (Python >= 3.11 with venv)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint,fast]'
	touch $(STAMP)

# Tests start their own redis-server on random loopback ports; install it if we can.
require-redis:
	@if ! command -v redis-server >/dev/null; then \
	  if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
	    echo "redis-server is missing: installing it with apt-get"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	  fi; \
	fi
	@command -v redis-server >/dev/null || { \
	  echo "missing: redis-server (Debian/Ubuntu: sudo apt-get install redis-server)."; \
	  echo "The storage tests start their own redis-server on a random port."; exit 1; }

# The API tests drive the real kubectl binary (1.32).
require-kubectl:
	@command -v kubectl >/dev/null || { \
	  echo "missing: kubectl (1.32). Install it from your distribution or the Kubernetes release"; \
	  echo "binaries and put it on PATH; the API tests drive the real kubectl."; exit 1; }

clean:
	rm -rf $(VENV) build *.egg-info bench/results
