# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
RASA := RASA_TELEMETRY_ENABLED=false LOG_LEVEL_LIBRARIES=ERROR TF_CPP_MIN_LOG_LEVEL=3 SQLALCHEMY_SILENCE_UBER_WARNING=1 $(BIN)/rasa
TRAINING_FILES := config.yml domain.yml $(shell find data -name '*.yml' 2>/dev/null)
MODEL := models/prescreen.tar.gz

.PHONY: run test install model lint validate test-unit test-stories test-nlu test-e2e clean

run: install $(MODEL) .env
	$(BIN)/python -m bot run

test: install $(MODEL) lint validate test-unit test-stories test-nlu test-e2e

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	@PY=$$(scripts/find-python310) || exit 1; \
	  echo "using $$PY"; \
	  [ -x $(BIN)/python ] || $$PY -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip wheel
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

.env:
	cp .env.example .env

# Make retrains only when the training data or the config changed.
model: $(MODEL)
$(MODEL): $(VENV)/.installed $(TRAINING_FILES)
	$(RASA) train --fixed-model-name prescreen --out models --quiet
	@touch $@

lint: install
	$(BIN)/ruff check bot actions tests bench

validate: install
	$(RASA) data validate --fail-on-warnings
	$(BIN)/python -m bot check-trials

test-unit: install
	$(BIN)/pytest -m "not e2e and not browser" -q

test-stories: $(MODEL)
	$(RASA) test core --model $(MODEL) --stories tests/stories --fail-on-prediction-errors --out results/stories

# The held-out patient phrasings, never used in training; accuracy goes in docs/benchmarks.md.
test-nlu: $(MODEL)
	$(RASA) test nlu --model $(MODEL) --nlu tests/nlu/heldout.yml --out results/nlu
	$(BIN)/python scripts/nlu_accuracy.py results/nlu/intent_report.json 0.95

test-e2e: $(MODEL)
	$(BIN)/pytest -m "e2e" -q

clean:
	rm -rf results models var/log
