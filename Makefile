# Development tasks for flask-actions. `make help` lists them.
#
# Everything runs from the virtual environment in .venv, which the targets
# create with $(PYTHON) (any Python 3.10+) and fill from pyproject.toml: `make
# demo` with the package and its dependencies only, the others with the
# dependency groups too (`pip install --group dev`, which needs pip 25.1+).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
PYTEST_ARGS ?=
BENCH_ARGS ?=

export PIP_DISABLE_PIP_VERSION_CHECK := 1

.DEFAULT_GOAL := help

.PHONY: help venv js test test-oldest lint format typecheck pytest docs demo bench bench-nextjs clean distclean

help:
	@echo "make venv       create .venv and install the package with its dev dependency group"
	@echo "make test       lint, typecheck, then pytest (PYTEST_ARGS='-k name -x' passes through)"
	@echo "make lint       ruff check and ruff format --check"
	@echo "make js         rebuild the minified browser scripts (needs Node.js: npm ci --prefix scripts)"
	@echo "make format     fix what ruff can fix, then reformat"
	@echo "make typecheck  mypy (strict on flask_actions)"
	@echo "make pytest     only the tests"
	@echo "make test-oldest  the tests on Python 3.10 with the oldest supported Flask, marshmallow..."
	@echo "make docs       build the documentation into docs/_build/html (warnings are errors)"
	@echo "make demo       run examples/todos on http://$(HOST):$(PORT)"
	@echo "make bench      run the benchmarks"
	@echo "make bench-nextjs  side by side with Next.js 16 (needs Node.js 20.9+, npm, wrk: apt-get install -y wrk)"
	@echo "make clean      remove caches, build output and the built C extension (distclean: .venv too)"

venv: $(VENV)/.installed-dev

# What `make demo` needs: the package (editable) with its dependencies and
# the cache extra (Flask-Caching: examples/todos caches its pages). The
# install also builds the C extension in place (flask_actions/_slots.*.so,
# or warns and goes on without it): installing again after a change to
# _slots.c or `make clean` builds it again.
$(VENV)/.installed: pyproject.toml setup.py flask_actions/_slots.c
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
		|| { echo "flask-actions needs Python 3.10+; run make PYTHON=python3.x" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --progress-bar off -e '.[cache]'
	touch $@

# What the other targets need on top: tests, docs, benchmarks, linters.
$(VENV)/.installed-dev: $(VENV)/.installed
	$(BIN)/python -m pip install --progress-bar off --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --progress-bar off --group dev
	touch $@

# `make -k test` goes on to the tests when lint or mypy fail, and still fails.
test: lint typecheck pytest

# The lowest supported versions (tests/oldest-constraints.txt) on the oldest
# Python found; browser, Redis and slow tests run in `make test` already.
OLDEST_PYTHON ?= $(firstword $(shell for p in python3.10 $(wildcard $(HOME)/.pyenv/versions/3.10*/bin/python3.10); do \
	$$p -c '' 2>/dev/null && echo $$p; done) $(PYTHON))
OLDEST_VENV := .venv-oldest

$(OLDEST_VENV)/.installed: pyproject.toml setup.py flask_actions/_slots.c tests/oldest-constraints.txt
	$(OLDEST_PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install --progress-bar off --upgrade 'pip>=25.1'
	$(OLDEST_VENV)/bin/python -m pip install --progress-bar off \
		-c tests/oldest-constraints.txt -e . --group test
	touch $@

test-oldest: $(OLDEST_VENV)/.installed
	$(OLDEST_VENV)/bin/python --version
	$(OLDEST_VENV)/bin/python -m pip list 2>/dev/null | grep -iE '^(flask|werkzeug|jinja2|marshmallow|blinker|cryptography) '
	$(OLDEST_VENV)/bin/python -m pytest -m "not browser and not redis and not slow" $(PYTEST_ARGS)

# terser, which builds the browser scripts (scripts/build_js.py); needs Node.js.
# Only `make js` needs it: `make lint` checks the committed build against
# scripts/build-manifest.json where terser is not installed.
scripts/node_modules/.installed: scripts/package.json scripts/package-lock.json
	npm ci --prefix scripts --no-audit --no-fund
	touch $@

js: venv scripts/node_modules/.installed
	$(BIN)/python scripts/build_js.py

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python scripts/build_js.py --check
	$(BIN)/python scripts/check_imports.py

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: venv
	$(BIN)/mypy

pytest: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

demo: $(VENV)/.installed
	$(BIN)/flask --app examples.todos.app:create_app run --debug --host $(HOST) --port $(PORT)

bench: venv
	$(BIN)/python -m benchmarks

# Not in `make test`: npm ci from benchmarks/nextjs/package-lock.json, next build,
# Chromium submits, then about 20 minutes of wrk (docs/performance.md).
bench-nextjs: venv
	@command -v wrk >/dev/null || { echo "bench-nextjs needs wrk: apt-get install -y wrk" >&2; exit 1; }
	$(BIN)/python -m benchmarks.nextjs_bench $(BENCH_ARGS)

# `make pytest` builds the docs too (tests/test_docs.py), into a temporary directory.
docs: venv
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

# Removing the built extension drops the install stamps too, so that the
# next target installs again and builds it, rather than testing without it.
clean:
	rm -rf build dist docs/_build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis .coverage htmlcov
	rm -f flask_actions/_slots*.so flask_actions/_slots*.pyd $(VENV)/.installed $(OLDEST_VENV)/.installed
	find . -path ./$(VENV) -prune -o -type d -name __pycache__ -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV) $(OLDEST_VENV)
