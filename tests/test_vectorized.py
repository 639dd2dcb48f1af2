"""The "no loops" rule, measured: Python-level work of the vectorized function must not grow with N, D or C.

Edge cases both ways, graded through the real child (the offline check mode needs no reference):
what looks like a loop but is not one over the data passes; what hides a loop from the text of the
``def`` (decorators, rebinding, module ``__getattr__``, helpers, callbacks) fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.engine import grade

BASE = (Path(__file__).parent / "submissions" / "svm" / "correct_masks.py").read_text()

VECTORIZED_OK = '''
def svm_loss_vectorized(W, X, y, reg):
    N = X.shape[0]
    scores = X.dot(W)
    correct = scores[np.arange(N), y][:, None]
    margins = np.maximum(0, scores - correct + 1)
    margins[np.arange(N), y] = 0
    loss = margins.sum() / N + reg * np.sum(W * W)
    mask = (margins > 0).astype(float)
    mask[np.arange(N), y] = -mask.sum(axis=1)
    return loss, X.T.dot(mask) / N + 2 * reg * W
'''

PASSING = {
    "assert_loop_over_the_three_inputs": VECTORIZED_OK.replace(
        "    N = X.shape[0]\n", "    for a in (W, X, y):\n        assert a.ndim in (1, 2)\n    N = X.shape[0]\n"),
    "library_call_named_like_a_looping_helper": '''
import scipy.special

def logsumexp(a):
    total = 0.0
    for v in a:
        total += v
    return total
''' + VECTORIZED_OK.replace("    N = X.shape[0]\n", "    N = X.shape[0]\n    _ = scipy.special.logsumexp(X)\n"),
    "loop_over_a_fixed_handful_of_terms": VECTORIZED_OK.replace(
        "    return loss, X.T.dot(mask) / N + 2 * reg * W",
        "    dW = X.T.dot(mask) / N\n    for term in (2 * reg * W,):\n        dW = dW + term\n    return loss, dW"),
    "a_vectorized_helper": '''
def _margins(scores, y):
    N = scores.shape[0]
    m = np.maximum(0, scores - scores[np.arange(N), y][:, None] + 1)
    m[np.arange(N), y] = 0
    return m
''' + VECTORIZED_OK.replace("    margins = np.maximum(0, scores - correct + 1)\n    margins[np.arange(N), y] = 0\n",
                            "    margins = _margins(scores, y)\n"),
}

FAILING = {
    "decorator_rebinding_to_the_naive_loops": '''
def _fast(f):
    return svm_loss_naive
''' + VECTORIZED_OK.replace("def svm_loss_vectorized", "@_fast\ndef svm_loss_vectorized"),
    "module_level_rebinding": VECTORIZED_OK + "\nsvm_loss_vectorized = svm_loss_naive\n",
    "module_getattr": VECTORIZED_OK.replace("def svm_loss_vectorized", "def _hidden_vectorized") + '''
def __getattr__(name):
    if name == "svm_loss_vectorized":
        return svm_loss_naive
    raise AttributeError(name)
''',
    "loop_in_a_helper_over_samples": '''
def _margins(scores, y):
    m = np.maximum(0, scores - scores[np.arange(scores.shape[0]), y][:, None] + 1)
    for i in range(scores.shape[0]):
        m[i, y[i]] = 0
    return m
''' + VECTORIZED_OK.replace("    margins = np.maximum(0, scores - correct + 1)\n    margins[np.arange(N), y] = 0\n",
                            "    margins = _margins(scores, y)\n"),
    "numpy_calls_back_a_lambda_per_row": VECTORIZED_OK.replace(
        "    scores = X.dot(W)\n", "    scores = np.apply_along_axis(lambda row: row.dot(W), 1, X)\n"),
    "comprehension_over_classes": VECTORIZED_OK.replace(
        "    scores = X.dot(W)\n", "    scores = np.stack([X.dot(W[:, j]) for j in range(W.shape[1])], axis=1)\n"),
}


def _strip_vectorized(source: str) -> str:
    """The base fixture without its own svm_loss_vectorized (the cases define theirs)."""
    start = source.index("def svm_loss_vectorized")
    return source[:start]


def _no_loops(extra: str) -> dict:
    source = _strip_vectorized(BASE) + extra
    report = grade("svm", {"linear_svm.py": source}, seed=7, mode="check")
    assert report["status"] == "graded", report.get("error")
    return next(t for t in report["tests"] if t["id"] == "vectorized_no_loops")


@pytest.mark.parametrize("case", sorted(PASSING))
def test_not_a_loop_over_the_data_passes(case):
    result = _no_loops(PASSING[case])
    assert result["status"] == "passed", result["output"]


@pytest.mark.parametrize("case", sorted(FAILING))
def test_a_loop_over_the_data_fails_however_it_is_hidden(case):
    result = _no_loops(FAILING[case])
    assert result["status"] == "failed", result["output"]
    assert "grows with" in result["output"]


def test_the_naive_version_called_is_named():
    result = _no_loops(FAILING["module_level_rebinding"])
    assert "svm_loss_naive" in result["output"] and "must not call the naive one" in result["output"]


def test_unfinished_starter_gets_no_credit_but_a_wrong_loss_does():
    starter = VECTORIZED_OK.replace("def svm_loss_vectorized(W, X, y, reg):\n",
                                    "def svm_loss_vectorized(W, X, y, reg):\n    return 0.0, np.zeros(W.shape)\n")
    result = _no_loops(starter)
    assert result["status"] == "failed" and "does not compute anything yet" in result["output"]
    wrong = VECTORIZED_OK.replace("margins.sum() / N", "margins.sum()")  # not averaged: wrong, but vectorized
    assert _no_loops(wrong)["status"] == "passed"


def test_removing_the_tracer_fails_the_check():
    sneaky = VECTORIZED_OK.replace("    N = X.shape[0]\n", "    import sys\n    sys.settrace(None)\n    N = X.shape[0]\n")
    result = _no_loops(sneaky)
    assert result["status"] == "failed" and "tracer" in result["output"]
