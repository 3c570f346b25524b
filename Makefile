# Two commands do all set-up on a fresh machine:
#   make demo   - create .venv, install segmentkit, run it on the bundled demo data
#   make test   - create/update .venv with the test extras (and Chromium), run the tests
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: demo test test-fast bench browser clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# setup.py and the C source: `pip install -e .` compiles the Lloyd pass into src/ again
BUILD := pyproject.toml setup.py src/segmentkit/algorithms/_lloyd_kernel.c

$(VENV)/.base: $(BUILD) | $(PY)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.test: $(BUILD) | $(PY)
	$(PY) -m pip install -q -e ".[test]"
	touch $@ $(VENV)/.base

demo: $(VENV)/.base
	$(VENV)/bin/segmentkit demo --out demo-output

browser:
	bash .ci/install-browser

test: $(VENV)/.test browser
	$(PY) -m pytest -q

# The inner loop (under a minute): everything but the slow and integration tests.
test-fast: $(VENV)/.test
	$(PY) -m pytest -q -m "not slow and not integration"

# Benchmarks (not part of the tests). OPENBLAS_* are unset here only; see bench/README.md.
bench: $(VENV)/.test
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) bench/bench_features.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) bench/bench_choose_k.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) bench/labeled_suite.py
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(PY) bench/bench_scale.py --repeat 3

clean:
	rm -rf $(VENV) demo-output .pytest_cache build src/segmentkit/algorithms/*.so
