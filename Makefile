# Two commands on a fresh machine:  make pipeline  (the whole pipeline on the embedded data)  and  make test
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKERS ?= 2
SAMPLES ?= 100000

.PHONY: setup pipeline test clean-data

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	touch $@

setup: $(VENV)/.installed

# load the embedded default data, sample signed distances, and write an HTML page of the samples
pipeline: setup
	$(PY) load_data.py --default
	$(PY) sample_points.py --dataset EmbeddedShapes --workers $(WORKERS) --num-samples $(SAMPLES) --report report/samples.html

test: setup
	$(PY) -m pytest -q tests

clean-data:
	rm -rf data/EmbeddedShapes data/SdfSamples/EmbeddedShapes data/SurfaceSamples/EmbeddedShapes \
	       data/NormalizationParameters/EmbeddedShapes data/splits/EmbeddedShapes_*.json report
