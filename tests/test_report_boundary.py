"""The trusted side's boundary: what the child sends becomes a report that is strict JSON of safe text,
PostgreSQL stores it, and what the grader itself does wrong is never the student's.

* Property tests (hypothesis): arbitrary text and floats, as prints, messages, type names and numbers in
  details, go through report building (the engine's own ``_result`` and the boundary's ``safe_report``)
  and storage in real PostgreSQL; the stored report reads back unchanged, is strict JSON, and no string
  in it carries a control (other than newline and tab) or bidi character.
* A report the database refuses (bypassing the sanitiser) ends its submission in ``error`` with the
  reason at once: no lease wait, no retry.
* Compiler warnings are captured and capped, not written to the grader's stderr; a crash in a check
  shows the student an incident id, never the grader's traceback or paths; the grader's own CPU over its
  budget is reported as the grader's failure, not the student's.
"""

from __future__ import annotations

import json
import math
import re
import time
from pathlib import Path
from typing import Any

import os
import tempfile

import pytest

# Hypothesis keeps caches in .hypothesis/ of the working directory: not in the project tree (the hostile
# suite watches that tree for files a job might have written).
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "grader-hypothesis"))

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from service_fixtures import People, make_app, postgres_url, svm_file  # noqa: F401 - postgres_url is a fixture
from worker.assignments import TestSpec
from worker.engine import _result, check_syntax, grade, prepare_files
from worker.sandbox.sanitize import safe_report, safe_text

ROOT = Path(__file__).resolve().parents[1]
# Independent of the implementation's pattern on purpose.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
                    "\ud800-\udfff]")


def _strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _strings(v)


