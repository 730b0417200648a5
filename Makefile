# Every target sets itself up: a virtualenv with the pinned Python packages and the pinned CDK CLI.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: setup lint test simulate synth bench clean

$(STAMP): requirements.txt requirements-dev.txt package.json package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	npm ci --no-audit --no-fund --loglevel=error
	touch $(STAMP)

setup: $(STAMP)

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: lint
	$(PY) -m pytest

simulate: setup
	$(PY) -m simulator run

synth: setup
	npx cdk synth --quiet

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) node_modules cdk.out simulation-report.json simulation-output bench-report.json
