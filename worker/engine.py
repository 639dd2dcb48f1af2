"""The grading engine: ``grade(assignment, files) -> report``.

The engine is the trusted side of DESIGN.md's boundary. It validates the
uploaded files, parses them (never executes them), starts the student's code
in a child through a :class:`~worker.sandbox.Launcher`, runs the assignment's
checks (which generate inputs, call the student through the channel and
compare with the reference here), and builds the report. It needs neither
Flask nor a database.
"""

from __future__ import annotations

import ast
import hashlib
import logging
import re
import secrets
import signal
import threading
import time
import uuid
import warnings
from typing import Any, Iterator, Mapping
from contextlib import contextmanager

import numpy as np

from worker import __version__
from worker.assignments import Assignment, TestSpec, get_assignment
from worker.checks.context import CheckFailed, Context, Outcome, ReferenceUnavailable
from worker.sandbox import (
    Launcher,
    Limits,
    SandboxFailure,
    StudentCodeError,
    StudentError,
    StudentProcess,
    default_launcher,
)
from worker.sandbox.sanitize import safe_report, safe_text

log = logging.getLogger(__name__)

try:  # Celery's soft time limit, raised in the worker's pool process: it stops the grading, never one check
    from billiard.exceptions import SoftTimeLimitExceeded as _TaskTimeLimit
except ImportError:  # pragma: no cover - the engine without Celery installed
    class _TaskTimeLimit(Exception):  # type: ignore[no-redef]
        """Never raised."""

MAX_FILE_BYTES = 512 * 1024
MODES = ("grade", "check")
MAX_COMPILE_WARNINGS = 20  # kept per file; the rest are counted
TRUSTED_CPU_SECONDS = 60.0  # the grader's own CPU time (analysis, references) per check


class GraderBudgetExceeded(Exception):
    """The grader's own computation in one check used more than its CPU budget: the grader's failure."""


class SubmissionRejected(Exception):
    """The files cannot be graded at all (not Python, wrong name, ...). The message is for the student."""


# --------------------------------------------------------------------------- files


def decode_source(filename: str, data: bytes | str) -> str:
    """The file's text; a clear :class:`SubmissionRejected` when it is empty, too large, binary or not UTF-8."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogatepass")
    if len(data) > MAX_FILE_BYTES:
        raise SubmissionRejected(f"{filename} is {len(data)} bytes; the limit is {MAX_FILE_BYTES} bytes")
    if not data.strip():
        raise SubmissionRejected(f"{filename} is empty")
    if b"\x00" in data:
        raise SubmissionRejected(f"{filename} is a binary file, not Python source (it contains NUL bytes)")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SubmissionRejected(
            f"{filename} is not UTF-8 text (invalid byte 0x{data[exc.start]:02x} on line {line}); "
            "save the file as UTF-8"
        ) from None
    return text


_PY2_PATTERNS = [
    (re.compile(r"Missing parentheses in call to 'print'"), "print is a function in Python 3: write print(...)"),
    (re.compile(r"multiple exception types must be parenthesized"),
     "Python 2 syntax: write `except SomeError as e:` instead of `except SomeError, e:`"),
    (re.compile(r"Missing parentheses in call to 'exec'"), "exec is a function in Python 3: write exec(...)"),
]


class _WarningSink:
    """Compiler warnings of one file (``SyntaxWarning: invalid escape sequence``, ...): the first
    :data:`MAX_COMPILE_WARNINGS` kept as text, the rest counted, none written to the grader's stderr."""

    def __init__(self) -> None:
        self.kept: list[str] = []
        self.count = 0

    def __call__(self, message: Any, category: type, filename: str, lineno: int, file: Any = None,
                 line: str | None = None) -> None:
        self.count += 1
        if len(self.kept) < MAX_COMPILE_WARNINGS:
            self.kept.append(safe_text(f"line {lineno}: {category.__name__}: {message}", 500))


_warnings_lock = threading.Lock()  # warnings.catch_warnings changes process-wide state


