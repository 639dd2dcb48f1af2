"""Hostile, broken and unusual submissions: every one gets a clear message and none crashes the grader.

Each case builds a variant of ``tests/submissions/svm/correct_loops.py`` (or a tiny module) and
grades it through :func:`worker.engine.grade`, the same path as ``grader grade`` and the worker.
``mode="check"`` (public tests only, no reference) is used wherever the reference is not needed;
hang cases use short limits so the whole file stays fast.

Invariants checked for every graded report (``assert_sane``): the report is JSON-serialisable
without NaN, every string in it is valid UTF-8 text, it is small, and no test output shows the
grader's own files (``worker/``, ``site-packages``, the repository path).
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest

from worker.engine import grade
from worker.sandbox import Limits

ROOT = Path(__file__).resolve().parents[1]
CORRECT = (ROOT / "tests" / "submissions" / "svm" / "correct_loops.py").read_text()
VECTORIZED = "def svm_loss_vectorized" + CORRECT.split("def svm_loss_vectorized", 1)[1]
SEED = 1

FAST = Limits(call_seconds=2, total_seconds=30)
JSON_LIMIT = 1_000_000

# Public svm tests (mode="check") and which student function each calls.
NAIVE_TESTS = ("naive_loss_at_zero", "naive_reg_known_value", "naive_grad_consistency", "naive_no_input_mutation")
VECTORIZED_ONLY = ("vectorized_loss_at_zero", "vectorized_reg_known_value", "vectorized_grad_consistency",
                   "vectorized_no_input_mutation", "vectorized_no_loops")
TIMING_TEST = "vectorized_faster_than_naive"  # worth 0 points and wall-clock based: never asserted on
GRADER_MARKERS = ("worker/", "site-packages", "child.py", str(ROOT))


# --------------------------------------------------------------------------- helpers


def naive_with(body: str, head: str = "import numpy as np\n") -> str:
    """A linear_svm.py whose svm_loss_naive runs ``body`` and whose svm_loss_vectorized is correct."""
    indented = "".join(f"    {line}\n" for line in body.strip("\n").splitlines())
    return f"{head}def svm_loss_naive(W, X, y, reg):\n{indented}\n\n{VECTORIZED}"


def line_of(source: str, needle: str) -> int:
    """1-based line number of the first line containing ``needle``."""
    for i, line in enumerate(source.splitlines(), 1):
        if needle in line:
            return i
    raise AssertionError(f"{needle!r} not in source")


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


def assert_sane(report: dict[str, Any]) -> None:
    text = json.dumps(report, allow_nan=False)  # the CLI's --json does the same
    assert len(text) < JSON_LIMIT, f"report JSON is {len(text)} bytes"
    for s in _strings(report):
        s.encode("utf-8")  # a lone surrogate here breaks `grader check`, files and databases
    assert report["status"] in ("graded", "error")
    for t in report["tests"]:
        assert {"id", "name", "score", "max_score", "status", "visibility", "output", "details"} <= set(t)
        assert t["status"] in ("passed", "failed", "error"), t
        for marker in GRADER_MARKERS:
            assert marker not in t["output"], f"grader path {marker!r} in the output of {t['id']}: {t['output']}"
    for marker in GRADER_MARKERS:
        assert marker not in report["output"], report["output"]


def run(files: dict[str, Any], *, mode: str = "check", limits: Limits | None = None,
        assignment: str = "svm") -> dict[str, Any]:
    report = grade(assignment, files, seed=SEED, mode=mode, limits=limits)
    assert_sane(report)
    return report


def svm(source: str | bytes, **kwargs: Any) -> dict[str, Any]:
    return run({"linear_svm.py": source}, **kwargs)


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in report["tests"]}


def assert_graded(report: dict[str, Any]) -> None:
    assert report["status"] == "graded", report.get("output")
    assert "error_kind" not in report


def assert_vectorized_fine(report: dict[str, Any]) -> None:
    """The correct svm_loss_vectorized still passes: the failure stayed local to its tests."""
    tests = by_id(report)
    for tid in VECTORIZED_ONLY:
        assert tests[tid]["status"] == "passed", (tid, tests[tid]["output"])


def assert_rejected(report: dict[str, Any], *needles: str) -> str:
    assert report["status"] == "error"
    assert report["error_kind"] == "submission"
    assert report["tests"] == []
    assert report["score"] == 0
    for needle in needles:
        assert needle in report["output"], (needle, report["output"])
    return report["output"]


# --------------------------------------------------------------------------- not Python


@pytest.mark.parametrize(
    "data, needles",
    [
        pytest.param(b"\x7fELF\x02\x01\x01\x00\x00\x00\x00", ["linear_svm.py", "binary", "NUL"], id="binary-nul"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", ["linear_svm.py", "binary"], id="png"),
        pytest.param("import numpy as np\n# caf\xe9\nx = 'na\xefve'\n".encode("latin-1"),
                     ["linear_svm.py", "not UTF-8", "0xe9", "line 2", "UTF-8"], id="latin-1"),
        pytest.param(b"", ["linear_svm.py", "empty"], id="empty"),
        pytest.param(b"\n   \n\t\n", ["linear_svm.py", "empty"], id="whitespace-only"),
    ],
)
def test_not_python_source_is_rejected(data: bytes, needles: list[str]) -> None:
    assert_rejected(svm(data), *needles)


def test_python2_print_statement() -> None:
    source = b"import numpy as np\n\n\nprint \"hello\"\n"
    out = assert_rejected(svm(source), "line 4", 'print "hello"', "print(...)", "Python 2")
    assert "Python 3" in out


def test_python2_except_comma() -> None:
    source = b"import numpy as np\ntry:\n    x = 1\nexcept Exception, e:\n    pass\n"
    assert_rejected(svm(source), "line 4", "except Exception, e:", "Python 2", "except SomeError as e")


def test_plain_syntax_error_names_line_and_text() -> None:
    source = CORRECT.replace("  num_train = X.shape[0]\n  loss = 0.0\n", "  num_train = X.shape[0\n  loss = 0.0\n", 1)
    assert source != CORRECT
    out = assert_rejected(svm(source), "linear_svm.py", "SyntaxError")
    lines = {line_of(source, "num_train = X.shape[0\n".strip()), line_of(source, "loss = 0.0")}
    assert any(f"line {n}" in out for n in lines), out
    assert "X.shape[0" in out or "loss = 0.0" in out  # the offending text is quoted


def test_syntax_error_found_by_the_compiler_is_rejected_with_its_line() -> None:
    """A ``return`` dedented out of its function is a SyntaxError that only ``compile()`` reports
    (``ast.parse`` accepts it); it must be rejected like any other syntax error."""
    source = CORRECT.replace("  return loss, dW\n\n\ndef svm_loss_vectorized",
                             "return loss, dW\n\n\ndef svm_loss_vectorized", 1)
    assert source != CORRECT
    n = line_of(source, "return loss, dW")
    assert_rejected(svm(source), "linear_svm.py", f"line {n}", "'return' outside function", "return loss, dW")


# --------------------------------------------------------------------------- file names


@pytest.mark.parametrize(
    "files, needles",
    [
        pytest.param({"svm.py": CORRECT}, ["unexpected file 'svm.py'", "linear_svm.py"], id="wrong-name"),
        pytest.param({"Linear_SVM.py": CORRECT}, ["unexpected file", "linear_svm.py"], id="wrong-case"),
        pytest.param({"../linear_svm.py": CORRECT}, ["contains a path", "linear_svm.py"], id="dotdot-path"),
        pytest.param({"dir/linear_svm.py": CORRECT}, ["contains a path", "linear_svm.py"], id="dir-path"),
        pytest.param({"dir\\linear_svm.py": CORRECT}, ["contains a path", "linear_svm.py"], id="windows-path"),
        pytest.param({}, ["missing file linear_svm.py"], id="missing"),
        pytest.param({"linear_svm.py": CORRECT, "notes.txt": "hello"}, ["unexpected file 'notes.txt'"], id="extra"),
    ],
)
def test_wrong_file_names_are_rejected(files: dict[str, str], needles: list[str]) -> None:
    assert_rejected(run(files), *needles)


# --------------------------------------------------------------------------- missing names, signatures


def test_missing_vectorized_function() -> None:
    report = svm(CORRECT.split("def svm_loss_vectorized", 1)[0])
    assert_graded(report)
    tests = by_id(report)
    for tid in NAIVE_TESTS:
        assert tests[tid]["status"] == "passed", tests[tid]["output"]
    for tid in VECTORIZED_ONLY:
        assert tests[tid]["status"] in ("failed", "error")
        assert tests[tid]["score"] == 0
        assert "does not define svm_loss_vectorized" in tests[tid]["output"], tests[tid]["output"]
    assert 0 < report["score"] < report["max_score"]


def test_missing_class_two_layer_net() -> None:
    source = "import numpy as np\n\n\nclass TwoLayerNetwork(object):\n    pass\n"
    report = run({"neural_net.py": source}, assignment="two_layer_net")
    assert_graded(report)
    assert report["tests"]
    for t in report["tests"]:
        assert t["status"] in ("failed", "error"), t
        assert "TwoLayerNet" in t["output"], t["output"]
    assert report["score"] == 0


@pytest.mark.parametrize(
    "old, new, func, shown",
    [
        pytest.param("def svm_loss_naive(W, X, y, reg)", "def svm_loss_naive(W, X, y)", "svm_loss_naive",
                     "svm_loss_naive(W, X, y)", id="naive-missing-reg"),
        pytest.param("def svm_loss_vectorized(W, X, y, reg)", "def svm_loss_vectorized(W, X, y, reg, delta)",
                     "svm_loss_vectorized", "svm_loss_vectorized(W, X, y, reg, delta)", id="vectorized-extra-arg"),
    ],
)
def test_wrong_signature_shows_expected_one(old: str, new: str, func: str, shown: str) -> None:
    source = CORRECT.replace(old, new, 1)
    assert source != CORRECT
    report = svm(source)
    assert_graded(report)
    first = by_id(report)[f"{'naive' if func == 'svm_loss_naive' else 'vectorized'}_loss_at_zero"]
    assert first["status"] in ("failed", "error")
    assert f"expected {func}(W, X, y, reg)" in first["output"], first["output"]
    assert shown in first["output"], first["output"]


# --------------------------------------------------------------------------- exceptions in student code


def test_exception_shows_student_traceback_only() -> None:
    body = """
