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

# The browser suite drives Debian's chromium, firefox-esr and WebKitWebDriver (webkit2gtk-driver, in
# an Xvfb display); the Redis suite starts Debian's redis-server (and makes a throwaway TLS certificate
# with openssl).
SYSDEPS := chromium firefox-esr webkit2gtk-driver xvfb xauth redis-server openssl
SYSDEP_COMMANDS := chromium firefox-esr WebKitWebDriver Xvfb xauth redis-server openssl
sysdeps:
	@missing=0; for c in $(SYSDEP_COMMANDS); do command -v $$c >/dev/null 2>&1 || missing=1; done; \
	if [ $$missing = 1 ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSDEPS) >/dev/null; \
	  else \
	    echo "The tests need Debian packages: sudo apt-get install $(SYSDEPS)" >&2; exit 1; \
	  fi; \
	fi

demo: $(VENV)/.installed node_modules/.installed
	$(VENV)/bin/sse-monitor demo --assets node_modules

# Everything but the browser suite runs in one process as before; then the browser suite runs in one
# process per engine, in parallel (tests/browser/run_engines.py). Both always run; exit status 5
# (PYTEST_ARGS selected nothing there) is not a failure.
test: sysdeps $(VENV)/.installed node_modules/.installed
	@status=0; \
	$(PY) -m pytest --ignore=tests/browser $(PYTEST_ARGS) || [ $$? = 5 ] || status=1; \
	$(PY) tests/browser/run_engines.py $(PYTEST_ARGS) || status=1; \
	exit $$status

bench: $(VENV)/.installed node_modules/.installed
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) node_modules