@contextmanager
def _captured_warnings(sink: _WarningSink) -> Iterator[None]:
    with _warnings_lock, warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = sink
        yield


def check_syntax(filename: str, source: str, sink: _WarningSink | None = None) -> ast.Module:
    """Parse on the trusted side; a SyntaxError becomes a message with the line and a Python 2 hint.
    Compiler warnings go to ``sink`` (capped), never to the grader's stderr."""
    sink = sink if sink is not None else _WarningSink()
    try:
        # compile() also finds what only the compiler reports ('return' outside a function, ...);
        # it executes nothing.
        with _captured_warnings(sink):
            tree = ast.parse(source, filename=filename)
            # Compiling the tree (not the text again) also finds what only the compiler reports, without
            # tokenising twice (which would repeat every warning).
            compile(tree, filename, "exec", dont_inherit=True)
            return tree
    except SyntaxError as exc:
        where = f"{filename}, line {exc.lineno}" if exc.lineno else filename
        text = (exc.text or "").rstrip("\n")
        if not text and exc.lineno and 0 < exc.lineno <= len(source.splitlines()):
            text = source.splitlines()[exc.lineno - 1]
        message = f"{where}: SyntaxError: {exc.msg}"
        if text:
            message += f"\n    {text.strip()}"
        for pattern, hint in _PY2_PATTERNS:
            if pattern.search(exc.msg or ""):
                message += f"\nThis looks like Python 2 code; the grader runs Python 3. {hint}."
                break
        else:
            if "<>" in text or re.search(r"\bur?'|`", text):
                message += "\nThis looks like Python 2 code; the grader runs Python 3."
        raise SubmissionRejected(message) from None
    except (ValueError, RecursionError, MemoryError) as exc:
        raise SubmissionRejected(f"{filename} cannot be parsed as Python: {type(exc).__name__}: {exc}") from None


def match_file_names(assignment: Assignment, files: Mapping[str, bytes | str]) -> dict[str, bytes | str]:
    """Uploaded names -> the assignment's file paths: an expected path is itself, and a bare file name
    (``layers.py``, as browsers and the CLI send it) is the one expected file with that name
    (``cs231n/layers.py``). Any other name, a path included, keeps its name (and is refused)."""
    expected = assignment.files
    out: dict[str, bytes | str] = {}
    for name, data in files.items():
        key = name
        if name not in expected and "/" not in name and "\\" not in name:
            same = [f for f in expected if f.rsplit("/", 1)[-1] == name]
            if len(same) == 1:
                key = same[0]
        if key in out:
            raise SubmissionRejected(f"{key} was uploaded twice")
        out[key] = data
    return out


def prepare_files(assignment: Assignment, files: Mapping[str, bytes | str],
                  compile_warnings: dict[str, dict[str, Any]] | None = None,
                  ) -> tuple[dict[str, str], dict[str, ast.Module]]:
    """Validate the uploaded files: names, encoding, size, syntax. Returns sources and ASTs by module name;
    the compiler's warnings for each file go to ``compile_warnings`` (capped)."""
    expected = assignment.files
    files = match_file_names(assignment, files)
    unknown = [f for f in files if f not in expected]
    if unknown:
        bad = unknown[0]
        if "/" in bad or "\\" in bad:
            raise SubmissionRejected(f"file name {bad!r} contains a path; upload just {', '.join(expected)}")
        raise SubmissionRejected(f"unexpected file {bad!r}: assignment {assignment.id} expects "
                                 f"{', '.join(expected)}")
    missing = [f for f in expected if f not in files]
    if missing:
        raise SubmissionRejected(f"missing file {missing[0]} (assignment {assignment.id} expects "
                                 f"{', '.join(expected)})")
    sources, trees = {}, {}
    for filename in expected:
        module = assignment.module_names[filename]
        source = decode_source(filename, files[filename])
        sink = _WarningSink()
        trees[module] = check_syntax(filename, source, sink)
        sources[module] = source
        if sink.count and compile_warnings is not None:
            compile_warnings[filename] = {"count": sink.count, "first": sink.kept}
    return sources, trees


