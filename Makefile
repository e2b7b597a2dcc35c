# SiteWatch: `make run` serves the sample city at http://127.0.0.1:5000; `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# The map page's JavaScript (deck.gl from npm, bundled into viewer/static/vendor; git-ignored).
VIEWER := viewer/static/vendor/.built-from

.PHONY: run test bench lint system-deps system-deps-test clean

run: system-deps $(STAMP) $(VIEWER)
	$(BIN)/sitewatch demo

test: system-deps-test $(STAMP) $(VIEWER)
	$(BIN)/pytest

bench: system-deps-test $(STAMP)
	$(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python bench/ogc_items.py
	$(BIN)/python bench/ingest.py

lint: $(STAMP)
	$(BIN)/pip install -q -e '.[lint]'
	$(BIN)/ruff check spatial bim sensors tiles viewer api tests bench
	$(BIN)/mypy spatial api

system-deps:
	@bash scripts/system-deps.sh run

system-deps-test:
	@bash scripts/system-deps.sh test

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "SiteWatch needs Python 3.11 (found %d.%d); set PYTHON=python3.11" % sys.version_info[:2])'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

$(VIEWER): viewer/package.json viewer/package-lock.json viewer/js/deck-entry.js
	bash scripts/build-viewer.sh

clean:
	rm -rf $(VENV) *.egg-info build
