# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test venv bench clean real-data

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.14.1 torchvision==0.29.1 || $(BIN)/pip install -q "torch>=2.1,<2.15" "torchvision>=0.16,<0.30"
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/i2pmae demo

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python benchmarks/ops.py

# The real-mesh corpus (issue 23, ~1.5 GB of Debian packages -> $I2PMAE_CACHE/real-corpus). apt-get download
# needs apt's package lists (`apt-get update`); without apt: make real-data REAL_CORPUS_ARGS="--debs DIR".
REAL_CORPUS_ARGS ?= --download
real-data: $(STAMP)
	$(BIN)/python scripts/build_real_corpus.py $(REAL_CORPUS_ARGS)

clean:
	rm -rf $(VENV) demo runs