def helper(M):
    return np.linalg.inv(M)  # raises LinAlgError from inside numpy's own Python code
loss, dW = svm_loss_vectorized(W, X, y, reg)
helper(np.zeros((3, 3)))
return loss, dW
"""
    source = naive_with(body)
    report = svm(source)
    assert_graded(report)
    out = by_id(report)["naive_loss_at_zero"]["output"]
    assert by_id(report)["naive_loss_at_zero"]["status"] == "error"
    assert "svm_loss_naive raised LinAlgError: Singular matrix" in out, out
    assert f'File "linear_svm.py", line {line_of(source, "helper(np.zeros")}, in svm_loss_naive' in out, out
    assert f'File "linear_svm.py", line {line_of(source, "return np.linalg.inv")}, in helper' in out, out
    assert "linalg.py" not in out and "numpy/" not in out
    assert by_id(report)["naive_loss_at_zero"]["details"]["exception"] == "LinAlgError"
    assert_vectorized_fine(report)


def test_exception_message_that_is_not_valid_unicode() -> None:
    """An exception message with a lone surrogate must not make the report unencodable."""
    report = svm(naive_with("raise ValueError('bad \\ud800 value')"))  # assert_sane encodes every string
    assert_graded(report)
    assert "ValueError" in by_id(report)["naive_loss_at_zero"]["output"]


def test_import_time_exception() -> None:
    source = "import numpy as np\nraise RuntimeError('boom')\n" + VECTORIZED
    report = svm(source)
    assert_graded(report)
    assert "could not be imported" in report["output"]
    for tid in NAIVE_TESTS + ("vectorized_loss_at_zero",):
        t = by_id(report)[tid]
        assert t["status"] == "error"
        assert "RuntimeError: boom" in t["output"], t["output"]
        assert 'File "linear_svm.py", line 2, in <module>' in t["output"], t["output"]


def test_import_of_cs231n_gives_a_hint() -> None:
    report = svm("import numpy as np\nfrom cs231n.classifiers.linear_svm import svm_loss_naive\n" + VECTORIZED)
    assert_graded(report)
    t = by_id(report)["vectorized_loss_at_zero"]
    assert t["status"] == "error"
    assert "No module named 'cs231n'" in t["output"]
    assert "Hint:" in t["output"] and "cs231n package" in t["output"], t["output"]


def test_import_error_message_does_not_show_grader_paths() -> None:
    """``from numpy import x`` fails with a message that contains numpy's install path."""
    report = svm("from numpy import does_not_exist\n" + CORRECT)
    assert_graded(report)
    t = by_id(report)["naive_loss_at_zero"]
    assert t["status"] == "error" and "does_not_exist" in t["output"]
    # assert_sane checks that no test output contains 'site-packages'


