# Two commands: `make run` starts everything, `make test` runs the whole suite.
# Both bootstrap what they need (a .venv from the system Python, the proxy from npm) and are quick
# when nothing changed.

SHELL := /bin/bash
# A system Python: user servers run as separate Unix users, who cannot execute a Python kept under
# /root (pyenv's, for instance). Override with `make PYTHON=/path/to/python3.11`.
PYTHON ?= $(firstword $(wildcard /usr/bin/python3.11 /usr/local/bin/python3.11) $(shell command -v python3.11))
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
KERNELSPECS := $(VENV)/.kernelspecs
PROXY := hub/node_modules/.bin/configurable-http-proxy
LABEXTENSION := extensions/alphabook_jupyterlab/labextension/package.json
EXTENSION := $(VENV)/.extension

.PHONY: run test lint bench bootstrap system-packages clean

run: bootstrap
	$(BIN)/alphabook run

test: bootstrap
	$(BIN)/python -m pytest

lint: bootstrap
	$(BIN)/ruff check backend dashboards tests hub extensions/alphabook_jupyterlab notebooks/conftest.py
	$(BIN)/mypy backend dashboards extensions/alphabook_jupyterlab

bench: bootstrap
	$(BIN)/python -m pytest tests/benchmarks -s -o addopts="" -p no:cacheprovider; \
	  status=$$?; if [ $$status -eq 5 ]; then echo "no benchmarks yet"; exit 0; fi; exit $$status

bootstrap: system-packages $(INSTALLED) $(KERNELSPECS) $(PROXY) $(EXTENSION)

# Debian packages the project needs (Chromium: the browser tests drive it through Playwright, which cannot
# download its own browser here; docker-compose: the deployment tests validate the compose file with it, no
# engine needed); installed when missing and we are root, else we say what to install.
SYSTEM_COMMANDS := useradd:passwd node:nodejs npm:npm bwrap:bubblewrap chromium:chromium \
	docker-compose:docker-compose
system-packages:
	@missing=""; \
	for pair in $(SYSTEM_COMMANDS); do cmd=$${pair%%:*}; pkg=$${pair##*:}; \
	  command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; done; \
	[ -n "$(PYTHON)" ] && $(PYTHON) -c "import venv, ensurepip" 2>/dev/null || missing="$$missing python3.11-venv"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing system packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else echo "Please install these system packages first:$$missing (e.g. sudo apt-get install$$missing)"; exit 1; fi; \
	fi

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11 not found: install python3.11 (Debian: apt-get install python3.11 python3.11-venv)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(INSTALLED): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

# The sandboxed kernelspecs (kernels/), installed into the venv with its absolute Python in their argv.
$(KERNELSPECS): $(INSTALLED) $(wildcard kernels/*/kernel.json) backend/alphabook/sandbox/kernelspecs.py
	$(BIN)/alphabook kernels install
	@touch $@

$(PROXY): hub/package.json hub/package-lock.json
	cd hub && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# The JupyterLab extension (extensions/): TypeScript built into a prebuilt labextension by JupyterLab's own
# builder from the npm registry, then installed into the venv (which every user server runs from) with its
# server extension enabled; `jupyter labextension list` shows it.
$(LABEXTENSION): extensions/package.json extensions/package-lock.json extensions/tsconfig.json \
		$(wildcard extensions/src/*.ts extensions/style/*) | $(INSTALLED)
	cd extensions && npm ci --no-audit --no-fund --loglevel=error && PATH="$(abspath $(BIN)):$$PATH" npm run build
	@touch $@

$(EXTENSION): $(LABEXTENSION) extensions/pyproject.toml extensions/jupyter-config/jupyter_jupyter_ai_config.json \
		| $(INSTALLED)
	$(BIN)/python -m pip install --quiet --no-deps -e ./extensions
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/jupyter labextension develop --overwrite ./extensions
	$(BIN)/jupyter server extension enable --sys-prefix alphabook_jupyterlab
	# an editable install leaves out the package's shared data: jupyter-ai's chat answers with alphabook's models
	install -D -m 644 extensions/jupyter-config/jupyter_jupyter_ai_config.json \
		$(VENV)/etc/jupyter/jupyter_jupyter_ai_config.json
	@touch $@

clean:
	rm -rf $(VENV) hub/node_modules extensions/node_modules extensions/lib extensions/alphabook_jupyterlab/labextension
