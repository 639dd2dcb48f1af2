"""Correct submissions in several styles get full marks; every known bug loses points where it should.

The fixtures and what each must produce are in tests/submissions/<assignment>/expected.toml.
"""

from __future__ import annotations

import pytest

from conftest import expected, fixture_files, fixtures
from worker.engine import grade

SEEDS = (11, 2024)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("assignment", "name"), fixtures("correct"))
def test_correct_submission_gets_full_marks(assignment, name, seed):
    report = grade(assignment, fixture_files(assignment, name), seed=seed)
    assert report["status"] == "graded"
    not_passed = [(t["name"], t["output"]) for t in report["tests"] if t["status"] != "passed" and t["max_score"] > 0]
    assert not not_passed, not_passed
    assert report["score"] == report["max_score"] > 0


@pytest.mark.parametrize(("assignment", "name"), fixtures("correct"))
def test_correct_submission_passes_the_offline_check(assignment, name):
    report = grade(assignment, fixture_files(assignment, name), seed=5, mode="check")
    assert report["status"] == "graded"
    assert report["score"] == report["max_score"] > 0
    assert all(t["status"] == "passed" for t in report["tests"] if t["max_score"] > 0)


@pytest.mark.parametrize(("assignment", "name"), fixtures("bug"))
def test_bug_loses_points_in_a_test_naming_the_function(assignment, name):
    spec = expected(assignment)[name]
    report = grade(assignment, fixture_files(assignment, name), seed=3)
    assert report["status"] == "graded"
    assert report["score"] < report["max_score"]
    lost = [t for t in report["tests"] if t["score"] < t["max_score"]]
    for function in spec["functions"]:
        named = [t for t in lost if t["name"].startswith(function + ":") or function in t["output"]]
        assert named, f"no failing test names {function}: {[t['name'] for t in lost]}"
    if spec.get("hint"):
        keyword = spec["hint"].lower()
        hints = [t["output"].lower() for t in lost]
        assert any(keyword in h for h in hints), f"no hint mentions {keyword!r}: {hints}"


# Regularised biases are a consistent loss and gradient of a different (wrong) loss: only the
# reference can tell, so the offline self-check cannot catch it.
NEEDS_REFERENCE = {("two_layer_net", "bug_reg_on_biases")}


@pytest.mark.parametrize(("assignment", "name"), [f for f in fixtures("bug") if f not in NEEDS_REFERENCE])
def test_bug_is_caught_by_the_offline_check_too(assignment, name):
    """`grader check` has no reference, yet its known values and consistency checks catch these bugs."""
    report = grade(assignment, fixture_files(assignment, name), seed=4, mode="check")
    assert report["status"] == "graded"
    assert report["score"] < report["max_score"], [t["name"] for t in report["tests"]]
