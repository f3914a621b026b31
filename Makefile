# Set-up and the two entry commands of the README: `make run` and `make test`.
# Both create or reuse .venv at the repo root and (re)install when pyproject.toml changes.

VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml setup.py proto/eco2/character/v1/character.proto | cksum | cut -d' ' -f1)
MSG    ?= 페트병 어떻게 버려?
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install run chat test lint typecheck unit system-deps bench proto clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml setup.py proto/eco2/character/v1/character.proto | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(STAMP)

run: install
	$(BIN)/eco2 serve --host $(HOST) --port $(PORT)

chat: install
	$(BIN)/eco2 chat "$(MSG)"

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests

typecheck: install
	$(BIN)/mypy src

system-deps:
	scripts/ensure-system-deps.sh

unit: install system-deps
	$(BIN)/pytest -q

test: lint typecheck unit

bench: install
	$(BIN)/eco2 bench classify
	$(BIN)/eco2 bench retrieval

proto: install
	$(BIN)/python src/eco2/infrastructure/integrations/character_grpc/codegen.py

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
