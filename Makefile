# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# gRPC port; empty: EMNIST_GRPC_PORT, or 8500 (0: no gRPC server)
GRPC_PORT ?=

.PHONY: install run test system-packages lint

$(BIN)/activate: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -r requirements.txt
	touch $(BIN)/activate

install: $(BIN)/activate

## Install, then serve the bundled model: REST (gunicorn) on http://$(HOST):$(PORT)/, gRPC on $(HOST):8500
run: install
	$(BIN)/python -m webapp.model_server --host $(HOST) --rest_api_port $(PORT) $(if $(GRPC_PORT),--port $(GRPC_PORT))

## Debian's packages the tests use: Chromium for the browser tests (Playwright drives it; a test tool's
## own browser download fails offline), wrk and h2load (nghttp2-client), the HTTP and gRPC load clients
## of bench/ (the bench tests run them briefly)
system-packages:
	command -v chromium >/dev/null && command -v wrk >/dev/null && command -v h2load >/dev/null || \
		(apt-get update && apt-get install -y --no-install-recommends chromium wrk nghttp2-client)

## Install, then run the whole test suite
test: install system-packages
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
