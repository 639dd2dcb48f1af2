"""What a report shows to whom.

Instructors see the engine's report as it is. Students see it masked:

- a ``hidden`` test, and an ``after_due_date`` test until the deadline has
  passed, keeps its name, id, visibility and points (``max_score``) but loses
  its score, status (``"hidden"``), output and details;
- the report's ``score``/``max_score`` add up the shown tests only, with the
  masked points in ``hidden_max_score``, and the summary line counts shown
  tests only (a total would give the hidden results away by subtraction);
- what the student's code printed and the timings are dropped while any test
  is masked, since prints and time spent inside a hidden test are details of
  it (``grader check`` shows the prints locally). Timing is a covert channel
  (code that sleeps in proportion to a hidden input): the report's
  ``execution_time`` and ``student_time`` are dropped, each visible test keeps
  its own ``seconds`` only if it ran before the first masked test (its time
  cannot depend on a hidden input then), and the submission's ``finished_at``
  is given to the minute. What stays observable is when the status changes
  (polling); the README's Security section says what that leaves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

MASKED_STATUS = "hidden"
_DROPPED_WHEN_MASKED = ("student_output", "student_output_truncated_bytes", "student_time", "execution_time")


def is_masked(test: dict[str, Any], *, deadline_passed: bool) -> bool:
    visibility = test.get("visibility", "visible")
    return visibility == "hidden" or (visibility == "after_due_date" and not deadline_passed)


def student_view(report: dict[str, Any], *, deadline_passed: bool, deadline: datetime | None = None
                 ) -> dict[str, Any]:
    """The report as a student may see it (a new dict; the stored report is unchanged)."""
    view = {k: v for k, v in report.items() if k != "tests"}
    tests: list[dict[str, Any]] = []
    masked_points = 0.0
    masked_count = 0
    for test in report.get("tests", []):
        if not is_masked(test, deadline_passed=deadline_passed):
            shown_test = dict(test)
            if masked_count and isinstance(test.get("details"), dict) and "seconds" in test["details"]:
                # Ran after a masked test, in the same student process: its time could carry a hidden input.
                shown_test["details"] = {k: v for k, v in test["details"].items() if k != "seconds"}
            tests.append(shown_test)
            continue
        masked_count += 1
        masked_points += float(test.get("max_score", 0))
        if test.get("visibility") == "hidden":
            note = "Hidden test: it counts toward your grade, but its result is not shown."
        elif deadline is not None:
            note = f"Shown after the deadline ({deadline.isoformat()})."
        else:
            note = "Shown after the deadline."
        tests.append({"id": test.get("id"), "name": test.get("name"), "score": None,
                      "max_score": test.get("max_score"), "status": MASKED_STATUS,
                      "visibility": test.get("visibility"), "output": note, "details": {}})
    view["tests"] = tests
    if not masked_count:
        return view
    shown = [t for t in tests if t["status"] != MASKED_STATUS]
    view["score"] = round(sum(float(t.get("score") or 0) for t in shown), 4)
    view["max_score"] = round(sum(float(t.get("max_score") or 0) for t in shown), 4)
    view["hidden_tests"] = masked_count
    view["hidden_max_score"] = round(masked_points, 4)
    for key in _DROPPED_WHEN_MASKED:
        view.pop(key, None)
    if report.get("status") == "graded":
        passed = sum(1 for t in shown if t.get("status") == "passed")
        view["output"] = (f"{passed} of {len(shown)} shown tests passed; {masked_count} hidden "
                          f"test{'s' if masked_count != 1 else ''} ({masked_points:g} points) not shown.")
    return view


def submission_dict(submission: Any, *, instructor: bool, policy: Any, now: datetime,
                    with_report: bool = True) -> dict[str, Any]:
    """A submission as the API (and the pages) show it to a student or an instructor.

    ``policy`` is the assignment's :class:`~grader.policy.Policy` (for late days and masking).
    """
    out: dict[str, Any] = {
        "id": submission.id,
        "assignment": submission.assignment_id,
        "user": submission.user.email,
        "status": submission.status,
        "attempts": submission.attempts,
        "created_at": _iso(submission.created_at),
        "started_at": _iso(submission.started_at),
        "finished_at": _iso(submission.finished_at),
        "files": [f.filename for f in submission.files] if with_report else None,
        "late_days": policy.late_days(submission.created_at),
        "error": submission.error,
        "score": None,
        "max_score": None,
    }
    if out["files"] is None:
        del out["files"]
    report = submission.latest_report if submission.status in ("graded", "error") else None
    data = report.data if report is not None else None
    if data is not None and not instructor:
        data = student_view(data, deadline_passed=policy.deadline_passed(now), deadline=policy.deadline)
    if data is not None:
        out["score"], out["max_score"] = data.get("score"), data.get("max_score")
        if "hidden_max_score" in data:
            out["hidden_max_score"] = data["hidden_max_score"]
            if submission.finished_at is not None:  # coarse: the grading's length depends on the hidden tests
                out["finished_at"] = _iso(submission.finished_at.replace(second=0, microsecond=0))
    if instructor and submission.score is not None:
        out["adjusted_score"] = round(submission.score * policy.penalty_factor(submission.created_at), 4)
    if with_report:
        out["report"] = data
    return out


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
