# gridgis — every target bootstraps .venv itself.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG ?= sample_data/gridgis.toml

.PHONY: demo test bench lint clean install

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## make demo: build the demo database from sample_data/ and serve the map on http://127.0.0.1:8000
demo: $(STAMP)
	$(BIN)/gridgis --config $(CONFIG) demo

## make test: the whole suite
test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## make bench: the performance scripts (print figures; never assertions); bench/*.py without a main are their parts
bench: $(STAMP)
	@for f in $$(grep -l '__main__' bench/*.py); do echo "== $$f"; $(BIN)/python $$f || exit 1; done

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/ruff check gridgis webmap tests bench sample_data

clean:
	rm -rf $(VENV) var .pytest_cache
