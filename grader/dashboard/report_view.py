"""The engine's report (DESIGN.md's JSON) turned into what a page shows, one test at a time.

Takes a report that was already masked for its reader
(:func:`grader.reports.student_view` for students), so nothing hidden can
reach a template from here. Every string stays plain text: Jinja escapes it.

Besides each test's own view, the page gets an order to fix things in
(:func:`fix_order`): failing tests are grouped by the function they test (the
part of a test's name before ``": "``), and ordered root cause first:

1. a crash (a test with status ``error``: the function raised) before everything, since nothing else
   about that function can be measured until it runs;
2. a function before the functions that depend on it: one whose name another function's test mentions
   ("svm_loss_vectorized: agrees with svm_loss_naive"), module-level functions (the layers) before a
   class's methods (the net built from them), and a class's ``__init__`` before its ``loss``, before
   ``predict`` and ``train``, which use it;
3. within a function, by the aspect the check measures: construction and shapes, then values (scores,
   loss), then gradients (a wrong loss makes the numerical-gradient checks fail after it), then side
   effects (modified inputs), then the vectorized version's own checks (agreement, loops, speed, size),
   then what uses the function (predict, train);
4. the report's own order last.

A failing test "may follow from" an earlier failing one when that one is upstream of it (same function
and an earlier aspect, or a function it depends on); the tests that follow from nothing are the roots.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Sequence

from markupsafe import Markup

from grader.dashboard.charts import fmt, heatmap_svg

# Details shown by their own part of the page (the rest goes to the "numbers" list).
_SHOWN = {"error", "tolerance", "metric", "worst", "param", "axis_names", "error_map", "column_max_error",
          "wrong_entries", "entries", "hint", "student", "expected", "seconds", "traceback",
          # Said by the message already ("Wrong in 10 of 10 input regimes: ...", the regime in its first line),
          # or for the course staff's statistics (the catalogue's names of the mistakes; the hint says it).
          "failed_regimes", "regime", "mistakes",
          "lines"}  # the loop check's most executed lines: its message names them, linked to the code
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


@dataclass(frozen=True)
class LineRef:
    """A line of the student's code that a message names: ``File "linear_svm.py", line 70`` or ``line 80``."""

    file: str | None  # None: the message names no file (the assignment's only file is meant)
    line: int


@dataclass(frozen=True)
class Segment:
    """A piece of a message: plain text, or the words naming a line of the student's code."""

    text: str
    ref: LineRef | None = None
    number: bool = False  # a number with a sign or an exponent ("-0.5", "8.1e-4"): never broken across lines


# What a check measures, in the order that fixes root causes first (see the module's docstring).
ASPECT_CRASH, ASPECT_SETUP, ASPECT_VALUE, ASPECT_GRADIENT, ASPECT_SIDE_EFFECTS, ASPECT_VECTORIZED, ASPECT_USE = range(7)
ASPECT_OTHER = ASPECT_SIDE_EFFECTS
ASPECTS = {ASPECT_CRASH: "crash", ASPECT_SETUP: "construction and shapes", ASPECT_VALUE: "values",
           ASPECT_GRADIENT: "gradients", ASPECT_SIDE_EFFECTS: "side effects",
           ASPECT_VECTORIZED: "vectorized version", ASPECT_USE: "use"}
_ASPECT_WORDS = [  # (aspect, words of a test id or check name), the first match wins
    (ASPECT_SIDE_EFFECTS, ("mutation", "mutates", "modif")),
    (ASPECT_VECTORIZED, ("agrees_with", "no_loops", "faster", "large_batch", "speed")),
    (ASPECT_USE, ("predict", "train")),
    (ASPECT_SETUP, ("init", "keys", "shapes")),
    (ASPECT_GRADIENT, ("grad", "backward", "numeric", "consistency")),
    (ASPECT_VALUE, ("loss", "scores", "forward", "known_value", "notebook", "stable", "at_zero", "reference",
                    "spec")),
]
# A class's methods in the order they depend on each other (train and predict call loss; all need __init__).
_METHOD_ORDER = {"__init__": 0, "loss": 1, "predict": 2, "train": 3}


def aspect_of(test_id: str, status: str, param: str = "") -> int:
    """What a test checks (an ``ASPECT_*``), from its id (which holds its check's name) and its details."""
    if status == "error":
        return ASPECT_CRASH
    words = test_id.lower()
    if "reg_known_value" in words or "known_values" in words:
        # One check of the loss and its gradient: the failing part is named by its param (dW, grads' W1).
        return ASPECT_GRADIENT if _is_gradient(param) else ASPECT_VALUE
    for aspect, keys in _ASPECT_WORDS:
        if any(k in words for k in keys):
            return aspect
    return ASPECT_OTHER


