# Everything a fresh machine needs goes through these targets.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
RUN := $(UV) run --frozen --all-extras
DEMO_DATE ?= 2026-11-23
AUDIT_PROBE := https://pypi.org/pypi/pip/24.0/json

.PHONY: install browser demo test lint audit bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.installed: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-extras
	@touch $@

install: $(VENV)/.installed  ## create .venv with the locked dependencies

demo: install  ## run the Airflow DAGs over the bundled offline sample into a fresh ./demo-lake
	rm -rf "$(CURDIR)/demo-lake"
	$(RUN) python -m sample.demo --date $(DEMO_DATE) --lake "$(CURDIR)/demo-lake"

browser:  ## Debian's Chromium, for the digest's browser test, where apt-get can install it
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		chromium >/dev/null; } || echo "make: Chromium could not be" \
		"installed; the digest's browser test will be skipped" >&2

test: install browser  ## the whole test suite, over two processes (each test module on one of them)
	$(RUN) pytest -n 2 --dist loadscope

lint: install  ## style, types and known vulnerabilities
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(MAKE) --no-print-directory audit

audit: install  ## every locked dependency against PyPI's vulnerability advisories (needs pypi.org)
	@$(VENV)/bin/python -c "import urllib.request as u; u.urlopen('$(AUDIT_PROBE)', timeout=20)" \
		2>/dev/null || { echo "make audit: PyPI's release data ($(AUDIT_PROBE)) cannot be" \
		"read from this machine, so nothing was audited" >&2; exit 2; }
	$(UV) export --frozen --all-extras --no-emit-project --format requirements-txt \
		--quiet --output-file $(VENV)/requirements.lock.txt
	$(RUN) pip-audit --strict --disable-pip --progress-spinner off \
		--requirement $(VENV)/requirements.lock.txt

bench: install  ## extraction, relevance, backfill, 180 days of commits, a hostile day and soak
	$(RUN) python bench/extract_bench.py
	$(RUN) python bench/relevance_bench.py
	$(RUN) python bench/backfill_bench.py --sizes 10000 50000 100000
	$(RUN) python bench/lake_bench.py
	$(RUN) python bench/hostile_day_bench.py
	$(RUN) python bench/soak_bench.py

clean:
	rm -rf $(VENV) $(TOOLS) demo-lake .pytest_cache .mypy_cache .ruff_cache
