# The two commands of the README: `make run` and `make test`. Both install what they need first.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: run test bench bench-embedded bench-load bench-gradebook install browser clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server,test]'
	touch $@

install: $(BIN)/.installed

# The whole product on this machine with the embedded defaults (SQLite, a serverless broker, a Celery
# worker, the web app); prints the URL and the demo logins. PORT=5001 make run for another port.
PORT ?= 5000
run: install
	$(BIN)/grader dev --port $(PORT)

# The browser tests drive the system's Chromium (Debian's package; Playwright downloads nothing here).
CHROMIUM ?= /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  echo "installing chromium for the browser tests (apt-get)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; \
	}

# The suite in two phases, both always run (either failing fails `make test`; each prints its own summary):
# 1. every test that may run beside others, on TEST_WORKERS processes (pytest-xdist; a module's tests on one process,
#    so its module-scoped fixtures are made once, but for SPREAD_MODULES in tests/conftest.py; each process has its
#    own databases, Redis database index, temp dirs and ports);
# 2. the modules that touch the whole machine or assert wall-clock bounds (SERIAL_MODULES in tests/conftest.py),
#    one test at a time and alone. Pytest options for both phases: `make test PYTEST_ARGS="-x"`.
TEST_WORKERS ?= 2
PYTEST_ARGS ?=
test: install browser
	@parallel=0; serial=0; \
	echo "make test: phase 1, the tests that may run beside others, on $(TEST_WORKERS) processes"; \
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile -m "not serial" $(PYTEST_ARGS) || parallel=$$?; \
	echo "make test: phase 2, the serial modules alone (phase 1 exited with $$parallel)"; \
	$(BIN)/python -m pytest -m serial $(PYTEST_ARGS) || serial=$$?; \
	if [ $$parallel -ne 0 ] || [ $$serial -ne 0 ]; then \
	  echo "make test: FAILED (phase 1, in parallel: exit $$parallel; phase 2, serial: exit $$serial)"; exit 1; \
	fi

bench: install
	$(BIN)/python bench/bench_grading.py
	$(BIN)/python bench/bench_embedded.py

# Need PostgreSQL (GRADER_BENCH_POSTGRES_URL, default the tests' server); bench-load also redis-server and root.
bench-load: install
	$(BIN)/python bench/bench_load.py

bench-gradebook: install
	$(BIN)/python bench/bench_gradebook.py

clean:
	rm -rf $(VENV)