def test_xrange_without_import_gives_a_hint() -> None:
    source = CORRECT.replace("from past.builtins import xrange\n", "", 1)
    assert source != CORRECT
    report = svm(source)
    assert_graded(report)
    t = by_id(report)["naive_loss_at_zero"]
    assert t["status"] == "error"
    assert "NameError: name 'xrange' is not defined" in t["output"]
    assert "from past.builtins import xrange" in t["output"]
    assert f"line {line_of(source, 'for i in xrange')}" in t["output"]
    assert_vectorized_fine(report)


def test_2017_header_grades_full_marks() -> None:
    header = ("from __future__ import print_function\n"
              "from builtins import range\n"
              "from past.builtins import xrange\n"
              "import matplotlib.pyplot as plt\n"
              "import numpy as np\n"
              "DTYPE = np.int\n")
    body = CORRECT.replace("from builtins import range\n", "").replace("from past.builtins import xrange\n", "")
    body = body.replace("dW = np.zeros(W.shape) # initialize the gradient as zero\n\n  # compute",
                        "dW = np.zeros(W.shape) # initialize the gradient as zero\n  y = y.astype(np.int)\n\n  # compute", 1)
    report = svm(header + body, mode="grade")
    assert_graded(report)
    assert report["score"] == report["max_score"] == 35
    for t in report["tests"]:
        if t["id"] != TIMING_TEST:
            assert t["status"] == "passed", (t["id"], t["output"])


