# seismo: `make demo` and `make test` each build .venv from the pinned lock file.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
WORKSPACE ?= seismo-workspace
DEMO_DAYS ?= 30
DEMO_PER_DAY ?= 3000

.PHONY: demo test check bench clean venv

$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.3
	$(BIN)/pip install --quiet -r requirements.lock
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/seismo demo --workspace $(WORKSPACE) --days $(DEMO_DAYS) --per-day $(DEMO_PER_DAY)

test: $(STAMP)
	$(BIN)/python -m pytest -n 3 -q --durations=15

check: $(STAMP)
	$(BIN)/ruff check seismo tests bench
	$(BIN)/ruff format --check seismo tests bench
	$(BIN)/mypy seismo

clean:
	rm -rf $(VENV) $(WORKSPACE) .pytest_cache .hypothesis
