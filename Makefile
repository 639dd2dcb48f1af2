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

test: install browser
	$(BIN)/python -m pytest

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
