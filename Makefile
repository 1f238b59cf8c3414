# Set-up is part of every target: a fresh machine needs only python3 (3.11, Linux x86_64 for the
# lock's CPU torch wheel) and make. Every distribution comes from requirements/lock.txt, exact
# versions with hashes, so a fresh clone installs today what it installed on the day of the lock.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
LOCK := requirements/lock.txt
PIP := -m pip install --quiet --disable-pip-version-check --no-input
# The tool that writes the lock, itself pinned: `make lock` gives the same lock for the same index.
PIP_TOOLS := pip-tools==7.6.2
COMPILE_FLAGS := --quiet --generate-hashes --allow-unsafe --extra test --extra plot --extra ray --strip-extras \
	--no-emit-index-url --no-emit-find-links --no-emit-trusted-host

$(STAMP): $(LOCK) setup.cfg pyproject.toml
	rm -rf $(VENV)
	python3 -m venv $(VENV)
	$(PY) $(PIP) --require-hashes --no-deps -r $(LOCK)
	$(PY) $(PIP) --no-deps --no-build-isolation -e .
	$(PY) -m pip check --disable-pip-version-check
	touch $(STAMP)

.PHONY: install demo test test-fast check bench lock test-latest test-oldest wheel-smoke gpu-check
install: $(STAMP)

demo: $(STAMP)  ## the main job: analyze the paper's GoogLeNet
	$(VENV)/bin/gcost analyze specs/googlenet.yaml

# Both run the suite on a worker process per CPU, at most 4 (pytest-xdist, from the lock; a plain
# `python -m pytest` runs it in one process). worksteal: a worker that runs out of tests takes queued
# ones from another, so a long test does not run on alone at the end.
test: $(STAMP)  ## the test suite on a worker per CPU (CPU only; GPU tests skip without CUDA)
	$(PY) -m pytest -q -n auto --maxprocesses 4 --dist worksteal

test-fast: $(STAMP)  ## the fast lane: the suite without the tests marked slow (under a minute)
	$(PY) -m pytest -q -m "not slow" -n auto --maxprocesses 4 --dist worksteal

check: $(STAMP)  ## the size gate that CI runs on every shipped spec
	$(VENV)/bin/gcost check specs/*.yaml --baseline gcost.lock.json

wheel-smoke: $(STAMP)  ## build sdist + wheel, install the wheel in a venv outside the checkout, smoke it
	bash .ci/wheel-smoke

gpu-check:  ## on a GPU machine, first: GPU tests, latency table, harness check, peaks, self-checks -> docs/benchmarks-gpu.md (8 min)
	python3 benchmarks/gpu_check.py

bench: $(STAMP)  ## benchmarks: write measured tables to docs/
	$(PY) benchmarks/startup.py
	$(PY) benchmarks/scale.py
	$(PY) benchmarks/latency_check.py
	$(PY) benchmarks/lrn_profile.py
	$(PY) benchmarks/roofline_expected.py

lock:  ## regenerate requirements/lock.txt from setup.cfg and requirements/tools.in (docs/dependencies.md)
	python3 -m venv .venv-tools
	.venv-tools/bin/python $(PIP) $(PIP_TOOLS)
	.venv-tools/bin/pip-compile $(COMPILE_FLAGS) -o $(LOCK) setup.cfg requirements/tools.in

test-latest:  ## drift check: the newest releases setup.cfg's ranges allow, then the suite
	rm -rf .venv-latest
	python3 -m venv .venv-latest
	.venv-latest/bin/python $(PIP) --upgrade --upgrade-strategy eager -e '.[test,plot,ray]'
	.venv-latest/bin/python -m pip freeze --all --exclude-editable > .venv-latest/freeze.txt
	GCOST_UNLOCKED=1 .venv-latest/bin/python -m pytest -q -p no:cacheprovider

test-oldest:  ## the declared lower bounds: the lowest release of each direct requirement, then the suite
	rm -rf .venv-oldest
	python3 -m venv .venv-oldest
	.venv-oldest/bin/python $(PIP) -c requirements/oldest.txt -e '.[test,plot,ray]'
	.venv-oldest/bin/python -m pip freeze --all --exclude-editable > .venv-oldest/freeze.txt
	GCOST_UNLOCKED=1 .venv-oldest/bin/python -m pytest -q -p no:cacheprovider
