"""The engine's report (DESIGN.md's JSON) turned into what a page shows, one test at a time.

Takes a report that was already masked for its reader
(:func:`grader.reports.student_view` for students), so nothing hidden can
reach a template from here. Every string stays plain text: Jinja escapes it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from grader.dashboard.charts import fmt, heatmap_svg

# Details shown by their own part of the page (the rest goes to the "numbers" list).
_SHOWN = {"error", "tolerance", "metric", "worst", "param", "axis_names", "error_map", "column_max_error",
          "wrong_entries", "entries", "hint", "student", "expected", "seconds", "traceback"}
_LABELS = {"reg": "regularisation", "kind": "kind of failure", "exception": "exception", "shape": "your shape",
           "expected_shape": "expected shape", "final_loss": "final loss", "threshold": "threshold",
           "modified": "modified inputs", "keys": "keys", "wrong": "wrong entries", "value": "value"}


@dataclass
class Comparison:
    """A measured error against its tolerance."""

    error: float
    tolerance: float
    metric: str

    @property
    def ratio_text(self) -> str:
        if self.tolerance <= 0 or not math.isfinite(self.error):
            return ""
        if self.error <= self.tolerance:
            return "within the tolerance"
        ratio = self.error / self.tolerance
        if ratio < 100:
            return f"{ratio:.3g} × the tolerance"
        return f"{math.log10(ratio):.1f} orders of magnitude over the tolerance"

    @property
    def gauge(self) -> float:
        """Where the error sits on a log scale from tolerance/1000 (0) to tolerance*1e6 (1); the mark is at 1/3."""
        if self.error <= 0 or self.tolerance <= 0:
            return 0.0
        if not math.isfinite(self.error):
            return 1.0
        t = (math.log10(self.error / self.tolerance) + 3) / 9
        return min(1.0, max(0.0, t))

    @property
    def passed(self) -> bool:
        return math.isfinite(self.error) and self.error <= self.tolerance


@dataclass
class WorstEntry:
    location: list[tuple[str, int]]
    student: str
    expected: str
    rel_error: str


@dataclass
class Probe:
    where: str
    analytic: str
    numeric: str
    rel_error: str


@dataclass
class ProbeGroup:
    label: str
    probes: int
    max_rel_error: str
    worst: list[Probe]


@dataclass
class TestView:
    id: str
    name: str
    status: str  # passed | failed | error | hidden
    score: float | None
    max_score: float
    visibility: str
    output: str
    hint: str = ""
    comparison: Comparison | None = None
    scalar: tuple[str, str] | None = None  # (yours, expected) for a single number
    param: str = ""
    axis_names: list[str] = field(default_factory=list)
    worst: list[WorstEntry] = field(default_factory=list)
    wrong_entries: int | None = None
    entries: int | None = None
    heatmap: Markup | None = None
    column_max_error: list[str] = field(default_factory=list)
    probe_groups: list[ProbeGroup] = field(default_factory=list)
    numbers: list[tuple[str, str]] = field(default_factory=list)
    seconds: float | None = None

    @property
    def masked(self) -> bool:
        return self.status == "hidden"

    @property
    def has_details(self) -> bool:
        return bool(self.comparison or self.worst or self.heatmap or self.probe_groups or self.numbers
                    or self.scalar)


@dataclass
class ReportView:
    status: str
    title: str
    score: float | None
    max_score: float | None
    output: str
    tests: list[TestView]
    error: str = ""
    error_kind: str = ""
    hidden_tests: int = 0
    hidden_max_score: float = 0.0
    seed: int | None = None
    grader_version: str = ""
    execution_time: float | None = None
    student_output: str | None = None
    student_output_dropped: int = 0

    @property
    def counts(self) -> dict[str, int]:
        out = {"passed": 0, "failed": 0, "error": 0, "hidden": 0}
        for t in self.tests:
            out[t.status] = out.get(t.status, 0) + 1
        return out

    @property
    def percent(self) -> float | None:
        if self.score is None or not self.max_score:
            return None
        return 100.0 * self.score / self.max_score


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _num_text(value: Any) -> str:
    number = _number(value)
    return fmt(number) if number is not None else _text(value)


def _short(value: Any) -> str | None:
    """A compact text for a detail's value, or None when it is too big to be worth showing."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return fmt(float(value)) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value if len(value) <= 200 else value[:200] + "…"
    if isinstance(value, list) and len(value) <= 12 and all(isinstance(v, (int, float, str)) for v in value):
        return ", ".join(_short(v) or "" for v in value)
    if isinstance(value, list) and len(value) <= 8 and all(isinstance(v, dict) for v in value):
        return "; ".join(", ".join(f"{k} {_short(v)}" for k, v in item.items() if _short(v) is not None)
                         for item in value)
    return None


