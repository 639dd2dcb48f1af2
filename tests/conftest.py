"""Shared helpers: the fixture submissions under tests/submissions/<assignment>/; which tests run serially."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest

from worker.assignments import get_assignment

# Fixtures of the service tests (database, API, workers): app, client, people, postgres_url, ...
pytest_plugins = ["service_fixtures"]

SUBMISSIONS = Path(__file__).parent / "submissions"
FILES = {"svm": "linear_svm.py", "softmax": "softmax.py", "two_layer_net": "neural_net.py",
         # 2021+ edition: a fixture is a folder with the two files students submit
         "fc_net": ("layers.py", "fc_net.py")}


def expected(assignment: str) -> dict[str, dict]:
    return tomllib.loads((SUBMISSIONS / assignment / "expected.toml").read_text())


def fixture_files(assignment: str, name: str) -> dict[str, bytes]:
    spec = FILES[assignment]
    if isinstance(spec, tuple):
        return {f: (SUBMISSIONS / assignment / name / f).read_bytes() for f in spec}
    return {spec: (SUBMISSIONS / assignment / f"{name}.py").read_bytes()}


def fixtures(kind: str) -> list[tuple[str, str]]:
    out = []
    for assignment in FILES:
        for name, spec in expected(assignment).items():
            if spec["kind"] == kind:
                out.append((assignment, name))
    return out


@pytest.fixture(scope="session")
def assignments():
    return {a: get_assignment(a) for a in FILES}


# --------------------------------------------------------------------------- serial and parallel tests
#
# `make test` runs the suite in two phases: first `pytest -n 2 -m "not serial"` (pytest-xdist; each worker has its
# own PostgreSQL databases, Redis database index and key prefixes, temp dirs and free ports: service_fixtures.py),
# then `pytest -m serial`: the modules below, one test at a time and alone on the machine. A module belongs here
# when it observes or changes state of the whole machine (files in the shared folders, every process, the sandbox's
# slots and cgroups, the PostgreSQL and Redis servers' connections), or when it asserts wall-clock bounds that hold
# on an idle machine only. The reason is given for each; a new module that does either goes in this list.
SERIAL_MODULES = {
    # Snapshots before and after every attack: files in /tmp, /var/tmp, /dev/shm, /run and the project tree
    # (test-artifacts/ included), every process and System V IPC object of the machine, and the PostgreSQL and
    # Redis servers' connection counters; another test running meanwhile fails it.
    "test_hostile.py",
    # The hostile fixtures: a slot held less than 60 s and the flood stopped within 15 s (wall clock), the jobs'
    # processes found through /proc, and attacks that look for other slots' jobs, cgroups and shared files.
    "test_hostile_fixtures.py",
    # Restarts and flushes a redis-server, terminates PostgreSQL backends and counts the active ones
    # (pg_stat_activity); leases of 8 s and time limits of 6-7 s that a loaded machine blows through.
    "test_faults.py",
    # Holds every free sandbox slot of the machine (so two servers must share the last one) and reads the slots'
    # cgroup files; jobs started and killed within 0.5 s.
    "test_sandbox.py",
    # Real workers: `grader dev` stopped, then every process it started must be gone within seconds; a worker
    # SIGKILLed mid-grading and the lease expiring; a broker that is down must fail a submit within 10 s.
    "test_e2e.py",
    # A real worker on PostgreSQL and Redis: graded and shown within 45 s of the upload (below the 80 s lease).
    "test_e2e_hostile_output.py",
}

# In the parallel phase (`--dist loadfile`) a module's tests run together on one worker, so its module-scoped
# fixtures (a browser site, a course on PostgreSQL) are made once; but the tests of these modules are spread one by
# one over the workers, which then finish together: many independent gradings each, no module-scoped fixture, no
# order between their tests (see pytest_xdist_make_scheduler below).
SPREAD_MODULES = {"test_fixture_submissions.py", "test_bad_submissions.py"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "serial: run alone on the machine, never beside other tests (tests/conftest.py)")


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.name in SERIAL_MODULES:
            item.add_marker(pytest.mark.serial)


@pytest.hookimpl(tryfirst=True)  # before any fixture of the test is set up
def pytest_runtest_setup(item: pytest.Item) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER") and item.get_closest_marker("serial"):
        pytest.fail(f"{item.path.name} must run alone (SERIAL_MODULES in tests/conftest.py): "
                    "run it without -n, or with -m 'not serial' beside -n", pytrace=False)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile`, except that the tests of SPREAD_MODULES are units of their own. (xdist's `loadgroup` would
    do it with marks, but its group suffix on the node ids has no effect on pytest 9.2's node ids.)"""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SpreadingLoadFileScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return nodeid if module.rsplit("/", 1)[-1] in SPREAD_MODULES else module

    return SpreadingLoadFileScheduling(config, log)
