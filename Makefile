# SonoDash: `make run` starts the dashboard on sample data, `make test` runs the tests.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PORT ?= 8501

.PHONY: run test e2e bench bench-seg real-data demo sample-data pacs install clean

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

# make real-data HC18=/path/to/hc18: fetches nothing. HC18 (Radboud UMC, https://zenodo.org/records/1327317)
# is the user's own copy: HC18/training_set/NNN_HC.png + NNN_HC_Annotation.png (or filled NNN_HC_Mask.png,
# subfolders allowed) and HC18/training_set_pixel_size_and_HC.csv. Masks and manifest go to HC18_OUT.
HC18 ?=
HC18_OUT ?= var/hc18
BUDGET_MIN ?= 20
real-data: $(STAMP)
	@if [ -z "$(HC18)" ] || [ ! -f "$(HC18)/training_set_pixel_size_and_HC.csv" ]; then \
	  echo "make real-data HC18=DIR: DIR must hold your own copy of the HC18 training set (nothing is downloaded):"; \
	  echo "  DIR/training_set_pixel_size_and_HC.csv   (filename, pixel size(mm), head circumference (mm))"; \
	  echo "  DIR/training_set/NNN_HC.png with NNN_HC_Annotation.png (outline) or NNN_HC_Mask.png (filled)"; \
	  echo "HC18 is at https://zenodo.org/records/1327317 (Radboud UMC; read its licence)."; exit 2; fi
	$(PY) scripts/hc18_manifest.py --root "$(HC18)" --out "$(HC18_OUT)" --seed 0
	nice -n 10 $(PY) -m core bench-real --manifest "$(HC18_OUT)/manifest.csv" --task segmentation \
	  --budget-min $(BUDGET_MIN) --input-size 160x240 --postprocess ellipse --json

demo: $(STAMP)
	$(PY) -m core demo build

sample-data: $(STAMP)
	$(PY) -m core make-sample-data --out var/generated --study all --n-patients 200 --seed 0

# A local Orthanc PACS with DICOMweb on 127.0.0.1 holding the showcase DICOM files (Debian: orthanc, orthanc-dicomweb);
# then `SONODASH_DICOMWEB_URL=http://127.0.0.1:$(PACS_PORT)/dicom-web make run` shows the PACS source on Analyze.
PACS_PORT ?= 8042
pacs: $(STAMP)
	@test -x /usr/sbin/Orthanc || { echo "Orthanc is not installed: apt-get install -y orthanc orthanc-dicomweb"; exit 2; }
	$(PY) -m core pacs serve --port $(PACS_PORT) --load sample_data/miscarriage/dicom

clean:
	rm -rf $(VENV) var .pytest_cache