# --------------------------------------------------------------------------- wrong return values


def _returns(expr: str, prelude: str = "") -> str:
    return f"{prelude}\nloss, dW = svm_loss_vectorized(W, X, y, reg)\nreturn {expr}"


LIAR = """
class Liar(object):
    def __eq__(self, other):
        return True
    def __ne__(self, other):
        return False
    def __float__(self):
        return 7.0
    def __array__(self, *args, **kwargs):
        return np.array(7.0)
"""

LIAR_ARRAY = """
class LiarArray(np.ndarray):
    def __eq__(self, other):
        return np.ones(np.shape(other), dtype=bool)
"""

BAD_RETURNS = [
    pytest.param("'hello'", "", ["svm_loss_naive", "should return a tuple (loss, dW)", "str"], id="string"),
    pytest.param("None", "", ["svm_loss_naive", "should return a tuple (loss, dW)", "None"], id="none"),
    pytest.param("loss, dW, 0", "", ["svm_loss_naive", "tuple of length 3"], id="3-tuple"),
    pytest.param("(loss,)", "", ["svm_loss_naive", "tuple of length 1"], id="1-tuple"),
    pytest.param("loss, dW.astype(object)", "", ["dW returned by svm_loss_naive", "dtype=object"], id="object-dW"),
    pytest.param("loss, np.matrix(dW)", "", ["dW returned by svm_loss_naive", "numpy.matrix", "subclass",
                                             "plain numpy array"], id="matrix-dW"),
    pytest.param("loss, dW.view(LiarArray)", LIAR_ARRAY, ["dW returned by svm_loss_naive", "LiarArray",
                                                          "subclass"], id="lying-ndarray-subclass"),
    pytest.param("loss, dW.astype(complex)", "", ["dW returned by svm_loss_naive", "complex128"], id="complex-dW"),
    pytest.param("loss, dW.astype(np.int64)", "", ["dW returned by svm_loss_naive", "dtype int64",
                                                   "floating point"], id="integer-dW"),
    pytest.param("np.array([loss, loss]), dW", "", ["loss returned by svm_loss_naive", "should be a float",
                                                    "shape (2,)"], id="loss-array-2"),
    pytest.param("float('nan'), dW", "", ["loss returned by svm_loss_naive", "nan", "not a finite number"],
                 id="nan-loss"),
    pytest.param("loss, np.where(dW == dW.flat[0], np.inf, dW)", "", ["dW returned by svm_loss_naive",
                                                                      "NaN or infinite"], id="inf-in-dW"),
    pytest.param("'1.0', dW", "", ["loss returned by svm_loss_naive", "should be a float", "str"],
                 id="loss-string"),
    pytest.param("Liar(), dW", LIAR, ["loss returned by svm_loss_naive", "should be a float", "Liar"],
                 id="lying-object-loss"),
    pytest.param("Liar()", LIAR, ["svm_loss_naive", "should return a tuple (loss, dW)", "Liar"],
                 id="lying-object-result"),
    pytest.param("{'loss': loss, 'dW': dW}", "", ["svm_loss_naive", "should return a tuple (loss, dW)", "dict"],
                 id="dict"),
]


@pytest.mark.parametrize("expr, prelude, needles", BAD_RETURNS)
def test_wrong_return_value(expr: str, prelude: str, needles: list[str]) -> None:
    report = svm(naive_with(_returns(expr, prelude)))
    assert_graded(report)
    t = by_id(report)["naive_loss_at_zero"]
    assert t["status"] in ("failed", "error") and t["score"] == 0
    for needle in needles:
        assert needle in t["output"], (needle, t["output"])
    assert report["score"] < report["max_score"]
    assert_vectorized_fine(report)


def test_wrong_dW_shape_shows_both_shapes() -> None:
    report = svm(naive_with(_returns("loss, dW[:-1]")))
    assert_graded(report)
    t = by_id(report)["naive_loss_at_zero"]
    assert t["status"] == "failed"
    got, want = tuple(t["details"]["shape"]), tuple(t["details"]["expected_shape"])
    assert got == (want[0] - 1, want[1])
    assert f"has shape {got}, expected {want}" in t["output"], t["output"]
    assert "dW returned by svm_loss_naive" in t["output"]
    assert_vectorized_fine(report)