def _is_gradient(param: str) -> bool:
    return bool(re.fullmatch(r"d[A-Za-z]\w*|grads?(\[.*\])?|[Wb]\d+", param or ""))


def function_of(name: str) -> str:
    """The function a test is about: the part of its name before ": " ("svm_loss_naive", "TwoLayerNet.loss")."""
    head, sep, _ = name.partition(": ")
    return head.strip() if sep and head.strip() else ""


@dataclass
class Dependencies:
    """How an assignment's functions depend on each other, from its tests' names (see :func:`dependencies`)."""

    rank: dict[str, tuple[int, int]]  # function -> (depth in the dependencies, first appearance)
    uses: dict[str, set[str]]  # function -> the functions it is built from (its failures may follow from theirs)
    compared: dict[str, set[str]]  # function -> the functions some of its tests compare it with


def dependencies(functions: Sequence[str], names: dict[str, list[str]]) -> Dependencies:
    """Each function's place in the order to fix things, and what it depends on.

    ``names`` maps a function to its tests' names. ``B`` depends on ``A`` when one of ``B``'s tests names
    ``A`` after its colon (a comparison with it: only those tests follow from ``A``), when ``A`` is a
    module-level function and ``B`` a method (the class is built from the functions), or when both are
    methods of one class and ``A`` comes first in ``__init__``, ``loss``, ``predict``, ``train``.
    """
    uses: dict[str, set[str]] = {f: set() for f in functions}
    compared: dict[str, set[str]] = {f: set() for f in functions}
    for b in functions:
        for a in functions:
            if a == b or not a or not b:
                continue
            if any(re.search(rf"(?<![\w.]){re.escape(a)}(?!\w)", n.partition(": ")[2]) for n in names.get(b, [])):
                compared[b].add(a)
            a_method, b_method = "." in a and "," not in a, "." in b and "," not in b
            same_class = a_method and b_method and a.split(".")[0] == b.split(".")[0]
            if (b_method and not a_method) or (same_class and _METHOD_ORDER.get(a.split(".")[-1], 9)
                                               < _METHOD_ORDER.get(b.split(".")[-1], 9)):
                uses[b].add(a)
    depth: dict[str, int] = {}

    def depth_of(f: str, seen: frozenset[str]) -> int:
        if f not in depth:
            ups = [depth_of(a, seen | {f}) + 1 for a in uses[f] | compared[f] if a not in seen]
            depth[f] = max(ups, default=0)
        return depth[f]

    for f in functions:
        depth_of(f, frozenset())
    return Dependencies({f: (depth[f], k) for k, f in enumerate(functions)}, uses, compared)


def may_follow(deps: Dependencies, earlier: TestView, later: TestView) -> bool:
    """Whether ``later``'s failure may be a consequence of ``earlier``'s.

    In one function: a crash, wrong construction, values or gradients feed every later aspect (a wrong loss
    makes the numerical-gradient check fail); side effects (modified inputs) are independent of the answers,
    either way, and follow only from a crash. Across functions: the failures
    of a function another is built from, and those of a function a test compares with (for that test).
    """
    if earlier.aspect == ASPECT_SIDE_EFFECTS or (later.aspect == ASPECT_SIDE_EFFECTS
                                                 and earlier.aspect != ASPECT_CRASH):
        return False  # modifying the inputs neither causes nor comes from a wrong answer
    if earlier.function == later.function:
        return earlier.aspect < later.aspect
    if earlier.function in deps.uses.get(later.function, set()):
        return True
    return earlier.function in deps.compared.get(later.function, set()) and bool(
        re.search(rf"(?<![\w.]){re.escape(earlier.function)}(?!\w)", later.name.partition(": ")[2]))


def fix_order(tests: Sequence[TestView]) -> list[TestView]:
    """The failing tests (failed or crashed) in the order to fix them, each with the test it may follow from."""
    failing = [t for t in tests if t.status in ("failed", "error")]
    functions = list(dict.fromkeys(t.function for t in tests if not t.masked))
    names: dict[str, list[str]] = {}
    for t in tests:
        names.setdefault(t.function, []).append(t.name)
    deps = dependencies(functions, names)
    index = {id(t): k for k, t in enumerate(tests)}
    ranked = sorted(failing, key=lambda t: (t.aspect != ASPECT_CRASH, deps.rank.get(t.function, (0, 0)), t.aspect,
                                            index[id(t)]))
    for k, t in enumerate(ranked):
        t.follows = next((r for r in ranked[:k] if may_follow(deps, r, t)), None)
    return ranked


