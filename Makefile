# The two commands a user needs: `make run` and `make test`. Both set up .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: run test soak lint bench report openapi contracts clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "paynode needs Python >= 3.11"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/paynode up

# Test modules run in parallel (pytest-xdist, one module per worker at a time: module-scoped devnets
# stay whole); most of a test's time is spent waiting on a devnet or a subprocess, not on a core.
TEST_WORKERS ?= 3
test: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile -m "not soak" $(PYTEST_ARGS)

# The long scenarios (load with two replicas, faults under load): CI runs them after `make test`.
soak: $(STAMP)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile -m soak $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: $(STAMP)
	@scripts=$$(ls bench/*.py 2>/dev/null); [ -n "$$scripts" ] || { echo "no benchmarks yet"; exit 0; }; \
	for script in $$scripts; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# Every benchmark, then BENCHMARKS.md from their figures
report: $(STAMP)
	$(BIN)/python bench/report.py

# Recompile the on-chain contracts (pinned OpShin, -O3) into contracts/build/
contracts: $(STAMP)
	$(BIN)/python -m contracts.build

openapi: $(STAMP)
	$(BIN)/python -m node.openapi > openapi.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
