# Each target sets itself up from nothing: a virtualenv in .venv and the npm assets in node_modules.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench docs clean sysdeps test-pythons

# The unit and server tiers also run on the lowest and the highest supported Python (pyenv's
# builds): each gets its own virtualenv. REQUIRE_PYTHONS=1 (set by CI) makes a missing one fatal.
PYENV_ROOT ?= $(HOME)/.pyenv
PYTHON_LOW ?= $(PYENV_ROOT)/versions/3.10.13/bin/python
PYTHON_HIGH ?= $(PYENV_ROOT)/versions/3.13.0/bin/python
REQUIRE_PYTHONS ?=

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,redis]'
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# The browser suite drives Debian's chromium; the Redis suite starts Debian's redis-server (and makes
# a throwaway TLS certificate with openssl).
sysdeps:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium redis-server openssl >/dev/null; \
	  else \
	    echo "The tests need Debian's chromium, redis-server and openssl: sudo apt-get install chromium redis-server openssl" >&2; exit 1; \
	  fi; \
	fi

demo: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/sse-monitor demo --assets node_modules

test: sysdeps $(VENV)/.installed node_modules/.installed
	$(PY) -m pytest $(PYTEST_ARGS)
	$(MAKE) test-pythons

.venv310/.installed .venv313/.installed: pyproject.toml
	@base=$$( [ "$@" = .venv310/.installed ] && echo "$(PYTHON_LOW)" || echo "$(PYTHON_HIGH)" ); \
	"$$base" -m venv $(@D) && $(@D)/bin/python -m pip install -q --upgrade pip && \
	$(@D)/bin/python -m pip install -q -e '.[dev,redis]' && touch $@

test-pythons:
	@for pair in "310:$(PYTHON_LOW)" "313:$(PYTHON_HIGH)"; do \
	  v=$${pair%%:*}; base=$${pair#*:}; \
	  if [ ! -x "$$base" ]; then \
	    echo "test-pythons: no interpreter at $$base: unit and server tiers NOT run on Python $$v" >&2; \
	    if [ -n "$(REQUIRE_PYTHONS)" ]; then exit 1; else continue; fi; \
	  fi; \
	  $(MAKE) .venv$$v/.installed && .venv$$v/bin/python -m pytest tests/unit tests/server $(PYTEST_ARGS) || exit 1; \
	done

# The README's pictures of the six states: docs/states/*.png, from the demo in headless Chromium.
docs: sysdeps $(VENV)/.installed node_modules/.installed
	$(PY) docs/screenshots.py

bench: $(VENV)/.installed node_modules/.installed
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .venv310 .venv313 node_modules