def test_transposed_dW_is_named_as_such() -> None:
    report = svm(naive_with(_returns("loss, dW.T")))
    assert_graded(report)
    t = by_id(report)["naive_loss_at_zero"]
    assert t["status"] == "failed"
    got, want = tuple(t["details"]["shape"]), tuple(t["details"]["expected_shape"])
    assert got == want[::-1]
    assert f"has shape {got}, expected {want}" in t["output"]
    assert "transpose" in t["output"]


def test_list_of_loss_and_dW_is_accepted() -> None:
    """worker/checks/values.py: expect_pair accepts a list of two as well as a tuple."""
    report = svm(naive_with(_returns("[loss, dW]")))
    assert_graded(report)
    assert report["score"] == report["max_score"]
    for tid in NAIVE_TESTS:
        assert by_id(report)[tid]["status"] == "passed"


def test_self_referencing_and_huge_lists_do_not_hang_the_encoder() -> None:
    report = svm(naive_with("a = []\na.append(a)\nreturn a"))
    assert_graded(report)
    assert "list of length 1" in by_id(report)["naive_loss_at_zero"]["output"]
    report = svm(naive_with("return list(range(10 ** 6))"))
    assert_graded(report)
    assert "should return a tuple (loss, dW)" in by_id(report)["naive_loss_at_zero"]["output"]


def test_answer_larger_than_frame_limit() -> None:
    report = svm(naive_with("return 0.0, np.ones((1000, 1000))"),
                 limits=Limits(call_seconds=5, total_seconds=30, frame_mb=1))
    assert_graded(report)
    t = by_id(report)["naive_loss_at_zero"]
    assert t["status"] == "error"
    assert "announced an answer of 8000189 bytes, more than the 5 MB" in t["output"], t["output"]
    assert t["details"]["kind"] == "too_large"
    assert_vectorized_fine(report)


def test_answer_larger_than_the_request_can_need_is_refused_before_reading() -> None:
    """A legal frame (under frame_mb) far larger than the answer the request expects is refused from its
    length prefix: the grader never reads (or allocates for) the 64 MB the child announced."""
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = svm(naive_with("return 0.0, np.ones((8000, 1000))"),
                 limits=Limits(call_seconds=10, total_seconds=60, memory_mb=1024))
    assert_graded(report)
    t = by_id(report)["naive_loss_at_zero"]
    assert t["status"] == "error" and t["details"]["kind"] == "too_large", t
    assert "announced an answer of 64000189 bytes" in t["output"] and "was not read" in t["output"], t["output"]
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 60, f"the grading process grew by {grown_mb:.0f} MB"
    assert_vectorized_fine(report)


# --------------------------------------------------------------------------- hangs


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("while True:\n    pass", id="infinite-loop"),
        pytest.param("import time\ntime.sleep(1000)", id="sleep"),
        pytest.param("import signal\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                     "signal.signal(signal.SIGINT, signal.SIG_IGN)\nx = 0\nwhile True:\n    x += 1",
                     id="ignores-sigterm-sigint"),
    ],
)
def test_hang_in_a_function(body: str) -> None:
    report = svm(naive_with(body), limits=FAST)
    assert_graded(report)
    tests = by_id(report)
    first = tests["naive_loss_at_zero"]
    assert first["status"] == "error"
    assert "svm_loss_naive did not finish within 2 s" in first["output"], first["output"]
    assert first["details"]["kind"] == "timeout"
    # One call_seconds for the hang, not one per test: the function is never called again in this run (what the
    # report says, and no later test spends a call's limit), rather than a wall-clock bound on the whole grading.
    for tid in NAIVE_TESTS[1:]:
        assert tests[tid]["status"] == "error"
        assert tests[tid]["output"] == ("svm_loss_naive was not called again: it exceeded the time limit earlier "
                                        "in this run"), tests[tid]["output"]
        assert tests[tid]["details"]["seconds"] < FAST.call_seconds, (tid, tests[tid]["details"])
    assert_vectorized_fine(report)  # later tests still run, in a fresh process


def test_hang_at_import_time_is_reported_as_such() -> None:
    limits = Limits(call_seconds=1, total_seconds=20)
    started = time.monotonic()
    report = svm("while True:\n    pass\n" + CORRECT, limits=limits)
    elapsed = time.monotonic() - started
    assert_graded(report)
    assert elapsed < limits.total_seconds + 5
    assert "could not be imported" in report["output"]
    for t in report["tests"]:
        if t["id"] == "vectorized_no_loops":  # static check on the source
            continue
        assert t["status"] == "error"
        # the import timed out: no function was ever called, so none may be blamed for it
        assert "import" in t["output"], (t["id"], t["output"])
        assert "was not called again" not in t["output"], (t["id"], t["output"])


