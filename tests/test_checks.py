"""Unit tests of the check library: rel_error, numerical gradients, hints, AST checks."""

from __future__ import annotations

import ast

import numpy as np
import pytest

from worker.checks.code import calls_in, find_function, loops_in, loops_reachable, signature_problem
from worker.checks.compare import check_close, error_map, rel_error, worst_entries
from worker.checks.context import CheckFailed
from worker.checks.gradients import gradient_check
from worker.checks.hints import loss_hint, weight_gradient_hint
from worker.checks.values import expect_array, expect_float, expect_loss_and_grad
from worker.sandbox.protocol import Foreign


def test_rel_error_matches_the_course_definition():
    assert rel_error(1.0, 1.0) == 0.0
    assert rel_error(np.array([1.0, 2.0]), np.array([1.0, 2.2])) == pytest.approx(0.2 / 4.2)
    assert rel_error(0.0, 1e-12) == pytest.approx(1e-12 / 1e-8)  # the 1e-8 floor
    assert rel_error(np.nan, 1.0) == float("inf")


def test_check_close_reports_worst_entries_and_error_map():
    expected = np.arange(12, dtype=float).reshape(3, 4) + 1
    student = expected.copy()
    student[2, 1] += 5
    with pytest.raises(CheckFailed) as info:
        check_close("dW", student, expected, 1e-7, axis_names=("row", "class"))
    d = info.value.details
    assert d["worst"][0]["index"] == [2, 1]
    assert d["wrong_entries"] == 1
    assert "row 2, class 1" in info.value.message
    assert len(d["error_map"]["values"]) == 3 and d["error_map"]["values"][2][1] == 5
    assert d["column_max_error"][1] == 5


def test_error_map_pools_large_parameters():
    big = np.zeros((3073, 10))
    big[3000, 7] = 1.0
    m = error_map(big, np.zeros_like(big))
    assert len(m["values"]) <= 64 and m["rows_per_cell"] * len(m["values"]) >= 3073
    assert max(max(r) for r in m["values"]) == 1.0
    assert worst_entries(big, np.zeros_like(big), k=1)[0]["index"] == [3000, 7]


def test_gradient_check_passes_a_smooth_function_and_catches_a_wrong_gradient():
    rng = np.random.default_rng(0)
    A = rng.standard_normal((5, 5))
    x = rng.standard_normal((5, 3))

    def f(v):
        return float(np.sum(np.tanh(A @ v)))

    grad = A.T @ (1 - np.tanh(A @ x) ** 2)
    assert gradient_check(f, x, grad, rng).max_error < 1e-7
    assert gradient_check(f, x, grad * 1.01, rng).max_error > 1e-3


def test_gradient_check_skips_kinks_instead_of_failing():
    rng = np.random.default_rng(1)
    x = np.array([[2e-5, -1.0, 0.5, 3e-6]])  # two entries sit within a step of the |x| kink

    def f(v):
        return float(np.sum(np.abs(v)))

    gc = gradient_check(f, x, np.sign(x), rng, coordinates=4, directions=0)
    assert gc.skipped_kinks >= 1
    assert gc.max_error < 1e-6
    assert len(gc.probes) + gc.skipped_kinks == 4


def test_gradient_check_with_a_tolerance_asks_for_the_second_step_only_where_it_decides():
    """With the check's tolerance, a probe that agrees at step h needs no step h/2; a wrong gradient and a
    kink get both steps, and the verdicts are those of the check that always takes both."""
    A = np.random.default_rng(0).standard_normal((5, 5))
    x = np.random.default_rng(1).standard_normal((5, 3))
    grad = A.T @ (1 - np.tanh(A @ x) ** 2)
    batches: list[int] = []

    def f_many(points):
        batches.append(len(points))
        return [float(np.sum(np.tanh(A @ p))) for p in points]

    def f(v):
        return float(np.sum(np.tanh(A @ v)))

    for analytic, passes in ((grad, True), (grad * 1.01, False)):
        batches.clear()
        fast = gradient_check(None, x, analytic, np.random.default_rng(2), coordinates=6, directions=3, tol=1e-5,
                              f_many=f_many)
        both = gradient_check(f, x, analytic, np.random.default_rng(2), coordinates=6, directions=3)
        assert (fast.max_error < 1e-5) is passes and (both.max_error < 1e-5) is passes
        assert len(fast.probes) == len(both.probes) == 9
        assert batches == ([18] if passes else [18, 18])  # one request; the second step only for failing probes

    batches.clear()
    x = np.array([[2e-5, -1.0, 0.5, 3e-6]])  # 3e-6 is within both steps of the |x| kink
    gc = gradient_check(None, x, np.sign(x), np.random.default_rng(1), coordinates=4, directions=0, tol=1e-5,
                        f_many=lambda ps: [float(np.sum(np.abs(p))) for p in ps])
    assert gc.skipped_kinks == 1 and len(gc.probes) == 3 and gc.max_error < 1e-6


