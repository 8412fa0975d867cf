# SonoDash: `make run` starts the dashboard on sample data, `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501

.PHONY: run test e2e bench bench-seg demo sample-data install clean

$(STAMP): requirements.txt pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install -q --disable-pip-version-check --no-deps -e .
	@touch $(STAMP)

install: $(STAMP)

# make run = demo mode on the sample data (banner; a local demo user is signed in). Real use: SONODASH_AUTH=required.
run: $(STAMP)
	SONODASH_AUTH=$${SONODASH_AUTH:-demo} $(PY) -m streamlit run dashboard/app.py --server.port $(PORT) --server.headless true

test: $(STAMP)
	$(PY) -m pytest -m "not e2e and not slow"

e2e: $(STAMP)
	$(PY) -m pytest -m e2e

bench: $(STAMP)
	$(PY) -m core bench

bench-seg: $(STAMP)
	$(PY) -m core bench-seg

demo: $(STAMP)
	$(PY) -m core demo build

sample-data: $(STAMP)
	$(PY) -m core make-sample-data --out var/generated --study all --n-patients 200 --seed 0

clean:
	rm -rf $(VENV) var .pytest_cache
