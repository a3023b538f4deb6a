# Two commands on a fresh machine: `make demo` (main job) and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/pip --disable-pip-version-check -q

.PHONY: install index demo test test-fast eval bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip 2>&1 | grep -v "is ignored" || true
	# torch first and pinned: otherwise pip pulls a multi-GB CUDA build
	$(PIP) install torch==2.13.0 2>&1 | grep -v "is ignored" || true
	$(PIP) install -c constraints.txt -e '.[dev]' 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -c "import bot, torch, sentence_transformers, chromadb, bm25s" 
	touch $(STAMP)

index: install
	$(BIN)/triage index

demo: install
	$(BIN)/triage index
	$(BIN)/triage ask "Is Istio supported?"
	$(BIN)/triage ask "Is Helm supported?"
	$(BIN)/triage ask "What's the price of a node?"

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

eval: install
	$(BIN)/triage eval evals/dev.jsonl

clean:
	rm -rf index/CURRENT index/builds index/.lock .pytest_cache