def test_gradient_check_with_a_tolerance_still_finds_a_float32_loss_too_coarse_to_probe():
    """A loss computed in float32 has differences of rounding noise: the step-h estimate does not agree with
    the gradient, and h and h/2 do not agree with each other, so the probes are skipped (the checks then say
    the loss is not smooth at this scale) instead of passing by chance."""
    A = np.random.default_rng(0).standard_normal((5, 5)).astype(np.float32)
    x = np.random.default_rng(1).standard_normal((5, 3))
    grad = A.T.astype(np.float64) @ (1 - np.tanh(A.astype(np.float64) @ x) ** 2)

    def f_many(points):
        return [float(np.sum(np.tanh(A @ p.astype(np.float32)))) for p in points]

    gc = gradient_check(None, x, grad, np.random.default_rng(2), coordinates=6, directions=3, tol=1e-5,
                        f_many=f_many)
    assert len(gc.probes) + gc.skipped_kinks == 9
    assert len(gc.probes) <= 2 and all(p.rel_error > 1e-5 for p in gc.probes)


@pytest.mark.parametrize("a,b,keyword", [
    (1.0, 0.0, "missing the regularisation gradient 2*reg*W"),
    (1.0, "reg", "0.5*reg"),
    ("N", "2reg", "factor of N"),
    (1.0, 2.0, "without reg"),
    (-1.0, "2reg", "wrong sign"),
])
def test_weight_gradient_hints(a, b, keyword):
    rng = np.random.default_rng(3)
    n, reg = 17, 0.3
    G, W = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    a = n if a == "N" else a
    b = {"reg": reg, "2reg": 2 * reg}.get(b, b)
    hint = weight_gradient_hint(a * G + b * W, G, W, reg, n)
    assert hint and keyword in hint


def test_no_hint_for_a_correct_or_unrecognisable_gradient():
    rng = np.random.default_rng(4)
    G, W = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    assert weight_gradient_hint(G + 0.6 * W, G, W, 0.3, 10) is None
    assert weight_gradient_hint(rng.standard_normal((6, 4)), G, W, 0.3, 10) is None


@pytest.mark.parametrize("student,keyword", [
    (2.0, "missing the regularisation term"),
    (2.0 + 0.5 * 0.1 * 3.0, "0.5*reg"),
    (2.0 + 3.0, "without the factor reg"),
    (10 * 2.0 + 0.3, "a factor of N"),
    (2.0 + 0.3 + 1.0, "correct class"),
    (float("nan"), "subtract the max"),
])
def test_loss_hints(student, keyword):
    hint = loss_hint(student, data_loss=2.0, reg_term=3.0, reg=0.1, n=10)
    assert hint and keyword in hint


def test_loss_hint_is_silent_for_the_right_loss():
    assert loss_hint(2.3, data_loss=2.0, reg_term=3.0, reg=0.1, n=10) is None


SOURCE = '''
def helper(x):
    return [v for v in x]

def svm_loss_vectorized(W, X, y, reg):
    total = helper(X)
    return 0.0, W

def svm_loss_naive(W, X, y):
    for i in range(3):
        while False:
            pass
'''


def test_ast_checks():
    tree = ast.parse(SOURCE)
    vec = find_function(tree, "svm_loss_vectorized")
    naive = find_function(tree, "svm_loss_naive")
    assert loops_in(vec) == []
    assert [lp.kind for lp in loops_in(naive)] == ["for loop", "while loop"]
    assert calls_in(vec) == {"helper"}
    reach = loops_reachable(tree, vec)
    assert reach and reach[0][0] == "helper" and reach[0][1][0].kind == "list comprehension"
    assert "expected svm_loss_naive(W, X, y, reg)" in signature_problem(naive, ["W", "X", "y", "reg"], "svm_loss_naive")
    assert signature_problem(vec, ["W", "X", "y", "reg"], "f") is None


def test_value_validation_messages():
    with pytest.raises(CheckFailed, match="should be a float, but it is str"):
        expect_float("1.0", "the loss")
    with pytest.raises(CheckFailed, match="ndarray subclass"):
        expect_array(Foreign("numpy.matrix", note="ndarray subclass"), "dW", (2, 2))
    with pytest.raises(CheckFailed, match=r"has shape \(3, 2\), expected \(2, 3\).*transpose"):
        expect_array(np.zeros((3, 2)), "dW", (2, 3))
    with pytest.raises(CheckFailed, match="NaN or infinite"):
        expect_array(np.array([1.0, np.inf]), "dW", (2,))
    with pytest.raises(CheckFailed, match="should return a tuple"):
        expect_loss_and_grad(None, "f", (2,))
    loss, grad = expect_loss_and_grad((np.float32(1.5), np.ones(2, dtype=np.float32)), "f", (2,))
    assert loss == 1.5 and grad.dtype == np.float64
