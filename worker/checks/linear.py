"""Checks shared by the linear classifiers (SVM and softmax): ``f(W, X, y, reg) -> (loss, dW)``.

An assignment's ``tests.py`` binds these to its function names through the
test's ``params`` in ``assignment.toml`` (``func``, ``naive``, ``loss``). Each
check draws fresh shapes and data from ``ctx.rng``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from worker.checks.code import calls_in, find_function, loops_in, loops_reachable, signature_problem
from worker.checks.compare import check_close, rel_error
from worker.checks.context import CheckFailed, Context, Outcome
from worker.checks.gradients import gradient_check
from worker.checks.hints import loss_hint, weight_gradient_hint
from worker.checks.values import expect_loss_and_grad
from worker.sandbox.protocol import Ref

SIGNATURE = ["W", "X", "y", "reg"]
LOSS_TOL = 1e-8  # analytic vs analytic in float64 agree to ~1e-13; the margin is for other summation orders
GRAD_TOL = 1e-7
CONSISTENCY_TOL = 1e-5  # analytic vs central differences (kinks skipped)
REGS_WITH = (0.1, 50.0)
AXES = ("feature row", "class column")


@dataclass
class Problem:
    W: np.ndarray
    X: np.ndarray
    y: np.ndarray

    @property
    def shape(self) -> str:
        n, d = self.X.shape
        return f"N={n}, D={d}, C={self.W.shape[1]}"


def make_problem(rng: np.random.Generator, *, n: int | None = None, d: int | None = None, c: int | None = None,
                 small_weights: bool = False) -> Problem:
    """Random data with a bias column (``X[:, -1] == 1``), every class present when N allows it."""
    n = n or int(rng.integers(16, 64))
    d = d or int(rng.integers(6, 40))
    c = c or int(rng.integers(3, 11))
    X = rng.standard_normal((n, d))
    X[:, -1] = 1.0
    y = rng.integers(0, c, size=n)
    if n >= c:
        y[rng.permutation(n)[:c]] = np.arange(c)
    scale = 1e-2 if small_weights else rng.uniform(0.3, 1.0) / math.sqrt(d)
    W = scale * rng.standard_normal((d, c))
    return Problem(W, X, y.astype(np.int64))


def problems(rng: np.random.Generator) -> list[Problem]:
    """Two shapes per check: notebook-like small weights, and weights whose scores spread around the margins."""
    return [make_problem(rng, small_weights=True), make_problem(rng)]


def _check_signature(ctx: Context, func: str) -> None:
    def compute() -> str | None:
        node = find_function(ctx.tree, func)
        if node is None:
            return None  # the child reports a missing name itself (it may be defined dynamically)
        return signature_problem(node, SIGNATURE, func)

    problem = ctx.memo(f"signature:{func}", compute)
    if problem:
        raise CheckFailed(problem)


def call_loss(ctx: Context, func: str, W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float,
              *, finite: bool = True, hint: str | None = None) -> tuple[float, np.ndarray]:
    """Call the student's ``func`` and validate ``(loss, dW)``."""
    _check_signature(ctx, func)
    value = ctx.student.call(func, W, X, y, reg, module=ctx.module)
    return expect_loss_and_grad(value, func, W.shape, finite=finite, hint=hint)


