# The two commands of the README: `make run` and `make test`. Both install what they need first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test bench install clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

install: $(BIN)/.installed

# Grade the sample submissions with the embedded defaults (no server needed).
run: install
	$(BIN)/grader assignments
	$(BIN)/grader grade svm tests/submissions/svm/bug_half_reg.py --seed 1
	$(BIN)/grader check two_layer_net assignments/two_layer_net/starter/neural_net.py --seed 1

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/bench_grading.py

clean:
	rm -rf $(VENV)