# --------------------------------------------------------------------------- crashes and exits


@pytest.mark.parametrize(
    "body, signum, name",
    [
        pytest.param("import ctypes\nctypes.string_at(0)", (11,), ("SIGSEGV",), id="segfault"),
        # In the sandbox the student's process is PID 1 of its namespace, which ignores its own SIGABRT;
        # glibc's abort() then falls back to a faulting instruction (SIGSEGV).
        pytest.param("import os\nos.abort()", (6, 11), ("SIGABRT", "SIGSEGV"), id="abort"),
    ],
)
def test_interpreter_crash(body: str, signum: tuple[int, ...], name: tuple[str, ...]) -> None:
    report = svm(naive_with(body), limits=FAST)
    assert_graded(report)
    for tid in NAIVE_TESTS:
        t = by_id(report)[tid]
        assert t["status"] == "error"
        assert any(f"crashed with signal {n} {nm}" in t["output"] for n, nm in zip(signum, name)), t["output"]
        assert t["details"]["kind"] == "crashed"
    assert_vectorized_fine(report)  # a fresh process after each crash


def test_os_exit_at_import() -> None:
    report = svm("import os\nos._exit(0)\n" + CORRECT, limits=FAST)
    assert_graded(report)
    assert "could not be imported" in report["output"]
    for tid in NAIVE_TESTS + ("vectorized_loss_at_zero",):
        t = by_id(report)[tid]
        assert t["status"] == "error"
        assert "exited with code 0" in t["output"] and "importing your files" in t["output"], t["output"]


def test_os_exit_in_a_function() -> None:
    report = svm(naive_with("import os\nos._exit(0)"), limits=FAST)
    assert_graded(report)
    t = by_id(report)["naive_loss_at_zero"]
    assert t["status"] == "error"
    assert "exited with code 0" in t["output"] and "svm_loss_naive" in t["output"], t["output"]
    assert_vectorized_fine(report)


def test_sys_exit_in_a_function_is_an_exception() -> None:
    source = naive_with("import sys\nsys.exit(3)")
    report = svm(source, limits=FAST)
    assert_graded(report)
    t = by_id(report)["naive_loss_at_zero"]
    assert t["status"] == "error"
    assert "svm_loss_naive raised SystemExit: 3" in t["output"], t["output"]
    assert f'File "linear_svm.py", line {line_of(source, "sys.exit(3)")}' in t["output"]
    assert_vectorized_fine(report)


def test_keyboard_interrupt_in_a_function() -> None:
    report = svm(naive_with("raise KeyboardInterrupt"), limits=FAST)
    assert_graded(report)
    t = by_id(report)["naive_loss_at_zero"]
    assert t["status"] == "error" and "svm_loss_naive" in t["output"]
    assert_vectorized_fine(report)


# --------------------------------------------------------------------------- output floods


def _assert_output_capped(report: dict[str, Any], limits: Limits) -> None:
    assert len(report["student_output"].encode("utf-8")) <= limits.output_bytes, len(report["student_output"])
    assert report["student_output_truncated_bytes"] > 0
    assert "bytes more than" in report["output"]


def _assert_stopped_for_output(report: dict[str, Any], limits: Limits) -> None:
    """Past ``output_stop_bytes`` the job is stopped: every test not yet run fails with the reason."""
    assert len(report["student_output"].encode("utf-8")) <= limits.output_bytes, len(report["student_output"])
    assert report["student_output_truncated_bytes"] >= limits.output_stop_bytes - limits.output_bytes
    assert "Grading stopped early: the code printed more than 16 MB" in report["output"], report["output"]
    assert report["output"].count("printed more than") == 1, report["output"]
    stopped = [t for t in report["tests"] if t["details"].get("kind") == "output"]
    assert stopped and all(t["score"] == 0 and "remaining tests were not run" in t["output"] for t in stopped)


def test_print_50_mb_at_import() -> None:
    report = svm("import sys\nsys.stdout.write('x' * (50 << 20))\n" + CORRECT, limits=FAST)
    assert_graded(report)
    _assert_stopped_for_output(report, FAST)
    assert report["score"] == 0


def test_print_50_mb_in_a_function() -> None:
    body = """
global _PRINTED
if not globals().get('_PRINTED'):
    _PRINTED = True
    line = 'y' * 1023
    for _ in range(50 * 1024):
        print(line)
return svm_loss_vectorized(W, X, y, reg)
"""
    report = svm(naive_with(body), limits=FAST)
    assert_graded(report)
    _assert_stopped_for_output(report, FAST)
    assert by_id(report)["naive_loss_at_zero"]["details"]["kind"] == "output"