def _probe_group(label: str, data: dict[str, Any]) -> ProbeGroup:
    worst = []
    for probe in data.get("worst_probes", [])[:5]:
        if not isinstance(probe, dict):
            continue
        index = probe.get("index")
        where = f"entry [{', '.join(str(i) for i in index)}]" if isinstance(index, list) else "a random direction"
        worst.append(Probe(where, _num_text(probe.get("analytic")), _num_text(probe.get("numeric")),
                           _num_text(probe.get("rel_error"))))
    return ProbeGroup(label, int(_number(data.get("probes")) or 0), _num_text(data.get("max_rel_error")), worst)


def test_view(test: dict[str, Any], *, uid: str) -> TestView:
    details = test.get("details") or {}
    if not isinstance(details, dict):
        details = {}
    output = _text(test.get("output"))
    hint = _text(details.get("hint"))
    if hint and output.endswith(f"Hint: {hint}"):
        output = output[: -len(f"Hint: {hint}")].rstrip()  # the hint gets its own box
    score = test.get("score")
    view = TestView(id=_text(test.get("id")) or uid, name=_text(test.get("name")), status=_text(test.get("status")),
                    score=None if score is None else float(score), max_score=float(test.get("max_score") or 0),
                    visibility=_text(test.get("visibility")) or "visible", output=output, hint=hint)
    if view.masked:
        return view
    error, tolerance = _number(details.get("error")), _number(details.get("tolerance"))
    if error is not None and tolerance is not None:
        view.comparison = Comparison(error, tolerance, _text(details.get("metric")) or "error")
    if "student" in details and "expected" in details and not details.get("worst"):
        view.scalar = (_short(details["student"]) or "", _short(details["expected"]) or "")
    view.param = _text(details.get("param"))
    axes = details.get("axis_names")
    view.axis_names = [str(a) for a in axes] if isinstance(axes, list) else []
    for w in details.get("worst") or []:
        if not isinstance(w, dict) or not isinstance(w.get("index"), list):
            continue
        names = view.axis_names or [f"axis {k}" for k in range(len(w["index"]))]
        view.worst.append(WorstEntry(location=list(zip(names, (int(i) for i in w["index"]))),
                                     student=_num_text(w.get("student")), expected=_num_text(w.get("expected")),
                                     rel_error=_num_text(w.get("rel_error"))))
    if isinstance(details.get("wrong_entries"), int):
        view.wrong_entries = details["wrong_entries"]
    if isinstance(details.get("entries"), int):
        view.entries = details["entries"]
    if isinstance(details.get("error_map"), dict):
        worst_index = (details.get("worst") or [{}])[0].get("index") if details.get("worst") else None
        view.heatmap = heatmap_svg(details["error_map"], axis_names=view.axis_names or ["row", "column"],
                                   param=view.param or None, worst=worst_index, uid=f"heatmap-{uid}")
    if isinstance(details.get("column_max_error"), list):
        view.column_max_error = [_num_text(v) for v in details["column_max_error"][:64]]
    seconds = _number(details.get("seconds"))
    view.seconds = seconds
    for key, value in details.items():
        if key in _SHOWN:
            continue
        if isinstance(value, dict) and "worst_probes" in value:
            view.probe_groups.append(_probe_group(key, value))
            continue
        text = _short(value)
        if text is not None:
            view.numbers.append((_LABELS.get(key, key.replace("_", " ")), text))
    return view


def report_view(report: dict[str, Any]) -> ReportView:
    """The page's view of a report (already masked for the reader)."""
    tests = [test_view(t, uid=f"t{k}") for k, t in enumerate(report.get("tests") or [])]
    score, max_score = report.get("score"), report.get("max_score")
    dropped = report.get("student_output_truncated_bytes")
    return ReportView(
        status=_text(report.get("status")) or "error",
        title=_text(report.get("title") or report.get("assignment")),
        score=None if score is None else float(score),
        max_score=None if max_score is None else float(max_score),
        output=_text(report.get("output")),
        tests=tests,
        error=_text(report.get("error")),
        error_kind=_text(report.get("error_kind")),
        hidden_tests=int(report.get("hidden_tests") or 0),
        hidden_max_score=float(report.get("hidden_max_score") or 0.0),
        seed=report.get("seed") if isinstance(report.get("seed"), int) else None,
        grader_version=_text(report.get("grader_version")),
        execution_time=_number(report.get("execution_time")),
        student_output=report.get("student_output") if isinstance(report.get("student_output"), str) else None,
        student_output_dropped=int(dropped) if isinstance(dropped, int) else 0,
    )
