# Each target sets itself up from nothing: a virtualenv in .venv and the npm assets in node_modules.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench clean sysdeps

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,redis]'
	touch $@

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

# The browser suite drives Debian's chromium; the Redis suite starts Debian's redis-server (and makes
# a throwaway TLS certificate with openssl); the deploy suite starts its own Debian nginx.
sysdeps:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1 || ! command -v openssl >/dev/null 2>&1 || ! command -v nginx >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium redis-server openssl nginx >/dev/null; \
	  else \
	    echo "The tests need Debian's chromium, redis-server, openssl and nginx: sudo apt-get install chromium redis-server openssl nginx" >&2; exit 1; \
	  fi; \
	fi

demo: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/sse-monitor demo --assets node_modules

test: sysdeps $(VENV)/.installed node_modules/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.installed node_modules/.installed
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) node_modules
