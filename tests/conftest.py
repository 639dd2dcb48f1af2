"""Shared helpers: the fixture submissions under tests/submissions/<assignment>/."""

from __future__ import annotations

import tomllib
from pathlib import Path

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