def test_chatty_code_under_the_stop_limit_keeps_its_marks() -> None:
    """Debug prints past what the report keeps (64 KB) but under the stop limit cost nothing."""
    body = """
global _PRINTED
if not globals().get('_PRINTED'):
    _PRINTED = True
    for _ in range(4 * 1024):
        print('y' * 1023)
return svm_loss_vectorized(W, X, y, reg)
"""
    report = svm(naive_with(body), limits=FAST)
    assert_graded(report)
    _assert_output_capped(report, FAST)
    assert report["score"] == report["max_score"]


def test_endless_output_is_stopped_within_seconds() -> None:
    """Issue 10: a submission that writes without end held its slot for the whole time limit (180 s).
    Now the job stops once the run's output passes the stop limit, and every remaining test fails at once."""
    limits = Limits(call_seconds=60, total_seconds=180)
    body = "while True:\n    print('spam ' * 200)"
    started = time.monotonic()
    report = svm(naive_with(body), limits=limits)
    elapsed = time.monotonic() - started
    assert_graded(report)
    _assert_stopped_for_output(report, limits)
    # Stopped at the stop limit, whatever the machine's load: what it printed is that limit and at most the last
    # chunks read from the pipe (without the stop: 5 GB printed in about 80 s, until the call's time limit).
    printed = report["student_output_truncated_bytes"] + len(report["student_output"].encode("utf-8"))
    assert printed < limits.output_stop_bytes + (1 << 20), f"the job went on printing: {printed} bytes"
    assert elapsed < 15, f"the flood held the slot for {elapsed:.1f} s"
    assert all(t["status"] != "passed" for t in report["tests"] if t["id"].startswith("naive"))


def test_output_cap_holds_across_process_restarts() -> None:
    """A file that prints at import and crashes in every call restarts its process many times;
    the kept output is still capped once for the whole report."""
    source = ("import os\nprint('z' * (1 << 20))\n"
              "def svm_loss_naive(W, X, y, reg):\n    os.abort()\n"
              "def svm_loss_vectorized(W, X, y, reg):\n    os.abort()\n")
    report = grade("svm", {"linear_svm.py": source}, seed=SEED, mode="grade", limits=FAST)
    assert report["status"] == "graded"
    assert len(report["student_output"].encode("utf-8")) <= FAST.output_bytes, len(report["student_output"])
    assert len(json.dumps(report)) < JSON_LIMIT


def test_ten_megabyte_exception_message() -> None:
    report = svm(naive_with("raise ValueError('m' * (10 << 20))"), limits=FAST)
    assert_graded(report)
    t = by_id(report)["naive_loss_at_zero"]
    assert t["status"] == "error"
    assert t["output"].startswith("svm_loss_naive raised ValueError: mmmm")
    assert len(t["output"]) < 20_000
    assert_vectorized_fine(report)


# --------------------------------------------------------------------------- memory


def test_huge_allocation_is_a_memory_error() -> None:
    report = svm(naive_with("a = np.ones(10 ** 11)\nreturn 0.0, a"), limits=FAST)
    assert_graded(report)
    t = by_id(report)["naive_loss_at_zero"]
    assert t["status"] == "error"
    assert "MemoryError" in t["output"], t["output"]
    assert "Hint:" in t["output"] and "memory" in t["output"]
    assert t["details"]["exception"] == "MemoryError"
    assert_vectorized_fine(report)


# --------------------------------------------------------------------------- forged channel traffic

FIND_PROTOCOL = """
import sys
protocols = [m for m in list(sys.modules.values()) if getattr(m, 'MAGIC', None) == b'GRD1']
assert protocols
"""

