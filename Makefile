# Set-up is part of every target: a fresh machine needs only python3 (3.10+) and make.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

$(STAMP): setup.cfg pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[test,plot]'
	touch $(STAMP)

.PHONY: install demo test bench check
install: $(STAMP)

demo: $(STAMP)  ## the main job: analyze the paper's GoogLeNet
	$(VENV)/bin/gcost analyze specs/googlenet.yaml

test: $(STAMP)  ## the test suite (CPU only; GPU tests skip without CUDA)
	$(PY) -m pytest -q

check: $(STAMP)  ## the size gate that CI runs on every shipped spec
	$(VENV)/bin/gcost check specs/*.yaml --baseline gcost.lock.json

bench: $(STAMP)  ## benchmarks: write measured tables to docs/
	$(PY) benchmarks/startup.py
	$(PY) benchmarks/scale.py
	$(PY) benchmarks/latency_check.py
