# On a fresh machine: `make run` (the server, demo page and widget at http://127.0.0.1:8000/),
# `make test` (everything, browser tests included) and `make demo` (the CLI on three questions).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/pip --disable-pip-version-check -q

.PHONY: install index demo run test test-fast chromium eval bench-batch bench load clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --upgrade pip 2>&1 | grep -v "is ignored" || true
	# torch first and pinned: otherwise pip pulls a multi-GB CUDA build
	$(PIP) install torch==2.13.0 2>&1 | grep -v "is ignored" || true
	$(PIP) install -c constraints.txt -e '.[dev]' 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -c "import bot, torch, sentence_transformers, chromadb, bm25s, onnxruntime, tokenizers"
	# the embedding model as ONNX, once (models/onnx/): answers then never import torch
	$(BIN)/python -c "from bot.engine.embed import export_onnx; export_onnx()"
	touch $(STAMP)

index: install
	$(BIN)/triage index

demo: install
	$(BIN)/triage index
	$(BIN)/triage ask "Is Istio supported?"
	$(BIN)/triage ask "Is Helm supported?"
	$(BIN)/triage ask "What's the price of a node?"

run: install
	$(BIN)/triage serve --host 127.0.0.1 --port 8000

# The browser tests drive Debian's chromium (/usr/bin/chromium) through Playwright. If it
# cannot be installed they fail and say why (BOT_SKIP_BROWSER=1 skips them on purpose).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y --no-install-recommends chromium; } \
	  || echo "warning: could not install chromium; the browser tests will fail"

test: install chromium
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

eval: install
	$(BIN)/triage eval evals/dev.jsonl

bench-batch: install  # triage classify vs raw SentenceTransformer.encode on evals/tickets.csv
	$(BIN)/python evals/bench_batch.py

bench: install
	$(BIN)/python evals/bench_api.py

load: install  # 32 clients of mixed traffic against triage serve, 30 s warm-up + 60 s; fails on errors or RSS growth > 10 %
	$(BIN)/python evals/load_test.py

clean:
	rm -rf index/CURRENT index/builds index/.lock .pytest_cache
