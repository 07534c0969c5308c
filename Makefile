# Set-up and the two main jobs. `make quickstart` and `make test` work on a fresh machine:
# they create .venv, install the CPU torch pin first (when no torch is present), then edgebench.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PIN ?= torch==2.13.0
STAMP := $(VENV)/.edgebench-installed

.PHONY: setup quickstart smoke test lint clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install --quiet "$(TORCH_PIN)"
	$(BIN)/python -m pip install --quiet -e ".[offline-model,flower,dev]"
	touch $(STAMP)

setup: $(STAMP)

quickstart: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/edgebench run runners/configs/quickstart.yaml --report

smoke: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/edgebench run runners/configs/smoke.yaml

test: $(STAMP)
	$(BIN)/lint-imports
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check edgebench tests

clean:
	rm -rf $(VENV) build *.egg-info
