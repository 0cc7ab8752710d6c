# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
RASA := RASA_TELEMETRY_ENABLED=false LOG_LEVEL_LIBRARIES=ERROR TF_CPP_MIN_LOG_LEVEL=3 SQLALCHEMY_SILENCE_UBER_WARNING=1 $(BIN)/rasa
TRAINING_FILES := config.yml domain.yml $(shell find data -name '*.yml' 2>/dev/null)
MODEL := models/prescreen.tar.gz
NODE_MODULES := node_modules/.package-lock.json

.PHONY: run run-cluster nginx-deps test install node-modules model lint validate test-unit test-stories test-nlu test-e2e test-browser test-postgres browser-deps clean

run: install $(MODEL) .env $(NODE_MODULES)
	$(BIN)/python -m bot run

# The replicated deployment: Rasa replicas and action servers behind nginx, on PostgreSQL and
# Redis (set them in .env: the '--- cluster ---' lines of .env.example; docs/scaling.md).
run-cluster: install $(MODEL) .env $(NODE_MODULES) nginx-deps
	$(BIN)/python -m bot run-cluster

nginx-deps:
	scripts/install-nginx

test: install $(MODEL) lint validate test-unit test-postgres test-stories test-nlu test-e2e

install: $(VENV)/.installed

# pip's and the trainer's pages of output go to a log file; the terminal gets one line a step,
# and the log's last lines when a step fails.
LOG_DIR := var/log
INSTALL_LOG := $(LOG_DIR)/install.log
TRAIN_LOG := $(LOG_DIR)/train.log

$(VENV)/.installed: pyproject.toml constraints.txt
	@mkdir -p -m 700 $(LOG_DIR)
	@PY=$$(scripts/find-python310) || exit 1; \
	  if [ -x $(BIN)/python ]; then \
	    echo "updating the Python packages in $(VENV) (pyproject.toml or constraints.txt changed; log: $(INSTALL_LOG))..."; \
	  else \
	    echo "installing Python packages into $(VENV) with $$PY (first run only: a few minutes; log: $(INSTALL_LOG))..."; \
	    $$PY -m venv $(VENV) || exit 1; \
	  fi; \
	  { $(BIN)/python -m pip install --progress-bar off --upgrade pip wheel && \
	    $(BIN)/python -m pip install --progress-bar off -c constraints.txt -e '.[dev]'; } > $(INSTALL_LOG) 2>&1 \
	  || { echo "installing the Python packages failed; the end of $(INSTALL_LOG):"; tail -n 25 $(INSTALL_LOG); exit 1; }
	@echo "Python packages installed"
	@touch $@

.env:
	cp .env.example .env

# The study page's browser files (socket.io-client), from the npm registry, served by the site.
node-modules: $(NODE_MODULES)
$(NODE_MODULES): package.json package-lock.json
	npm ci --no-audit --no-fund --ignore-scripts
	@touch $@

# Make retrains only when the training data or the config changed.
model: $(MODEL)
$(MODEL): $(VENV)/.installed $(TRAINING_FILES)
	@mkdir -p -m 700 $(LOG_DIR)
	@echo "training the model (config.yml, domain.yml or data/ changed; about a minute on 2 cores; log: $(TRAIN_LOG))..."
	@start=$$(date +%s); \
	  $(RASA) train --fixed-model-name prescreen --out models --quiet > $(TRAIN_LOG) 2>&1 \
	  || { echo "training failed; the end of $(TRAIN_LOG):"; tail -n 30 $(TRAIN_LOG); exit 1; }; \
	  echo "model trained in $$(( $$(date +%s) - start )) s: $(MODEL)"
	@touch $@

lint: install
	$(BIN)/ruff check bot actions channels tests bench scripts

validate: install
	$(RASA) data validate --fail-on-warnings
	$(BIN)/python -m bot check-trials

test-unit: install
	$(BIN)/pytest -m "not e2e and not browser" -q

# The store tests again, on the PostgreSQL these machines run (127.0.0.1:5432, trust auth).
POSTGRES_URL ?= postgresql+psycopg2://postgres@127.0.0.1:5432/test
test-postgres: install
	$(BIN)/pytest -m "not e2e and not browser" -q --database-url $(POSTGRES_URL) \
	  tests/test_schema.py tests/test_actions.py tests/test_mail_and_queue.py tests/test_outbox.py tests/console \
	  tests/test_erasure.py tests/test_retention.py tests/test_notes_store.py

test-stories: $(MODEL)
	$(RASA) test core --model $(MODEL) --stories tests/stories --fail-on-prediction-errors --out results/stories

# The held-out patient phrasings, never used in training, per language, on the one bilingual
# model; accuracy goes in docs/benchmarks.md. Each must reach 0.95.
test-nlu: $(MODEL)
	$(RASA) test nlu --model $(MODEL) --nlu tests/nlu/heldout.yml --out results/nlu
	$(BIN)/python scripts/nlu_accuracy.py results/nlu/intent_report.json 0.95 en
	$(RASA) test nlu --model $(MODEL) --nlu tests/nlu/heldout_zh.yml --out results/nlu_zh
	$(BIN)/python scripts/nlu_accuracy.py results/nlu_zh/intent_report.json 0.95 zh

# The real stack, started once: REST, Telegram and Twilio stand-ins, and headless Chromium on the
# study page and the console (screenshots land in artifacts/screenshots/).
test-e2e: $(MODEL) browser-deps nginx-deps $(NODE_MODULES)
	$(BIN)/pytest -m "e2e" -q

browser-deps:
	scripts/install-chromium

# Only the headless-Chromium tests.
test-browser: $(MODEL) browser-deps $(NODE_MODULES)
	$(BIN)/pytest -m "browser" -q

clean:
	rm -rf results models var/log
