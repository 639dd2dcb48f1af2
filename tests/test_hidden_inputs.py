"""Hidden tests draw their inputs from a server-side key as well as the seed (issue 10, item 4).

A student sees the report's seed and has the package: with the seed alone they could rebuild a
hidden test's inputs. Visible tests must stay reproducible from the seed (``grader check --seed``),
and instructors must reproduce any report exactly with the same key.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from worker import hidden_key
from worker.assignments import assignments_root
from worker.engine import _test_rng, grade


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An assignment whose tests report the first number their generator draws (no student call)."""
    root = tmp_path / "assignments"
    shutil.copytree(assignments_root(), root)
    folder = root / "probe"
    (folder / "starter").mkdir(parents=True)
    (folder / "assignment.toml").write_text(textwrap.dedent('''
        title = "Probe"
        files = ["probe.py"]
        [[tests]]
        id = "shown"
        name = "a visible test"
        points = 1
        public = true
        [[tests]]
        id = "secret"
        name = "a hidden test"
        points = 1
        visibility = "hidden"
        [[tests]]
        id = "later"
        name = "a test shown after the deadline"
        points = 1
        visibility = "after_due_date"
    '''))
    (folder / "reference.py").write_text("X = 1\n")
    (folder / "tests.py").write_text(textwrap.dedent('''
        from worker.checks.context import Outcome

        def _draw(ctx):
            value = float(ctx.rng.random())
            shared = ctx.memo("shared", lambda: float(ctx.rng.random()))
            return Outcome("drew", {"value": value, "ctx_seed": ctx.seed, "shared": shared})

        shown = secret = later = _draw
    '''))
    (folder / "starter" / "probe.py").write_text("X = 1\n")
    monkeypatch.setenv("GRADER_ASSIGNMENTS_DIR", str(root))
    monkeypatch.setenv("GRADER_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("GRADER_SECRET_KEY", raising=False)
    monkeypatch.setenv("GRADER_HIDDEN_KEY", "course key one")
    return "probe"


def _details(assignment: str, seed: int) -> dict[str, dict]:
    report = grade(assignment, {"probe.py": "X = 1\n"}, seed=seed)
    assert report["status"] == "graded", report
    return {t["id"]: t["details"] for t in report["tests"]}


def _values(assignment: str, seed: int) -> dict[str, float]:
    return {tid: d["value"] for tid, d in _details(assignment, seed).items()}


def test_hidden_tests_see_a_keyed_seed_and_share_no_memo_with_visible_ones(probe):
    details = _details(probe, 99)
    assert details["shown"]["ctx_seed"] == 99
    assert details["secret"]["ctx_seed"] != 99 and details["secret"]["ctx_seed"] == details["later"]["ctx_seed"]
    # A memo a visible test filled is not what a hidden test gets (it would be the seed's), and back.
    assert details["secret"]["shared"] != details["shown"]["shared"]
    assert details["later"]["shared"] == details["secret"]["shared"]


def test_hidden_inputs_cannot_be_rebuilt_from_the_seed_and_the_package(probe, monkeypatch):
    seed = 1234
    first = _values(probe, seed)
    # What a student computes at home from the seed in their report and the public code:
    at_home = {tid: float(_test_rng(seed, tid).random()) for tid in first}
    assert first["shown"] == at_home["shown"]  # visible tests: the seed is enough (grader check --seed)
    assert first["secret"] != at_home["secret"]
    assert first["later"] != at_home["later"]
    # The instructor (same key) reproduces the report exactly; regrades too.
    assert _values(probe, seed) == first
    monkeypatch.setenv("GRADER_HIDDEN_KEY", "course key two")
    other = _values(probe, seed)
    assert other["shown"] == first["shown"] and other["secret"] != first["secret"]


def test_the_key_comes_from_the_secret_key_or_a_private_instance_file(tmp_path, monkeypatch):
    monkeypatch.delenv("GRADER_HIDDEN_KEY", raising=False)
    monkeypatch.setenv("GRADER_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("GRADER_SECRET_KEY", "a production secret of some length")
    from_secret = hidden_key.hidden_key()
    monkeypatch.setenv("GRADER_SECRET_KEY", "another production secret, longer")
    assert hidden_key.hidden_key() != from_secret
    monkeypatch.delenv("GRADER_SECRET_KEY")
    generated = hidden_key.hidden_key()
    path = tmp_path / "instance" / hidden_key.KEY_FILE
    assert path.is_file() and stat.S_IMODE(os.stat(path).st_mode) == 0o600
    hidden_key._key.cache_clear()
    assert hidden_key.hidden_key() == generated  # kept: later gradings and `grader grade --seed` agree
    assert generated.hex() not in os.environ.values()


def test_grader_grade_seed_in_another_process_reproduces_a_workers_hidden_inputs(probe, tmp_path, monkeypatch):
    """What an instructor does: `grader grade --seed N` (another process, the workers' configuration) gives
    the report of a worker's grading exactly, hidden tests included. Here neither GRADER_HIDDEN_KEY nor a
    secret key is set, so the two processes must agree through the instance's key file."""
    monkeypatch.delenv("GRADER_HIDDEN_KEY")
    hidden_key._key.cache_clear()
    worker_report = grade(probe, {"probe.py": "X = 1\n"})  # as a worker grades: a random seed
    assert worker_report["status"] == "graded", worker_report
    source = tmp_path / "probe.py"
    source.write_text("X = 1\n")
    run = subprocess.run([sys.executable, "-c", "from grader.cli import main; main()", "grade", probe, str(source),
                          "--seed", str(worker_report["seed"]), "--json"],
                         capture_output=True, text=True, timeout=600, env=dict(os.environ))
    assert run.returncode == 0, run.stderr[-2000:]
    again = json.loads(run.stdout)
    assert again["seed"] == worker_report["seed"]

    def drawn(report: dict) -> dict[str, dict]:  # what each test drew (its time is the machine's)
        return {t["id"]: {k: v for k, v in t["details"].items() if k != "seconds"} for t in report["tests"]}

    assert drawn(again) == drawn(worker_report)
    assert drawn(again)["secret"]["value"] != float(_test_rng(worker_report["seed"], "secret").random())