@dataclass
class FunctionSummary:
    """One line of the report's summary: what is wrong with one function."""

    function: str
    anchor: str
    failing: list[TestView]  # in the order to fix them
    root: TestView  # the first of them
    message: str  # what is wrong, in one line

    @property
    def message_parts(self) -> list[Segment]:
        return number_segments(self.message)

    @property
    def follows(self) -> TestView | None:
        """The other function's failing test this function's first failure may follow from."""
        return self.root.follows if self.root.follows is not None and self.root.follows.function != self.function \
            else None


_LINE_RE = re.compile(r'File "(?P<file>[^"\n]{1,300})", line (?P<line>\d{1,7})|\blines? (?P<bare>\d{1,7})\b')


_NUMBER_RE = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?[eE][-+]?\d+(?![\w.])|(?<![\w.])-\d+(?:\.\d+)?(?![\w.])")


def number_segments(text: str) -> list[Segment]:
    """``text`` cut so that each number with a sign or an exponent is a piece of its own (the page keeps it
    on one line: a browser may otherwise break "8.1e-4" after its hyphen)."""
    parts: list[Segment] = []
    at = 0
    for m in _NUMBER_RE.finditer(text):
        if m.start() > at:
            parts.append(Segment(text[at:m.start()]))
        parts.append(Segment(m.group(0), number=True))
        at = m.end()
    if at < len(text):
        parts.append(Segment(text[at:]))
    return parts


def segments(text: str) -> tuple[list[Segment], list[LineRef]]:
    """``text`` cut into plain pieces, numbers (:func:`number_segments`) and the pieces that name a line of
    the student's code."""
    parts: list[Segment] = []
    refs: list[LineRef] = []
    at = 0
    for m in _LINE_RE.finditer(text):
        ref = LineRef(m.group("file"), int(m.group("line"))) if m.group("line") else LineRef(None, int(m.group("bare")))
        if ref.line < 1:
            continue
        if m.start() > at:
            parts.extend(number_segments(text[at:m.start()]))
        parts.append(Segment(m.group(0), ref))
        refs.append(ref)
        at = m.end()
    if at < len(text):
        parts.extend(number_segments(text[at:]))
    return parts, refs


def gist(test: TestView, limit: int = 160) -> str:
    """What is wrong, in one line: the hint's first sentence, else the output's first line; without a
    closing parenthesis of detail when that makes it long (the test's own section has the whole text)."""
    text = test.hint or test.output.split("\n", 1)[0]
    if test.hint:
        cut = re.search(r"\.\s+(?=\(|[A-Z])", text)  # the first sentence (hints add detail in later ones)
        if cut:
            text = text[:cut.start() + 1]
    text = " ".join(text.split())
    text = text.rstrip(".")
    if len(text) > 110 and ": " in text[30:]:
        # A catalogued mistake: "Your dW equals what you get when you <do this>: <fix>"; the mistake is enough.
        text = text[:30 + text[30:].index(": ")]
    if len(text) > 100 and text.endswith(")"):
        # Drop a closing parenthesis of detail: "dW is missing 2*reg*W (the loss has ..., whose ...)".
        depth = 0
        for k in range(len(text) - 1, -1, -1):
            depth += {")": 1, "(": -1}.get(text[k], 0)
            if depth == 0:
                if k > 40 and text[k - 1] == " ":
                    text = text[:k - 1].rstrip(",;: ")
                break
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + " …"
    return text


def anchor_id(prefix: str, name: str) -> str:
    """A stable, readable id for a page section: ``fn-svm_loss_naive``, ``fn-TwoLayerNet-loss``."""
    slug = re.sub(r"[^A-Za-z0-9_]+", "-", name).strip("-") or "other"
    return f"{prefix}-{slug}"


def code_anchor(file: str, line: int) -> str:
    """The id of a line in the page's code panel (``code-linear_svm-py-L70``)."""
    return f"{anchor_id('code', file)}-L{line}"


def _strip_worst_lines(output: str) -> str:
    """The output without its "Worst:" list of entries, which the page shows as a table."""
    lines = output.split("\n")
    out: list[str] = []
    skipping = False
    for line in lines:
        if skipping and line.startswith("  "):
            continue
        skipping = False
        if line.endswith(" Worst:") or line == "Worst:":
            out.append(line[: -len("Worst:")].rstrip())
            skipping = True
            continue
        out.append(line)
    return "\n".join(out).rstrip()


