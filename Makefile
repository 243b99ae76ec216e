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

EXPERIMENT ?= training/narrow
ITERATIONS ?= 300
RESOLUTION ?= 128

# the whole chain on the embedded default data: load, sample, train, reconstruct the test split, evaluate,
# and write report/index.html (resumable: each step skips what is done already)
pipeline: setup
	$(PY) load_data.py --default
	$(PY) sample_points.py --dataset EmbeddedShapes --workers $(WORKERS) --num-samples $(SAMPLES) --report report/samples.html
	if [ -f $(EXPERIMENT)/ModelParameters/latest.pth ]; then $(PY) train.py -e $(EXPERIMENT) --resume; \
	else $(PY) train.py -e $(EXPERIMENT) --specs specs.json; fi
	$(PY) reconstruct.py -e $(EXPERIMENT) --iterations $(ITERATIONS) --samples 4000 --resolution $(RESOLUTION)
	$(PY) evaluate.py -e $(EXPERIMENT) --report report/index.html

test: setup
	$(PY) -m pytest -q tests

clean-data:
	rm -rf data/EmbeddedShapes data/SdfSamples/EmbeddedShapes data/SurfaceSamples/EmbeddedShapes \
	       data/NormalizationParameters/EmbeddedShapes data/splits/EmbeddedShapes_*.json report