# --------------------------------------------------------------------------- hints for student errors

_NAME_HINTS = {
    "xrange": "xrange does not exist in Python 3: keep `from past.builtins import xrange` at the top of the file "
              "(as in the starter) or use range",
    "unicode": "unicode does not exist in Python 3: use str",
    "raw_input": "raw_input does not exist in Python 3: use input",
    "basestring": "basestring does not exist in Python 3: use str",
    "long": "long does not exist in Python 3: use int",
    "reduce": "reduce is not a builtin in Python 3: `from functools import reduce`",
}


def python3_hint(err: StudentCodeError, local: bool = False) -> str | None:
    """A hint for a student's error; ``local``: the offline check, which runs on the student's own Python."""
    msg = err.exc_message
    if err.exc_type == "NameError":
        m = re.search(r"name '(\w+)' is not defined", msg)
        if m and m.group(1) in _NAME_HINTS:
            return _NAME_HINTS[m.group(1)]
    if err.exc_type == "AttributeError" and re.search(r"has no attribute '(iteritems|itervalues|iterkeys|has_key)'", msg):
        return "dict.iteritems()/has_key() are Python 2: use .items() and `key in d`"
    if err.exc_type == "TypeError" and "cannot be interpreted as an integer" in msg:
        return "in Python 3, / always gives a float; use // for integer division (e.g. in range() or indices)"
    if err.exc_type in ("ModuleNotFoundError", "ImportError"):
        m = re.search(r"No module named '([\w.]+)'", msg)
        if m and m.group(1).split(".")[0] == "cs231n":
            return ("the grader runs your file on its own, without the course's cs231n package: "
                    "remove that import or copy what you need into this file")
        if m and local:
            return (f"the module {m.group(1)} is not installed in this Python environment: install it "
                    f"(e.g. pip install {m.group(1).split('.')[0]}) and check again")
        if m:
            return f"the module {m.group(1)} is not available in the grader; use only numpy and the standard library"
    if err.exc_type == "MemoryError":
        return "the code ran out of memory: avoid building arrays much larger than the inputs (e.g. N x N x D)"
    if err.exc_type == "RecursionError":
        return "the recursion went too deep"
    return None


# --------------------------------------------------------------------------- running tests


def _result(spec: TestSpec, score: float, status: str, output: str, details: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": spec.id,
        "name": spec.name,
        "score": round(score, 4),
        "max_score": spec.points,
        "status": status,
        "visibility": spec.visibility,
        "output": output,
        "details": details,
    }


def _run_test(spec: TestSpec, assignment: Assignment, ctx: Context) -> dict[str, Any]:
    started = time.monotonic()
    try:
        outcome = assignment.check_function(spec)(ctx)
    except CheckFailed as failure:
        output = failure.message
        details: dict[str, Any] = dict(failure.details)
        if failure.hint:
            output += f"\nHint: {failure.hint}"
            details["hint"] = failure.hint
        details["seconds"] = round(time.monotonic() - started, 4)
        score = spec.points * max(0.0, min(failure.fraction, 1.0))
        return _result(spec, score, "failed", output, details)
    except StudentError as err:
        output = str(err)
        details = {"kind": err.kind}
        if isinstance(err, StudentCodeError):
            hint = python3_hint(err, local=not ctx.has_reference)
            if hint:
                output += f"\nHint: {hint}"
                details["hint"] = hint
            details["exception"] = err.exc_type
        details["seconds"] = round(time.monotonic() - started, 4)
        return _result(spec, 0.0, "error", output, details)
    except (ReferenceUnavailable, SandboxFailure, _TaskTimeLimit, GraderBudgetExceeded):
        raise
    except Exception as exc:  # a bug in the grader itself: never blame the student silently
        # The traceback (the grader's code and paths) stays in the worker's log; the report carries an
        # opaque id the staff can find it by, and the exception's type only.
        incident = uuid.uuid4().hex[:12]
        log.exception("check %s/%s crashed (incident %s)", assignment.id, spec.id, incident)
        return _result(spec, 0.0, "error",
                       f"internal grader error in this check ({type(exc).__name__}); this is not your fault, "
                       f"please tell the course staff (incident {incident})",
                       {"kind": "internal", "incident": incident, "exception": type(exc).__name__})
    if outcome is None:
        outcome = Outcome()
    details = dict(outcome.details)
    details["seconds"] = round(time.monotonic() - started, 4)
    return _result(spec, spec.points, "passed", outcome.message, details)