_REGIMES_RE = re.compile(r"^Wrong in (\d+) of (\d+) input regimes: .*$", re.MULTILINE)


def _split_regimes(output: str) -> tuple[str, str, str]:
    """The output without its line listing the input regimes, that line, and a title for it that keeps what
    matters at a glance ("Wrong in 3 of 10 input regimes; wrong only at reg = 50 (right at 0, 0.1)")."""
    m = _REGIMES_RE.search(output)
    if not m:
        return output, "", ""
    line = m.group(0)
    title = f"Wrong in {m.group(1)} of {m.group(2)} input regimes"
    only = re.search(r"Wrong only at (reg = [^()]*\(right at [^)]*\))", line)
    if only:
        title += f"; wrong only at {only.group(1)}"
    rest = (output[:m.start()] + output[m.end():]).strip("\n")
    return re.sub(r"\n{2,}", "\n", rest), line, title


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
    function: str = ""  # the function the test is about: its name's part before ": "
    aspect: int = ASPECT_OTHER  # what the check measures (ASPECTS), for the order to fix things in
    output_parts: list[Segment] = field(default_factory=list)  # the output, "line N" as links to the code
    hint_parts: list[Segment] = field(default_factory=list)
    refs: list[LineRef] = field(default_factory=list)  # the student's lines the output or the hint names
    follows: TestView | None = None  # an earlier failing test this one may follow from
    regimes: str = ""  # "Wrong in 10 of 10 input regimes: ...": the list, folded under its first words
    regimes_title: str = ""

    @property
    def name_parts(self) -> list[Segment]:
        return number_segments(self.name)

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
    _failing: list[TestView] | None = field(default=None, repr=False)

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

    @property
    def failing(self) -> list[TestView]:
        """The failing tests in the order to fix them (:func:`fix_order`)."""
        if self._failing is None:
            self._failing = fix_order(self.tests)
        return self._failing

    @property
    def summary(self) -> list[FunctionSummary]:
        """One line per function with failing tests, in the order to fix them."""
        groups: dict[str, list[TestView]] = {}
        for t in self.failing:
            groups.setdefault(t.function, []).append(t)
        return [FunctionSummary(function=f, anchor=anchor_id("fn", f or "other"), failing=ts, root=ts[0],
                                message=gist(ts[0])) for f, ts in groups.items()]

    @property
    def passed(self) -> list[TestView]:
        """The tests that are not failing: passed ones, and hidden ones (their results are not shown)."""
        return [t for t in self.tests if t.status not in ("failed", "error")]

    def code_target(self, ref: LineRef | None, files: Sequence[str]) -> str | None:
        """The id of the code panel's line a reference names, or None when it is not one of ``files``."""
        if ref is None:
            return None
        name = _code_file(ref.file, files)
        return code_anchor(name, ref.line) if name is not None else None

    @staticmethod
    def code_target_for(file: str, line: int) -> str:
        """The id of line ``line`` of ``file`` in the code panel."""
        return code_anchor(file, line)

    def flagged_lines(self, file: str, files: Sequence[str]) -> dict[int, list[TestView]]:
        """The lines of ``file`` that a failing test's message names, each with those tests."""
        out: dict[int, list[TestView]] = {}
        for t in self.failing:
            for ref in t.refs:
                if _code_file(ref.file, files) == file and t not in out.setdefault(ref.line, []):
                    out[ref.line].append(t)
        return dict(sorted(out.items()))


def _code_file(named: str | None, files: Sequence[str]) -> str | None:
    """Which of the submission's files a message means: the one it names (a traceback may give a longer
    path ending in it), or the only file when it names none."""
    if named is None:
        return files[0] if len(files) == 1 else None
    named = named.replace("\\", "/")
    for f in files:
        if named == f or named.endswith("/" + f) or f.endswith("/" + named):
            return f
    return None


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
    view.function = function_of(view.name)
    if view.masked:
        view.output_parts = [Segment(output)]
        return view
    view.aspect = aspect_of(view.id, view.status, _text(details.get("param")))
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
    if view.worst:
        view.output = _strip_worst_lines(view.output)  # the table below shows them
    view.output, view.regimes, view.regimes_title = _split_regimes(view.output)
    view.output_parts, refs = segments(view.output)
    view.hint_parts, hint_refs = segments(view.hint)
    view.refs = list(dict.fromkeys(refs + hint_refs))
    for key, value in details.items():
        if key in _SHOWN:
            continue
        if isinstance(value, dict) and "worst_probes" in value:
            view.probe_groups.append(_probe_group(key, value))
            continue
        if key == "reg" and "reg = " in output:
            continue  # the message says at which reg already
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
