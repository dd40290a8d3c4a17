# The two commands of the README: `make run` and `make test`. Everything else is a helper.
VENV   ?= .venv
PYTHON ?= python3
CONFIG ?= examples/sim.yaml
STAMP  := $(VENV)/.installed

.PHONY: install run test test-unit test-integration lint lint-style bench bundle clean man completion docs

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Serve NTP on 127.0.0.1:12300 from a simulated TCXO (no root needed). Ctrl-C stops it.
run: install
	$(VENV)/bin/appliance serve --config $(CONFIG)

# The whole suite. Integration tests need root, network namespaces, chronyd and linuxptp
# (.ci/run installs them); without them they skip and say why.
test: install
	$(VENV)/bin/python -m pytest -q -ra tests

# ruff (lint and format) and mypy (strict on appliance/core, checked elsewhere). CI runs `make lint`
# before the tests.
lint-style: install
	$(VENV)/bin/ruff check appliance tests bench
	$(VENV)/bin/ruff format --check appliance tests bench

lint: lint-style
	$(VENV)/bin/mypy

test-unit: install
	$(VENV)/bin/python -m pytest -q tests/unit

test-integration: install
	$(VENV)/bin/python -m pytest -q -ra tests/integration

# Benchmarks print our figures beside their anchors from the same run (never timed tests).
# ntp_serve needs root (test namespaces, chronyd -x); holdover runs anywhere (about a minute).
bench: install
	$(VENV)/bin/python bench/holdover.py
	$(VENV)/bin/python bench/ntp_serve.py

# The man page and the bash completion, generated from the command-line parser (whatever commands
# exist when this runs), for the bundle: dist/appliance.1, dist/appliance.bash-completion.
man: install
	mkdir -p dist
	$(VENV)/bin/appliance man --output dist/appliance.1

completion: install
	mkdir -p dist
	$(VENV)/bin/appliance completion bash --output dist/appliance.bash-completion

docs: man completion

# The offline bundle for air-gapped nodes: dist/appliance-bundle-<version>-<arch>.tar.gz, with
# wheels for this Python (building downloads them; installing never does), the man page and completion. DEBS="linuxptp chrony"
# also carries those Debian packages (for sites that lack them; linuxptp for the container image).
DEBS ?=
bundle: install
	$(VENV)/bin/python image/bundle/build.py --out dist $(if $(DEBS),--debs $(DEBS))

clean:
	rm -rf $(VENV) .state build dist *.egg-info