@contextmanager
def _cpu_budget(seconds: float, what: str) -> Iterator[None]:
    """Stop the grader's own computation after ``seconds`` of this process's CPU time (the student's code
    runs in another process, so none of its time counts). Only in the main thread (signals); elsewhere
    the Celery time limit is the bound."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        yield  # (Windows has no CPU-time timer: the offline check runs without this bound there)
        return

    def over(signum: int, frame: Any) -> None:
        raise GraderBudgetExceeded(f"the grader's own computation in {what} used more than {seconds:g} s of CPU")

    previous = signal.signal(signal.SIGVTALRM, over)
    signal.setitimer(signal.ITIMER_VIRTUAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_VIRTUAL, 0)
        signal.signal(signal.SIGVTALRM, previous)


def _test_rng(seed: int, test_id: str, hidden: bool = False) -> np.random.Generator:
    salt = int.from_bytes(hashlib.sha256(test_id.encode()).digest()[:8], "big")
    if hidden:  # not visible to students: also keyed by a server-side secret (worker/hidden_key.py)
        from worker.hidden_key import hidden_entropy

        return np.random.default_rng([seed, salt, *hidden_entropy(seed, test_id)])
    return np.random.default_rng([seed, salt])


def _hidden_seed(seed: int) -> int:
    """``ctx.seed`` in tests not visible to students: keyed too, so a check that draws from it stays hidden."""
    from worker.hidden_key import hidden_entropy

    return hidden_entropy(seed, "")[0] >> 1


def grade(assignment: Assignment | str, files: Mapping[str, bytes | str], *, seed: int | None = None,
          mode: str = "grade", launcher: Launcher | None = None, limits: Limits | None = None,
          trusted_cpu_seconds: float = TRUSTED_CPU_SECONDS) -> dict[str, Any]:
    """Grade one submission and return the report (DESIGN.md's JSON, as a dict).

    ``mode="grade"`` runs every test with the reference; ``mode="check"`` runs
    only the public tests and never touches the reference (the student's
    offline self-check). The same ``seed`` reproduces the same report.
    ``limits`` overrides the assignment's sandbox limits (tests use short deadlines).
    ``trusted_cpu_seconds`` bounds the grader's own CPU time per check: over it, the report is the
    grader's failure (``status: "error"``, ``error_kind: "grader"``), never a test the student lost.

    Every string and number of the returned report has passed the boundary's sanitiser
    (:func:`worker.sandbox.sanitize.safe_report`): it is strict JSON that PostgreSQL stores as is.
    """
    return safe_report(_grade(assignment, files, seed=seed, mode=mode, launcher=launcher, limits=limits,
                              trusted_cpu_seconds=trusted_cpu_seconds))


def _grade(assignment: Assignment | str, files: Mapping[str, bytes | str], *, seed: int | None,
           mode: str, launcher: Launcher | None, limits: Limits | None,
           trusted_cpu_seconds: float) -> dict[str, Any]:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    if isinstance(assignment, str):
        assignment = get_assignment(assignment)
    seed = secrets.randbelow(2**31) if seed is None else int(seed)
    launcher = launcher or default_launcher()
    started = time.monotonic()
    specs = [t for t in assignment.tests if mode == "grade" or t.public]
    report: dict[str, Any] = {
        "assignment": assignment.id,
        "title": assignment.title,
        "score": 0.0,
        "max_score": float(sum(t.points for t in specs)),
        "execution_time": 0.0,
        "seed": seed,
        "grader_version": __version__,
        "mode": mode,
        "status": "graded",
        "tests": [],
        "output": "",
    }
    compile_warnings: dict[str, dict[str, Any]] = {}
    try:
        sources, trees = prepare_files(assignment, files, compile_warnings)
    except SubmissionRejected as exc:
        report.update(status="error", output=str(exc), error=str(exc), error_kind="submission",
                      student_output="", student_output_truncated_bytes=0, student_time=0.0,
                      sandbox=getattr(launcher, "name", type(launcher).__name__))
        report["execution_time"] = round(time.monotonic() - started, 4)
        return report

    provided = assignment.provided_sources()
    names = assignment.module_names
    modules = {names[f]: (f, sources[names[f]] if f in assignment.files else provided[f])
               for f in assignment.execution_order()}
    reference = assignment.reference() if mode == "grade" else None
    catalog = assignment.catalog() if mode == "grade" else []
    memo: dict[str, Any] = {}
    student = StudentProcess(launcher, limits or assignment.limits, modules)
    try:
        for spec in specs:
            hidden = spec.visibility != "visible"
            rng = _test_rng(seed, spec.id, hidden=hidden)
            ctx = Context(test_id=spec.id, seed=_hidden_seed(seed) if hidden else seed, rng=rng, student=student,
                          reference=reference, sources=sources, trees=trees, module=assignment.main_module,
                          memo=memo, params=spec.params, catalog=catalog,
                          conventions=assignment.conventions)
            with _cpu_budget(trusted_cpu_seconds, f"the check {spec.id}"):
                report["tests"].append(_run_test(spec, assignment, ctx))
    except _TaskTimeLimit:
        raise  # the worker gives the submission back for another attempt
    except GraderBudgetExceeded as exc:  # the grader's failure: reported as such, never charged to the student
        incident = uuid.uuid4().hex[:12]
        log.error("grading %s: %s (incident %s)", assignment.id, exc, incident)
        report.update(status="error", error_kind="grader", error=f"{exc} (incident {incident})",
                      output=f"The grader failed on your submission: {exc}. This is a problem of the grader, "
                             f"not of your code; the course staff are told (incident {incident}).")
    except Exception as exc:  # the sandbox itself failed: the whole grading could not run
        log.exception("grading %s failed", assignment.id)
        report.update(status="error", error_kind="infrastructure",
                      error=f"grading infrastructure failed: {type(exc).__name__}: {exc}",
                      output=f"The grader could not run your submission ({type(exc).__name__}: {exc}). "
                             "This is not your fault; it will be retried.")
    finally:
        student.close()
    printed, dropped = student.output_text()
    report["student_output"] = printed
    report["student_output_truncated_bytes"] = dropped
    report["student_time"] = round(student.student_seconds, 4)
    report["sandbox"] = getattr(launcher, "name", type(launcher).__name__)
    if compile_warnings:
        report["compile_warnings"] = compile_warnings
    report["score"] = round(sum(t["score"] for t in report["tests"]), 4)
    report["execution_time"] = round(time.monotonic() - started, 4)
    if report["status"] == "graded" and student.tampered is not None:
        # A forged answer may have earned any earlier pass: nothing of this run counts.
        for t in report["tests"]:
            if t["status"] == "passed" or t["score"]:
                t.update(score=0.0, status="failed",
                         output=f"Not counted: {student.tampered}",
                         details=dict(t.get("details") or {}, kind="tampering"))
        report["score"] = 0.0
        report["output"] = str(student.tampered)
        report["tampering"] = True
    elif report["status"] == "graded":
        passed = sum(1 for t in report["tests"] if t["status"] == "passed")
        report["output"] = f"{passed} of {len(report['tests'])} tests passed."
        if student.load_error is not None and student.load_error is not student.flood_error:
            report["output"] += f" Your file could not be imported: {student.load_error}"
        if student.flood_error is not None:
            report["output"] += f" Grading stopped early: {student.flood_error}."
        elif dropped:
            report["output"] += (f" Your code printed {dropped} bytes more than the "
                                 f"{(limits or assignment.limits).output_bytes} kept.")
    return report
