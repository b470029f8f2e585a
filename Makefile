# userops: `make help` lists the targets. Needs only python3, pip, cargo and make.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
PROPTEST_CASES ?= 64

# Files whose change needs a new build of the extension module.
comma := ,
NATIVE_SOURCES := $(shell find crates -name '*.rs' -o -name Cargo.toml 2>/dev/null) Cargo.toml Cargo.lock pyproject.toml
BUILD_STAMP := $(VENV)/.native-built

.PHONY: help requirements build demo test test-rust test-python test-long bench bench-scale clippy fmt clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(VENV)/bin/python:
	python3 -m venv $(VENV)

# The build tool and the `test` extra of pyproject.toml (keep the two lists in step).
$(STAMP): $(VENV)/bin/python pyproject.toml
	$(PYTHON) -m pip install 'maturin>=1.7,<2' pytest 'pyarrow>=15' polars pandas duckdb numpy tqdm mypy \
		'matplotlib>=3.7' nbformat nbclient ipykernel ipywidgets 'dask[distributed]>=2024.1' 'pyspark>=3.5'
	@touch $@

requirements: $(STAMP) ## Create .venv and install the build and test requirements

$(BUILD_STAMP): $(STAMP) $(NATIVE_SOURCES)
	source $(VENV)/bin/activate && maturin develop --release
	@touch $@

build: $(BUILD_STAMP) ## Build the extension (release) and install the package into .venv

demo: build ## Write report.html of the demo shop and print its headline numbers (`userops demo`)
	$(VENV)/bin/userops demo

test-rust: ## Run the Rust tests of the default members (PROPTEST_CASES=64 unless set)
	PROPTEST_CASES=$(PROPTEST_CASES) cargo test

test-python: build ## Run the Python tests against the release build
	$(PYTHON) -m pytest -q tests; status=$$?; \
	if [ $$status -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; fi; exit $$status

test: test-rust test-python ## Run every test: Rust (with the law suite), then Python

test-long: ## Run every test with PROPTEST_CASES=2000
	$(MAKE) test PROPTEST_CASES=2000

SCALE_EVENTS ?= 50M,100M,200M
bench: build ## Run the benchmarks (bench/run.py), then the scale case: every plugin over SCALE_EVENTS from Parquet
	$(PYTHON) bench/run.py
	$(PYTHON) bench/scale.py --events $(SCALE_EVENTS)

bench-scale: build ## The scale case, each plugin alone and a merge of 1000 states (bench/scale.py)
	$(PYTHON) bench/scale.py --events $(SCALE_EVENTS) --per-plugin $(firstword $(subst $(comma), ,$(SCALE_EVENTS))) --merge 1000x100k

clippy: ## Lint the Rust code (all crates, warnings are errors)
	cargo clippy --workspace --all-targets -- -D warnings

fmt: ## Format the Rust code
	cargo fmt --all

clean: ## Remove .venv and the built extension (`cargo clean` empties target/)
	rm -rf $(VENV) python/userops/_native.*.so