def _ref(ctx: Context, func: str, W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
    loss, grad = getattr(ctx.reference, func)(W.copy(), X.copy(), y.copy(), reg)
    return float(loss), np.asarray(grad, dtype=np.float64)


def _overflow_hint(ctx: Context) -> str | None:
    return ("The exponentials overflow at large scores: subtract the max score of each row before np.exp "
            "(the softmax does not change)") if ctx.params.get("loss") == "softmax" else None


# --------------------------------------------------------------------------- known values (public)


def loss_at_zero(ctx: Context) -> Outcome:
    """At ``W = 0`` every score is equal: SVM loss is ``C - 1``, softmax loss is ``log C``."""
    func = ctx.params["func"]
    p = make_problem(ctx.rng)
    W = np.zeros_like(p.W)
    c = W.shape[1]
    expected = float(c - 1) if ctx.params["loss"] == "svm" else math.log(c)
    formula = "C - 1" if ctx.params["loss"] == "svm" else "log(C)"
    loss, _ = call_loss(ctx, func, W, p.X, p.y, 0.5)
    if abs(loss - expected) > 1e-9 * max(1.0, expected):
        hint = None
        if ctx.params["loss"] == "svm" and abs(loss - (expected + 1)) < 1e-9:
            hint = loss_hint(loss, expected, 0.0, 0.0, len(p.y))
        elif abs(loss - expected * len(p.y)) < 1e-9 * expected * len(p.y):
            hint = f"The loss is summed but not averaged over the N = {len(p.y)} samples (a factor of N)"
        raise CheckFailed(f"{func} at W = 0 with C = {c} classes ({p.shape}) returned loss {loss:.10g}; "
                          f"expected {formula} = {expected:.10g}", hint=hint,
                          details={"student": loss, "expected": expected, "tolerance": 1e-9})
    return Outcome(f"loss at W = 0 is {formula} = {expected:.6g} ({p.shape})")


def reg_known_value(ctx: Context) -> Outcome:
    """With ``X = 0`` every score is 0, so the loss is the W = 0 value plus ``reg * sum(W*W)`` and
    ``dW = 2 * reg * W`` exactly: the regularisation convention, checked without the reference."""
    func = ctx.params["func"]
    p = make_problem(ctx.rng)
    X = np.zeros_like(p.X)
    c = p.W.shape[1]
    reg = 0.7
    base = float(c - 1) if ctx.params["loss"] == "svm" else math.log(c)
    reg_term = float(np.sum(p.W * p.W))
    loss, dW = call_loss(ctx, func, p.W, X, p.y, reg)
    expected = base + reg * reg_term
    hint = loss_hint(loss, base, reg_term, reg, len(p.y), per_sample_constant=None)
    check_close(f"{func} loss with X = 0 (data loss {base:.6g}) plus reg * sum(W*W) at reg = {reg:g} ({p.shape})",
                loss, expected, LOSS_TOL, hint=hint)
    ghint = weight_gradient_hint(dW, np.zeros_like(dW), p.W, reg, len(p.y))
    check_close(f"{func} dW with X = 0, which is exactly 2 * reg * W ({p.shape})", dW, 2 * reg * p.W, GRAD_TOL,
                hint=ghint, axis_names=AXES, param="dW")
    return Outcome("the regularisation term is reg * sum(W*W) and its gradient 2 * reg * W")


# --------------------------------------------------------------------------- against the reference


def _loss_vs_reference(ctx: Context, regs: tuple[float, ...]) -> Outcome:
    func = ctx.params["func"]
    checked = []
    for p in problems(ctx.rng):
        data_loss, _ = _ref(ctx, func, p.W, p.X, p.y, 0.0)
        for reg in regs:
            expected, _ = _ref(ctx, func, p.W, p.X, p.y, reg)
            loss, _ = call_loss(ctx, func, p.W, p.X, p.y, reg, finite=False,
                                hint=_overflow_hint(ctx))
            hint = loss_hint(loss, data_loss, float(np.sum(p.W * p.W)), reg, len(p.y),
                             per_sample_constant=1.0 if ctx.params["loss"] == "svm" else None)
            if not np.isfinite(loss):
                raise CheckFailed(f"{func} returned loss {loss} at reg = {reg:g} ({p.shape})", hint=hint)
            check_close(f"{func} loss at reg = {reg:g} ({p.shape})", loss, expected, LOSS_TOL, hint=hint)
            checked.append(reg)
    return Outcome(f"loss matches the reference at reg = {', '.join(f'{r:g}' for r in regs)} "
                   f"on {len(checked) // len(regs)} random shapes", {"tolerance": LOSS_TOL})


def loss_reference_noreg(ctx: Context) -> Outcome:
    return _loss_vs_reference(ctx, (0.0,))


def loss_reference_reg(ctx: Context) -> Outcome:
    return _loss_vs_reference(ctx, REGS_WITH)


def _consistency_note(ctx: Context, func: str, p: Problem, reg: float, dW: np.ndarray) -> str | None:
    """Does the student's gradient at least match the student's own loss? (explains the failure)"""
    def f(W: np.ndarray) -> float:
        return call_loss(ctx, func, W, p.X, p.y, reg, finite=False)[0]

    try:
        gc = gradient_check(f, p.W, dW, ctx.rng, coordinates=4, directions=2)
    except CheckFailed:
        return None
    if gc.probes and gc.max_error < CONSISTENCY_TOL:
        loss, _ = call_loss(ctx, func, p.W, p.X, p.y, reg, finite=False)
        expected, _ = _ref(ctx, func, p.W, p.X, p.y, reg)
        if rel_error(loss, expected) > LOSS_TOL:
            return ("Your dW is the exact gradient of your own loss, but that loss differs from the correct one: "
                    "fix the loss formula and differentiate it again.")
    elif gc.probes:
        return "Your dW does not match the numerical gradient of your own loss either."
    return None


def _grad_vs_reference(ctx: Context, regs: tuple[float, ...]) -> Outcome:
    func = ctx.params["func"]
    for p in problems(ctx.rng):
        _, data_grad = _ref(ctx, func, p.W, p.X, p.y, 0.0)
        for reg in regs:
            _, expected = _ref(ctx, func, p.W, p.X, p.y, reg)
            _, dW = call_loss(ctx, func, p.W, p.X, p.y, reg, hint=_overflow_hint(ctx))
            try:
                check_close(f"{func} dW at reg = {reg:g} ({p.shape})", dW, expected, GRAD_TOL,
                            axis_names=AXES, param="dW")
            except CheckFailed as failure:
                hints = [h for h in (weight_gradient_hint(dW, data_grad, p.W, reg, len(p.y)),
                                     _consistency_note(ctx, func, p, reg, dW)) if h]
                failure.hint = " ".join(hints) if hints else None
                failure.details["reg"] = reg
                raise
    return Outcome(f"dW matches the reference at reg = {', '.join(f'{r:g}' for r in regs)} on 2 random shapes",
                   {"tolerance": GRAD_TOL})


def grad_reference_noreg(ctx: Context) -> Outcome:
    return _grad_vs_reference(ctx, (0.0,))


def grad_reference_reg(ctx: Context) -> Outcome:
    return _grad_vs_reference(ctx, REGS_WITH)


def large_batch(ctx: Context) -> Outcome:
    """CIFAR-10 sized inputs (D = 3073, C = 10, N = 500), as the notebook uses."""
    func = ctx.params["func"]
    p = make_problem(ctx.rng, n=500, d=3073, c=10, small_weights=True)
    reg = 2.5e4 * 1e-3
    loss_e, grad_e = _ref(ctx, func, p.W, p.X, p.y, reg)
    loss, dW = call_loss(ctx, func, p.W, p.X, p.y, reg)
    check_close(f"{func} loss ({p.shape})", loss, loss_e, LOSS_TOL)
    check_close(f"{func} dW ({p.shape})", dW, grad_e, GRAD_TOL, axis_names=AXES, param="dW")
    return Outcome(f"loss and dW match the reference on {p.shape}")


# --------------------------------------------------------------------------- reference-free (public)


def grad_consistency(ctx: Context) -> Outcome:
    """The student's dW against central differences of the student's own loss."""
    func = ctx.params["func"]
    details: dict[str, Any] = {}
    for p, reg in zip(problems(ctx.rng), (0.0, 0.5)):
        loss, dW = call_loss(ctx, func, p.W, p.X, p.y, reg, hint=_overflow_hint(ctx))

        def f(W: np.ndarray, p: Problem = p, reg: float = reg) -> float:
            return call_loss(ctx, func, W, p.X, p.y, reg)[0]

        gc = gradient_check(f, p.W, dW, ctx.rng)
        details[f"reg={reg:g}"] = gc.details()
        if len(gc.probes) < 4:
            raise CheckFailed(f"{func}: too few probes away from kinks ({len(gc.probes)}); the loss jumps "
                              "when W moves by 1e-4, is it continuous?", details=details)
        worst = gc.worst()
        if worst is not None and worst.rel_error > CONSISTENCY_TOL:
            where = (f"dW[{worst.index[0]}, {worst.index[1]}] (feature {worst.index[0]}, class {worst.index[1]})"
                     if worst.index else "a random direction")
            raise CheckFailed(
                f"{func} at reg = {reg:g} ({p.shape}): your dW disagrees with the numerical gradient of your own "
                f"loss; relative error {worst.rel_error:.3e} > {CONSISTENCY_TOL:g} at {where}: "
                f"analytic {worst.analytic:.6g}, numerical {worst.numeric:.6g}",
                details=details)
    return Outcome("dW matches central differences of your own loss "
                   f"(max relative error {max(d['max_rel_error'] for d in details.values()):.2e})", details)


def no_input_mutation(ctx: Context) -> Outcome:
    """W, X and y are the caller's arrays: a function must not change them."""
    func = ctx.params["func"]
    _check_signature(ctx, func)
    p = make_problem(ctx.rng)
    for name, value in (("W", p.W), ("X", p.X), ("y", p.y)):
        ctx.student.put(f"input_{name}", value)
    value = ctx.student.call(func, Ref("input_W"), Ref("input_X"), Ref("input_y"), 0.1, module=ctx.module)
    expect_loss_and_grad(value, func, p.W.shape, finite=False)
    changed = []
    for name, original in (("W", p.W), ("X", p.X), ("y", p.y)):
        after = ctx.student.get(f"input_{name}")
        if not isinstance(after, np.ndarray) or after.shape != original.shape or not np.array_equal(after, original):
            changed.append(name)
    if changed:
        raise CheckFailed(f"{func} modified its input{'s' if len(changed) > 1 else ''} {', '.join(changed)} in place",
                          hint="The function modifies arrays it was given; work on a copy (e.g. X = X - mean, "
                               "not X -= mean) so the caller's data stays intact",
                          details={"modified": changed})
    return Outcome("W, X and y are unchanged after the call")


def agrees_with_naive(ctx: Context) -> Outcome:
    func, naive = ctx.params["func"], ctx.params["naive"]
    for p in problems(ctx.rng):
        reg = float(ctx.rng.choice([0.0, 0.1, 5.0]))
        loss_n, dW_n = call_loss(ctx, naive, p.W, p.X, p.y, reg)
        loss_v, dW_v = call_loss(ctx, func, p.W, p.X, p.y, reg)
        check_close(f"{func} vs {naive}: loss ({p.shape}, reg = {reg:g})", loss_v, loss_n, LOSS_TOL)
        check_close(f"{func} vs {naive}: dW ({p.shape}, reg = {reg:g})", dW_v, dW_n, GRAD_TOL, axis_names=AXES,
                    param="dW")
    return Outcome(f"{func} and {naive} agree on 2 random shapes")


def no_loops(ctx: Context) -> Outcome:
    """The vectorized function has no loop or comprehension, nor does any of the file's functions it calls (AST)."""
    func, naive = ctx.params["func"], ctx.params["naive"]
    node = find_function(ctx.tree, func)
    if node is None:
        raise CheckFailed(f"{ctx.module}.py does not define {func} (as a plain def)")
    if naive in calls_in(node):
        raise CheckFailed(f"{func} calls {naive}; it must compute the loss without the naive (loop) version",
                          hint="The vectorized version must not loop, not even by calling the naive one")
    for where, loops in loops_reachable(ctx.tree, node):
        described = ", ".join(f"line {lp.line} ({lp.kind})" for lp in loops[:5])
        via = "" if where == func else f" in {where}, which it calls,"
        raise CheckFailed(f"{func} is supposed to be fully vectorized but contains a loop{via}: {described}",
                          hint="Replace the loop with array operations: scores = X.dot(W), fancy indexing "
                               "scores[np.arange(N), y], boolean masks, and X.T.dot(...) for dW",
                          details={"function": where, "loops": [{"line": lp.line, "kind": lp.kind} for lp in loops]})
    # Credit for "no loops" only goes to code that computes something: the unfinished starter has no
    # loops either. The known value at W = 0 is a cheap, reference-free test of that.
    p = make_problem(ctx.rng)
    c = p.W.shape[1]
    expected = float(c - 1) if ctx.params["loss"] == "svm" else math.log(c)
    loss, _ = call_loss(ctx, func, np.zeros_like(p.W), p.X, p.y, 0.5)
    if abs(loss - expected) > 1e-9 * max(1.0, expected):
        raise CheckFailed(f"{func} has no loops, but it does not compute the loss yet (at W = 0 it returns "
                          f"{loss:.6g} instead of {expected:.6g}); this check is credited once it does")
    return Outcome(f"{func} has no loops")


def faster_than_naive(ctx: Context) -> Outcome:
    """Interleaved timings of naive and vectorized on the same inputs, prints discarded.

    Worth no points in the shipped assignments: the AST check is the deterministic one, and correct
    code that formats large arrays for printing can be slower than loops. It tells the student the
    speedup the notebook would show.
    """
    func, naive = ctx.params["func"], ctx.params["naive"]
    node = find_function(ctx.tree, naive)
    if node is not None and not loops_in(node):
        return Outcome(f"not timed: {naive} has no loops either, so there is nothing to compare",
                       {"skipped": True})
    p = make_problem(ctx.rng, n=400, d=200, c=10, small_weights=True)
    for name, value in (("W", p.W), ("X", p.X), ("y", p.y)):
        ctx.student.put(f"timing_{name}", value)
    args = (Ref("timing_W"), Ref("timing_X"), Ref("timing_y"), 0.1)
    ctx.student.call(func, *args, module=ctx.module, reply=False, quiet=True)  # warm-up
    times: dict[str, list[float]] = {naive: [], func: []}
    for _ in range(5):
        for name in (naive, func):
            started = time.perf_counter()
            ctx.student.call(name, *args, module=ctx.module, reply=False, quiet=True)
            times[name].append(time.perf_counter() - started)
    t_naive = float(np.median(times[naive]))
    t_vec = float(np.median(times[func]))
    ratio = t_naive / max(t_vec, 1e-9)
    details = {"naive_seconds": t_naive, "vectorized_seconds": t_vec, "speedup": ratio, "required": 2.0}
    if ratio < 2.0:
        vec_node = find_function(ctx.tree, func)
        if vec_node is not None and not loops_reachable(ctx.tree, vec_node):
            hint = ("No loop was found in it, so the time goes elsewhere: building large strings for print, "
                    "np.array2string, copies of the data, or a Python-level operation per element")
        else:
            hint = "The vectorized version should have no Python loop over samples or classes"
        raise CheckFailed(f"{func} took {t_vec * 1e3:.1f} ms and {naive} {t_naive * 1e3:.1f} ms on {p.shape} "
                          f"(median of 5, interleaved, prints discarded): only {ratio:.2f}x faster, at least 2x "
                          "expected (this check is worth no points)", hint=hint, details=details)
    return Outcome(f"{ratio:.1f}x faster than {naive} ({t_vec * 1e3:.2f} ms vs {t_naive * 1e3:.2f} ms on {p.shape})",
                   details)


def stable_large_scores(ctx: Context) -> Outcome:
    """Adding a constant to every score (bias row of W) must change neither the loss nor dW."""
    func = ctx.params["func"]
    p = make_problem(ctx.rng)
    shifted = p.W.copy()
    shifted[-1, :] += 1000.0  # X[:, -1] == 1, so every score grows by 1000
    loss, dW = call_loss(ctx, func, p.W, p.X, p.y, 0.0)
    loss_s, dW_s = call_loss(ctx, func, shifted, p.X, p.y, 0.0, hint=_overflow_hint(ctx))
    hint = "The loss does not change when a constant is added to every score; yours does"
    check_close(f"{func} loss after adding 1000 to every score ({p.shape})", loss_s, loss, 1e-6, hint=hint)
    check_close(f"{func} dW after adding 1000 to every score ({p.shape})", dW_s, dW, 1e-6, hint=hint,
                axis_names=AXES, param="dW")
    return Outcome("loss and dW are unchanged when 1000 is added to every score")
