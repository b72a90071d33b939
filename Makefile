# The two set-up commands of the README: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Where to listen; empty: the defaults (REST: GUNICORN_BIND, else 127.0.0.1:8000; gRPC: EMNIST_GRPC_HOST
# and EMNIST_GRPC_PORT, else 127.0.0.1:8500). HOST is both servers' address; 0 as a port switches it off.
HOST ?=
PORT ?=
GRPC_PORT ?=
# Non-empty: other libraries' start-up log and warnings too (TensorFlow's), silenced by default.
VERBOSE ?=
# An editable install that puts this checkout on sys.path (other checkouts can run their own code).
EDITABLE := --config-settings editable_mode=compat

.PHONY: install install-dev run test test-peers test-containers images system-packages lint

# Which serving set `make install`/`make run` installs: serve (onnxruntime, no TensorFlow) or serve-tf (adds
# TensorFlow: the tensorflow engine serves the SavedModel).
EXTRA ?= serve

## Serving only: the EXTRA extra at the versions requirements.txt pins (no torch, onnx2tf or matplotlib)
$(VENV)/.serve-installed $(VENV)/.serve-tf-installed: $(VENV)/.%-installed: pyproject.toml requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -c requirements.txt -e '.[$*]' $(EDITABLE)
	touch $@

## Everything: every stage's tools and the test tools (requirements.txt pins the whole set)
$(VENV)/.dev-installed: pyproject.toml requirements.txt requirements-nodeps.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -r requirements.txt
	$(BIN)/pip install --no-deps -r requirements-nodeps.txt
	$(BIN)/pip install --no-deps -e . $(EDITABLE)
	touch $(VENV)/.serve-installed $(VENV)/.serve-tf-installed $@

install: $(VENV)/.$(EXTRA)-installed

install-dev: $(VENV)/.dev-installed

## Install the serving set, then serve the bundled model: REST (gunicorn) on http://127.0.0.1:8000/ and
## gRPC on 127.0.0.1:8500 (make run HOST=0.0.0.0 PORT=8080 GRPC_PORT=9500 moves them; EXTRA=serve-tf adds
## TensorFlow, whose engine EMNIST_ENGINE=auto then picks)
run: install
	$(BIN)/python -m webapp.model_server $(if $(HOST),--host $(HOST)) $(if $(PORT),--rest_api_port $(PORT)) \
		$(if $(GRPC_PORT),--port $(GRPC_PORT)) $(if $(VERBOSE),--verbose)

## Debian's packages the tests use, each installed only when its command is missing (a machine whose
## Node.js came from elsewhere has an npm that Debian's npm package conflicts with): Chromium for the
## browser tests (Playwright drives it; a test tool's own browser download fails offline), npm for
## axe-core (package-lock.json), wrk and h2load
## (nghttp2-client), the load clients of bench/ (the bench tests run them briefly), strace (the
## no-disk-writes test watches the workers), prometheus (the metrics test scrapes the server with it, on
## loopback) and nginx (the documented proxy, which the tests run on
## loopback: a policy-rc.d stops Debian from starting its own nginx on port 80 while it installs); podman,
## runc and mmdebstrap build and run the images, podman-compose and CNI's dnsname plugin (service names
## between containers) run compose.yaml (make test-containers)
system-packages:
	missing=; for pair in chromium:chromium npm:npm wrk:wrk h2load:nghttp2-client strace:strace \
		prometheus:prometheus podman:podman mmdebstrap:mmdebstrap /usr/sbin/runc:runc \
		podman-compose:podman-compose /usr/lib/cni/dnsname:golang-github-containernetworking-plugin-dnsname; do \
		command -v $${pair%%:*} >/dev/null || missing="$$missing $${pair#*:}"; done; \
	test -z "$$missing" || (apt-get update && apt-get install -y --no-install-recommends $$missing)
	test -x /usr/sbin/nginx || ( created=; if ! test -e /usr/sbin/policy-rc.d; then \
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; created=1; fi; \
		apt-get install -y --no-install-recommends nginx; status=$$?; \
		test -z "$$created" || rm -f /usr/sbin/policy-rc.d; exit $$status )

## The browser tests' JavaScript tools, at package-lock.json's versions
node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

## Install everything, then run the checks and the whole test suite (but the comparison with other servers
## and the image tests: test-peers, test-containers)
test: install-dev system-packages node_modules/.package-lock.json
	$(BIN)/ruff check .
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -m "not peers and not container"

## Our server against MLServer, BentoML, LitServe and TorchServe, briefly (bench/peers/run.py --quick): each
## peer's pinned packages go to ~/.cache/emnist-peers the first time (minutes); TorchServe needs Debian's Java
## runtime, and is skipped with the reason when it cannot install
test-peers: install-dev system-packages
	command -v java >/dev/null || (apt-get update && apt-get install -y --no-install-recommends \
		default-jre-headless) || echo "no Java runtime: TorchServe will be skipped"
	$(BIN)/python -m pytest -m peers tests/bench/test_peers.py

## Build both images (a base from Debian's packages, as no registry is reachable) and run them
test-containers: install-dev system-packages
	$(BIN)/python -m pytest -m container tests/container

## The images, over BASE_IMAGE (default: the Dockerfile's python:3.11-slim), with this machine's pip
## configuration handed to the build (container/pip_build_config.py): localhost/emnist-serving:slim and :full
BASE_IMAGE ?=
images:
	mkdir -p .cache && $(PYTHON) container/pip_build_config.py .cache/pip.conf > .cache/pip-build-args
	for target in slim full; do \
		podman build --isolation chroot --format docker --target $$target \
			$(if $(BASE_IMAGE),--build-arg BASE_IMAGE=$(BASE_IMAGE)) $$(cat .cache/pip-build-args) \
			--tag localhost/emnist-serving:$$target . || exit 1; done

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/lint-imports