def _numbers(value: Any):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _numbers(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _numbers(v)


def assert_clean(report: Any) -> None:
    json.dumps(report, allow_nan=False)
    for text in _strings(report):
        assert UNSAFE.search(text) is None, repr(text[:300])
        text.encode("utf-8")
    for number in _numbers(report):
        assert math.isfinite(number) and abs(number) <= 2**63 if isinstance(number, int) else math.isfinite(number)


def same(a: Any, b: Any) -> bool:
    """Equal as JSON values: PostgreSQL's JSONB keeps numbers as decimals, so 2.6e16 may read back as an int."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return float(a) == float(b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def _spec() -> Any:
    fields = TestSpec.__dataclass_fields__
    values = {"id": "t", "name": "a test", "check": "c", "points": 2.0, "visibility": "visible", "public": True,
              "params": {}}
    return TestSpec(**{k: v for k, v in values.items() if k in fields})


TEXT = st.text(alphabet=st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF), max_size=300)
FLOAT = st.floats(allow_nan=True, allow_infinity=True)
NUMBER = st.one_of(FLOAT, st.integers(min_value=-(10**400), max_value=10**400))
DETAILS = st.recursive(st.one_of(TEXT, NUMBER, st.none(), st.booleans()),
                       lambda inner: st.one_of(st.lists(inner, max_size=4),
                                               st.dictionaries(TEXT, inner, max_size=4)), max_leaves=12)


def _report(output: str, student_output: str, details: dict[str, Any], score: float) -> dict[str, Any]:
    test = _result(_spec(), 0.0, "failed", output, details)
    test["score"] = score
    return {"assignment": "svm", "title": "t", "score": score, "max_score": 2.0, "execution_time": 0.1, "seed": 1,
            "grader_version": "x", "mode": "grade", "status": "graded", "tests": [test], "output": output,
            "student_output": student_output, "student_output_truncated_bytes": 0, "student_time": 0.0,
            "sandbox": "test"}


@given(text=TEXT)
@settings(database=None)
def test_safe_text_escapes_every_unsafe_character_visibly_and_is_idempotent(text: str) -> None:
    out = safe_text(text)
    assert UNSAFE.search(out) is None
    out.encode("utf-8")
    assert safe_text(out) == out
    for ch in set(text):
        if UNSAFE.match(ch):
            code = ord(ch)
            assert (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}") in out  # visible, not dropped
        elif ch not in "\\":
            assert ch in out


def test_safe_text_caps_sizes() -> None:
    out = safe_text("\x00" * 50_000, 1000)
    assert out.startswith("\\x00" * 250) and len(out) < 1100 and out.endswith("more characters cut]")
    assert len(safe_text("a" * 300_000)) < 100_100


@given(output=TEXT, student_output=TEXT, details=st.dictionaries(TEXT, DETAILS, max_size=5), score=FLOAT)
@settings(max_examples=60, deadline=None, database=None)
def test_report_building_makes_strict_json_of_safe_text(output: str, student_output: str,
                                                         details: dict[str, Any], score: float) -> None:
    report = safe_report(_report(output, student_output, details, score))
    assert_clean(report)
    assert safe_report(report) == report


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory, postgres_url: str):  # noqa: F811
    from grader.models import User

    app = make_app(tmp_path_factory.mktemp("pg"), DATABASE_URL=postgres_url)
    people = People(app)
    people.add("prof", role="instructor")
    state = app.extensions["grader"]

    def new_claim() -> Any:
        from grader import submissions

        with state.db.session() as session:
            user = session.get(User, people.ids["prof"])
            sub = submissions.submit(session, state.settings, user, "svm", [("linear_svm.py", svm_file())], None)
            claim = submissions.claim(session, state.settings, sub.id, "boundary-test")
            assert claim is not None
            return claim

    yield app, state, people, new_claim
    state.db.engine.dispose()


@given(output=TEXT, student_output=TEXT, details=st.dictionaries(TEXT, DETAILS, max_size=4), score=FLOAT)
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_built_report_is_stored_by_postgresql_unchanged(pg, output: str, student_output: str,
                                                            details: dict[str, Any], score: float) -> None:
    from grader import submissions
    from grader.models import Report

    app, state, people, new_claim = pg
    report = safe_report(_report(output, student_output, details, score))
    claim = new_claim()
    with state.db.session() as session:
        assert submissions.finish(session, claim, report)
    with state.db.session() as session:
        (row,) = session.query(Report).filter_by(submission_id=claim.submission_id).all()
        assert same(row.data, json.loads(json.dumps(report))), (row.data, report)
        assert row.results[0].output == report["tests"][0]["output"]


@pytest.fixture(scope="module")
def launcher():
    import os

    from worker.sandbox.hardened import ForkServerLauncher

    assert os.geteuid() == 0, "the sandbox's full layers need root (CI runs as root)"
    launcher = ForkServerLauncher()
    launcher.start()
    yield launcher
    launcher.close()


HOSTILE_PRINTER = """
import sys as _sys
_correct = svm_loss_naive
_calls = [0]


def svm_loss_naive(W, X, y, reg):
    _calls[0] += 1
    print(TEXT)
    _sys.stderr.write(TEXT)
    if _calls[0] == 1:
        raise ValueError(TEXT)
    loss, dW = _correct(W, X, y, reg)
    return (LOSS if _calls[0] == 2 else loss), dW
"""


@given(text=TEXT, loss=FLOAT)
@settings(max_examples=12, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_arbitrary_prints_messages_and_losses_through_the_sandbox_and_postgresql(pg, launcher, text: str,
                                                                                 loss: float) -> None:
    """The whole path: a submission prints arbitrary text, raises it as an exception message and returns an
    arbitrary float as its loss; the engine's report is strict JSON of safe text, and PostgreSQL stores it."""
    from grader import submissions
    from grader.models import Report

    app, state, people, new_claim = pg
    source = svm_file().decode() + HOSTILE_PRINTER.replace("TEXT", repr(text)).replace("LOSS", f"float({str(loss)!r})")
    report = grade("svm", {"linear_svm.py": source}, seed=7, mode="check", launcher=launcher)
    assert report["status"] == "graded", report.get("output")
    assert_clean(report)
    claim = new_claim()
    with state.db.session() as session:
        assert submissions.finish(session, claim, report)
    with state.db.session() as session:
        (row,) = session.query(Report).filter_by(submission_id=claim.submission_id).all()
        assert same(row.data, json.loads(json.dumps(report)))


def test_a_report_the_database_refuses_ends_the_submission_in_error_at_once(pg) -> None:
    """Issue 16: a report PostgreSQL refuses (here one that skipped the sanitiser: a NUL) kept the row
    `running` until its lease expired, then was retried. Now the submission ends in `error` at once."""
    from grader.models import Submission
    from worker.tasks import store_report

    app, state, people, new_claim = pg
    claim = new_claim()
    poisoned = _report("fine", "a NUL: \x00", {}, 1.0)  # not sanitised on purpose
    started = time.monotonic()
    assert store_report(state, claim, poisoned) is None
    assert time.monotonic() - started < 5
    with state.db.session() as session:
        sub = session.get(Submission, claim.submission_id)
        assert sub.status == "error" and sub.lease_expires is None and sub.attempts == 1, (sub.status, sub.error)
        assert sub.error.startswith("the grading report could not be stored: DataError"), sub.error
        assert "\x00" not in sub.error


def test_compile_warnings_are_captured_and_capped(capfd: pytest.CaptureFixture[str]) -> None:
    """Issue 16: 100,000 SyntaxWarnings wrote 10 MB to the grader's stderr; now they are counted, the first
    20 kept in the report."""
    from worker.assignments import get_assignment

    source = "X = [\n" + '    "\\d",\n' * 30_000 + "]\n" + svm_file().decode()
    capfd.readouterr()
    warnings: dict[str, Any] = {}
    prepare_files(get_assignment("svm"), {"linear_svm.py": source}, warnings)
    err = capfd.readouterr().err
    assert len(err) < 1000, f"{len(err)} bytes on stderr: {err[:200]!r}"
    assert warnings["linear_svm.py"]["count"] == 30_000
    assert len(warnings["linear_svm.py"]["first"]) == 20
    assert warnings["linear_svm.py"]["first"][0].startswith("line 2: ")
    check_syntax("x.py", "x = '\\d'\n")  # without a sink: still nothing on stderr
    assert capfd.readouterr().err == ""


def test_a_crash_in_a_check_shows_an_incident_id_not_the_grader_traceback(monkeypatch, caplog) -> None:
    from worker import assignments

    real = assignments.Assignment.check_function

    def broken(self: Any, spec: Any) -> Any:
        if spec.id == "naive_loss_at_zero":
            def crash(ctx: Any) -> None:
                raise FileNotFoundError(f"{ROOT}/worker/checks/secret_file.py")
            return crash
        return real(self, spec)

    monkeypatch.setattr(assignments.Assignment, "check_function", broken)
    report = grade("svm", {"linear_svm.py": svm_file()}, seed=3, mode="check")
    test = {t["id"]: t for t in report["tests"]}["naive_loss_at_zero"]
    assert test["status"] == "error" and test["details"]["kind"] == "internal"
    assert "traceback" not in test["details"] and str(ROOT) not in json.dumps(report)
    assert "secret_file" not in json.dumps(report) and "Traceback" not in json.dumps(report)
    incident = test["details"]["incident"]
    assert re.fullmatch(r"[0-9a-f]{12}", incident) and f"(incident {incident})" in test["output"]
    assert any(incident in r.getMessage() and r.exc_info for r in caplog.records), "the log must keep the traceback"


def test_the_graders_own_cpu_over_budget_is_the_graders_failure(monkeypatch) -> None:
    """The grader's own computation (e.g. source analysis) past its CPU budget: the report says the
    grader failed; no test is lost by the student and the student's time limit is not what is blamed."""
    from worker import assignments

    real = assignments.Assignment.check_function
    burnt: list[float] = []

    def slow(self: Any, spec: Any) -> Any:
        if spec.id == "vectorized_no_loops":
            def burn(ctx: Any) -> None:
                start = time.process_time()
                try:
                    while time.process_time() < start + 5:
                        pass
                finally:
                    burnt.append(time.process_time() - start)
            return burn
        return real(self, spec)

    monkeypatch.setattr(assignments.Assignment, "check_function", slow)
    report = grade("svm", {"linear_svm.py": svm_file()}, seed=3, mode="check", trusted_cpu_seconds=0.5)
    # CPU time, not the grading's wall time (which a loaded machine stretches): the burn was cut at its budget.
    assert len(burnt) == 1 and burnt[0] < 2.5, burnt
    assert report["status"] == "error" and report["error_kind"] == "grader", report.get("output")
    assert "not of your code" in report["output"] and "time limit" not in report["output"]
    assert_clean(report)
