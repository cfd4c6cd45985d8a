# The unit and server tiers run on the lowest and the highest supported Python (pyenv's builds).
# The main virtualenv uses the highest when pyenv has it, so the whole suite runs there and
# test-pythons adds only the lowest. REQUIRE_PYTHONS=1 (set by CI) makes a missing one fatal.
PYENV_ROOT ?= $(HOME)/.pyenv
PYTHON_LOW ?= $(PYENV_ROOT)/versions/3.10.13/bin/python
PYTHON_HIGH ?= $(PYENV_ROOT)/versions/3.13.0/bin/python
REQUIRE_PYTHONS ?=

# Each target sets itself up from nothing: a virtualenv in .venv and the npm assets in node_modules.
PYTHON ?= $(if $(wildcard $(PYTHON_HIGH)),$(PYTHON_HIGH),python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: demo runtime test test-fast test-node test-soak lint bench docs clean sysdeps test-pythons test-plain-send

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
# with openssl); the deploy suite starts its own Debian nginx.
SYSDEPS := chromium firefox-esr webkit2gtk-driver xvfb xauth redis-server openssl nginx
SYSDEP_COMMANDS := chromium firefox-esr WebKitWebDriver Xvfb xauth redis-server openssl nginx
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

# The runtime ships as one file (inlined or served): its parts, one concern each, joined in order.
# Edit the parts, then `make runtime`; lint fails while the file is not the parts joined.
runtime:
	cat $(RUNTIME_PARTS) > $(RUNTIME_JS)

# Lint: ruff (rules in pyproject.toml) on src, tests and benchmarks, mypy on src, and the browser runtime: node
# --check, then its JSDoc types with TypeScript (tsconfig.json; checked, never compiled). All run;
# any failing fails.
RUNTIME_JS := src/sse_monitor/browser/static/sse-monitor.js
RUNTIME_PARTS := $(sort $(wildcard src/sse_monitor/browser/runtime/*.js))
lint: $(VENV)/.installed node_modules/.installed
	@status=0; \
	$(PY) -m ruff check src tests benchmarks || status=1; \
	$(PY) -m mypy src || status=1; \
	cat $(RUNTIME_PARTS) | cmp -s - $(RUNTIME_JS) || { echo "$(RUNTIME_JS) is not its parts joined: make runtime"; status=1; }; \
	node --check $(RUNTIME_JS) || status=1; \
	node_modules/.bin/tsc -p tsconfig.json || status=1; \
	exit $$status

# Lint and the Node tier first (seconds); a lint failure fails the build but the tests still all run.
# Then the rest in five parallel lanes (tests/lanes.py): the unit, server, Redis, deploy and example
# tiers; the unit and server tiers again with the plain send path and on the other Python; and the
# three browser engines, one process each. Exit status 5 (PYTEST_ARGS selected nothing) is no failure.
# The end of the output says what failed (CI logs are read from the end): each stage that failed, and
# each failed test with its Python, engine and send mode (tests/conftest.py writes that list).
test: sysdeps $(VENV)/.installed node_modules/.installed
	@status=0; failed=""; \
	export SSE_MONITOR_FAILURE_LOG=$$(mktemp); \
	$(MAKE) lint || { status=1; failed="$$failed lint"; }; \
	$(MAKE) test-node || { status=1; failed="$$failed test-node"; }; \
	$(PY) tests/lanes.py $(PYTEST_ARGS) || { status=1; failed="$$failed lanes"; }; \
	if [ $$status != 0 ]; then \
	  echo; echo "make test FAILED in:$$failed"; sed 's/^/  /' "$$SSE_MONITOR_FAILURE_LOG"; \
	else echo; echo "make test: every stage passed"; fi; \
	rm -f "$$SSE_MONITOR_FAILURE_LOG"; \
	exit $$status

# The runtime's logic without a browser (tab sharing between simulated tabs, fake timers): seconds.
test-node:
	node --test tests/node/

# The inner loop: lint, the Node tier, the unit and server tiers, and one browser smoke (Chromium,
# htmx 2 and 4). The whole suite is `make test`.
test-fast: $(VENV)/.installed node_modules/.installed
	@status=0; \
	$(MAKE) lint || status=1; \
	$(MAKE) test-node || status=1; \
	$(PY) -m pytest tests/unit tests/server -q $(PYTEST_ARGS) || status=1; \
	SSE_MONITOR_ENGINES=chromium $(PY) -m pytest tests/browser/test_connection.py -q $(PYTEST_ARGS) || status=1; \
	exit $$status

# Long real-time runs, outside CI (which runs the same promises on a scaled clock or for less time):
# the 20 s and 2-minute outages on every engine; then every browser scenario with every transport and
# election on every engine (CI runs each engine's share, see tests/browser/conftest.py), the tab
# churn for 60 s. One lane per engine (tests/lanes.py --soak).
test-soak: sysdeps $(VENV)/.installed node_modules/.installed
	$(PY) tests/lanes.py --soak $(PYTEST_ARGS)

# The unit and server tiers again with the inline hot path off (SSE_MONITOR_PLAIN_SEND=1, see
# PLAIN_SEND in src/sse_monitor/stream.py): every stream then sends with a plain `await send()`.
test-plain-send: $(VENV)/.installed
	SSE_MONITOR_PLAIN_SEND=1 $(PY) -m pytest tests/unit tests/server $(PYTEST_ARGS) || [ $$? = 5 ]

.venv310/.installed .venv313/.installed: pyproject.toml
	@base=$$( [ "$@" = .venv310/.installed ] && echo "$(PYTHON_LOW)" || echo "$(PYTHON_HIGH)" ); \
	"$$base" -m venv $(@D) && $(@D)/bin/python -m pip install -q --upgrade pip && \
	$(@D)/bin/python -m pip install -q -e '.[dev,redis]' && touch $@

test-pythons:
	@main=$$($(PY) -c 'import sys; print("%d%d" % sys.version_info[:2])' 2>/dev/null); \
	for pair in "310:$(PYTHON_LOW)" "313:$(PYTHON_HIGH)"; do \
	  v=$${pair%%:*}; base=$${pair#*:}; \
	  if [ "$$v" = "$$main" ]; then echo "test-pythons: Python $$v ran the main suite (.venv)"; continue; fi; \
	  if [ ! -x "$$base" ]; then \
	    echo "test-pythons: no interpreter at $$base: unit and server tiers NOT run on Python $$v" >&2; \
	    if [ -n "$(REQUIRE_PYTHONS)" ]; then exit 1; else continue; fi; \
	  fi; \
	  $(MAKE) .venv$$v/.installed && .venv$$v/bin/python -m pytest tests/unit tests/server $(PYTEST_ARGS) || [ $$? = 5 ] || exit 1; \
	done

# The README's pictures of the six states: docs/states/*.png, from the demo in headless Chromium.
docs: sysdeps $(VENV)/.installed node_modules/.installed
	$(PY) docs/screenshots.py

bench: $(VENV)/.installed node_modules/.installed
	$(PY) benchmarks/run.py

clean:
	rm -rf $(VENV) .venv310 .venv313 node_modules