FORGERIES = [
    pytest.param("import os, sys\nos.write((int(sys.argv[2]) if len(sys.argv) > 2 else 4), b'\\x00' * 7 + b'\\x10GRD1garbagegarbage')\n"
                 "return svm_loss_vectorized(W, X, y, reg)", id="garbage-frame-on-argv-fd"),
    pytest.param("import os\nfor fd in sorted(int(f) for f in os.listdir('/proc/self/fd')):\n"
                 "    if fd >= 3:\n        try:\n            os.write(fd, b'\\xff' * 64)\n"
                 "        except OSError:\n            pass\nreturn svm_loss_vectorized(W, X, y, reg)",
                 id="garbage-on-every-fd"),
    pytest.param("import os, sys, json, struct\n"
                 "h = json.dumps({'seq': 0, 'ok': True, 'value': {'t': 'none'}, 'arrays': []}).encode()\n"
                 "body = b'GRD1' + struct.pack('>I', len(h)) + h\n"
                 "os.write((int(sys.argv[2]) if len(sys.argv) > 2 else 4), struct.pack('>Q', len(body)) + body)\n"
                 "return svm_loss_vectorized(W, X, y, reg)", id="well-formed-frame-out-of-sequence"),
    pytest.param(FIND_PROTOCOL + "for p in protocols:\n    p.ALLOWED_DTYPES = frozenset(p.ALLOWED_DTYPES | {'object'})\n"
                 "loss, dW = svm_loss_vectorized(W, X, y, reg)\nreturn loss, dW.astype(object)",
                 id="patched-child-sends-object-array"),
    pytest.param(FIND_PROTOCOL + "def evil(value, arrays, depth=0):\n"
                 "    return {'t': 'ref', 'name': 'input_W'}\n"
                 "for p in protocols:\n    p.encode_value = evil\nreturn 0", id="patched-child-sends-ref"),
    pytest.param(FIND_PROTOCOL + "import json, struct\n"
                 "def evil(header, arrays):\n"
                 "    h = json.dumps(dict(header, arrays=[{'dtype': ['float64'], 'shape': [1]}])).encode()\n"
                 "    b = b'GRD1' + struct.pack('>I', len(h)) + h + bytes(8)\n"
                 "    return struct.pack('>Q', len(b)) + b\n"
                 "for p in protocols:\n    p.encode_frame = evil\nreturn 0", id="patched-child-sends-list-dtype"),
]


@pytest.mark.parametrize("body", FORGERIES)
def test_forged_channel_traffic(body: str) -> None:
    report = svm(naive_with(body), limits=FAST)
    assert_graded(report)
    t = by_id(report)["naive_loss_at_zero"]
    assert t["status"] == "error", t
    assert "internal grader error" not in t["output"], t["output"]
    if t["details"]["kind"] == "too_large":  # garbage read as a length prefix: refused unread, this call only
        assert "announced an answer of" in t["output"] and "was not read" in t["output"], t["output"]
        assert_vectorized_fine(report)  # the process was replaced, later tests run normally
        return
    # Anything else on the channel is tampering: the whole run fails with the reason, nothing counts.
    assert t["details"]["kind"] == "tampering", t
    assert t["output"].startswith("grading stopped: "), t["output"]
    assert "invalid answer" in t["output"] or "wrote to the grader's channel" in t["output"], t["output"]
    assert report["score"] == 0 and report["tampering"] is True
    assert report["output"] == t["output"]
    assert all(x["status"] != "passed" for x in report["tests"])


def test_forged_unhashable_dict_key_is_a_wrong_answer_not_a_crash() -> None:
    """A dict key that cannot be hashed arrives as a Foreign placeholder: the check reports a wrong type."""
    body = (FIND_PROTOCOL + "def evil(value, arrays, depth=0):\n"
            "    return {'t': 'dict', 'items': [[{'t': 'tuple', 'items': [{'t': 'list', 'items': []}]},"
            " {'t': 'none'}]]}\n"
            "for p in protocols:\n    p.encode_value = evil\nreturn 0")
    report = svm(naive_with(body), limits=FAST)
    assert_graded(report)
    t = by_id(report)["naive_loss_at_zero"]
    assert t["status"] == "failed", t
    assert "internal grader error" not in t["output"]
    assert "svm_loss_naive should return a tuple (loss, dW), but it returned dict" in t["output"], t["output"]


def test_monkeypatched_numpy_does_not_fool_the_comparisons() -> None:
    body = """
np.allclose = lambda *a, **k: True
np.isclose = lambda *a, **k: np.True_
np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
try:
    np.ndarray.__eq__ = lambda self, other: np.True_
except TypeError:
    pass
import builtins
builtins.abs = lambda x: 0.0
loss, dW = svm_loss_vectorized(W, X, y, reg)
return loss + 1.0, 2.0 * dW
"""
    report = svm(naive_with(body), mode="grade")
    assert_graded(report)
    tests = by_id(report)
    for tid in ("naive_loss_at_zero", "naive_reg_known_value", "naive_loss_reference_noreg",
                "naive_loss_reference_reg", "naive_grad_reference_noreg", "naive_grad_reference_reg"):
        assert tests[tid]["status"] == "failed", (tid, tests[tid]["output"])
        assert "relative error" in tests[tid]["output"] or "expected" in tests[tid]["output"]
    # A naive-only bug no longer costs the agreement test (the checks' design since 8745632), but the
    # comparison is not fooled either: it names the naive version as the one that differs.
    agree = tests["vectorized_agrees_with_naive"]
    assert agree["status"] == "passed" and "svm_loss_naive is the one that differs" in agree["output"], agree
    for tid in ("vectorized_loss_reference_reg", "vectorized_grad_reference_reg", "vectorized_large_batch"):
        assert tests[tid]["status"] == "passed", (tid, tests[tid]["output"])
