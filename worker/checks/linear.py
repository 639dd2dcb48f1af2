"""Checks shared by the linear classifiers (SVM and softmax): ``f(W, X, y, reg) -> (loss, dW)``.

An assignment's ``tests.py`` binds these to its function names through the
test's ``params`` in ``assignment.toml`` (``func``, ``naive``, ``loss``). The
comparisons with the reference run over the input regimes of
:mod:`worker.checks.regimes` (two classes, fewer samples than classes, classes
absent from ``y``, ``D == C``, repeated rows, ties, tiny and large weights, ...),
drawn fresh from the report's seed; a failure says in which regimes the function
is wrong and, where the assignment's catalogue recognises the numbers, which
mistake produces them (:mod:`worker.checks.diagnosis`).
"""

from __future__ import annotations

import ast
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from worker.checks.code import find_function, loops_in, loops_reachable, signature_problem
from worker.checks.compare import check_close, entrywise_rel_error, fmt_pair, rel_error
from worker.checks.context import CheckFailed, Context, Outcome
from worker.checks.diagnosis import diagnose
from worker.checks.gradients import gradient_check
from worker.checks.hints import loss_hint, precision_hint, weight_gradient_hint
from worker.checks.regimes import Problem, make_problem, regimes
from worker.checks.values import expect_float, expect_loss_and_grad, expect_pair
from worker.checks.vectorized import describe_lines, grows, measure_growth, parse_trace
from worker.sandbox import StudentCodeError
from worker.sandbox.protocol import Ref

SIGNATURE = ["W", "X", "y", "reg"]
LOSS_TOL = 1e-8  # analytic vs analytic in float64 agree to ~1e-13; the margin is for other summation orders
GRAD_TOL = 1e-7
CONSISTENCY_TOL = 1e-5  # analytic vs central differences (kinks skipped)
REGS_WITH = (5e-6, 0.1, 50.0)  # the notebook's reg, a moderate one, a large one
AXES = ("feature row", "class column")


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
              *, finite: bool = True, hint: str | None = None, any_loss: bool = False) -> tuple[Any, np.ndarray]:
    """Call the student's ``func`` and validate ``(loss, dW)``; with ``any_loss``, a loss that is not a number (an
    array, None) comes back as None instead of failing, for the tests that judge dW only."""
    _check_signature(ctx, func)
    try:
        value = ctx.student.call(func, W, X, y, reg, module=ctx.module)
    except StudentCodeError as err:
        explained = error_hint(err, W, y)
        if explained is None:
            raise
        raise CheckFailed(str(err), hint=explained, details={"exception": err.exc_type}) from None
    return _validated(ctx, value, func, W, X, finite=finite, hint=hint, any_loss=any_loss)


def _validated(ctx: Context, value: Any, func: str, W: np.ndarray, X: np.ndarray, *, finite: bool,
               hint: str | None, any_loss: bool = False) -> tuple[Any, np.ndarray]:
    """``expect_loss_and_grad``, with a hint for a NaN or inf that fits the scores of these inputs (an overflow
    only where scores are large); ``hint`` replaces it for non-finite answers. With ``any_loss``, a loss of the
    wrong type is returned as None (the loss tests charge it) and dW is still validated."""
    if any_loss:
        loss, grad = expect_pair(value, func, "loss", "dW")
        try:
            expect_float(loss, f"the loss returned by {func}", finite=False)
        except CheckFailed:
            return None, expect_loss_and_grad((0.0, grad), func, W.shape, finite=finite, hint=hint)[1]
    try:
        return expect_loss_and_grad(value, func, W.shape, finite=finite)
    except CheckFailed as failure:
        if failure.hint is None and ("not a finite number" in failure.message or "NaN or infinite" in failure.message):
            failure.hint = hint if hint is not None else _nonfinite_hint(ctx, W, X)
        raise


def losses_at(ctx: Context, func: str, Ws: list[np.ndarray], X: np.ndarray, y: np.ndarray, reg: float,
              *, finite: bool = True) -> list[float]:
    """The student's loss at each W of ``Ws`` (one sandbox request), each answer validated as ``call_loss``'s."""
    _check_signature(ctx, func)
    if not Ws:
        return []
    try:
        values = ctx.student.call_each(func, (Ws[0], X, y, reg), 0, Ws, module=ctx.module)
    except StudentCodeError as err:
        explained = error_hint(err, Ws[0], y)
        if explained is None:
            raise
        raise CheckFailed(str(err), hint=explained, details={"exception": err.exc_type}) from None
    return [expect_loss_and_grad(value, func, Ws[0].shape, finite=finite)[0] for value in values]


def error_hint(err: StudentCodeError, W: np.ndarray, y: np.ndarray) -> str | None:
    """Name the usual cause of an exception from the sizes involved (a class count that is not W.shape[1])."""
    if err.exc_type not in ("IndexError", "ValueError"):
        return None
    c = W.shape[1]
    from_labels = {int(np.max(y)) + 1, len(np.unique(y))} if y.size else set()
    sizes = {int(v) for v in re.findall(r"\b(\d+)\b", err.exc_message)}
    bounds = re.search(r"index -?\d+ is out of bounds for axis \d+ with size (\d+)", err.exc_message)
    if bounds:  # the index is a position, not a count: only the indexed array's size says where the count came from
        sizes = {int(bounds.group(1))}
        if err.exc_type == "IndexError" and int(bounds.group(1)) == len(y) < c:
            return (f"An index ran past the N = {len(y)} samples on inputs with more classes than samples (C = {c}): "
                    f"a class index j (0 to {c - 1}) seems to index an array with one row per sample (X[j] where "
                    "X[i] is meant?). Index samples with i and classes with j")
    if sizes & (from_labels - {c, W.shape[0], len(y)}):
        return (f"The number of classes seems to come from the labels (np.max(y) + 1 or np.unique(y) gives "
                f"{', '.join(map(str, sorted(from_labels - {c})))} here) but W has C = {c} columns: use "
                "num_classes = W.shape[1]; a minibatch need not contain every class")
    if 10 in sizes and 10 not in (c, W.shape[0], len(y)):
        return (f"The code seems to assume 10 classes (CIFAR-10), but W has C = {c} columns here: take the number of "
                "classes from W.shape[1] and the number of samples from X.shape[0]")
    n = len(y)
    if err.exc_type == "ValueError" and re.search(rf"broadcast.*\({n},\s*{c}\)\s*\({n},\)", err.exc_message):
        return (f"An (N, C) = ({n}, {c}) array meets an (N,) = ({n},) one: a sum or max over axis=1 loses that axis, "
                "so it lines up with the classes instead of the samples. Keep it with keepdims=True "
                "(np.sum(exp_scores, axis=1, keepdims=True)) or index with [:, None]")
    if err.exc_type == "IndexError" and re.search(rf"with size {c}\b", err.exc_message):
        return (f"An index reaches past the C = {c} classes of W: is the number of classes hard-coded? Use "
                "W.shape[1]")
    return None


def _ref(ctx: Context, func: str, W: np.ndarray, X: np.ndarray, y: np.ndarray, reg: float) -> tuple[float, np.ndarray]:
    """The reference's answer, computed once per grading run for given arrays (the loss and gradient tests
    of both functions ask for the same regimes). Keyed by the arrays' identities, which the cache keeps
    alive, so a key is never reused by other arrays."""
    cache: dict[Any, Any] = ctx.memo("reference_answers", dict)
    key = (func, id(W), id(X), id(y), float(reg))
    hit = cache.get(key)
    if hit is None or hit[0] is not W or hit[1] is not X or hit[2] is not y:
        loss, grad = getattr(ctx.reference, func)(W.copy(), X.copy(), y.copy(), reg)
        hit = cache[key] = (W, X, y, float(loss), np.asarray(grad, dtype=np.float64))
    return hit[3], hit[4].copy()


OVERFLOW_SCORES = 300.0  # np.exp overflows beyond ~709.8: scores below this cannot overflow it, even summed over C


def _nonfinite_hint(ctx: Context, W: np.ndarray, X: np.ndarray) -> str | None:
    """What a NaN or inf can come from at these inputs: an overflow only where some score is large."""
    try:
        with np.errstate(all="ignore"):
            scale = float(np.max(np.abs(np.asarray(X, np.float64) @ np.asarray(W, np.float64)))) if X.size and W.size \
                else 0.0
    except (ValueError, TypeError):
        return None
    softmax = ctx.params.get("loss") == "softmax"
    if not np.isfinite(scale) or scale > OVERFLOW_SCORES:
        return ("The exponentials overflow at large scores: subtract the max score of each row before np.exp "
                "(the softmax does not change), and use the shifted scores in every term (the correct class's "
                "score and the log of the sum alike)") if softmax else None
    cause = ("the log of 0 or of a negative number, 0/0, or an array changed in place before it is read: "
             "dscores = probs makes dscores the same array as probs, so dscores[np.arange(N), y] -= 1 changes probs "
             "too (p - 1 is negative and its log is nan); take probs.copy(), or compute the loss before changing it"
             if softmax else
             "0/0 or a division by zero, an array made with np.empty and not filled, or an array changed in place "
             "before it is read (take a copy)")
    size = "is 0" if scale == 0 else f"is at most {scale:.3g} in absolute value"
    return (f"Every score here {size}, so nothing overflows (np.exp overflows only beyond 709): a NaN or inf here "
            f"can be {cause}")


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
        n = len(p.y)
        if ctx.params["loss"] == "svm" and abs(loss - (expected + 1)) < 1e-9:
            hint = loss_hint(loss, expected, 0.0, 0.0, n)
        elif ctx.params["loss"] == "svm" and n > 1 and abs(loss - (expected + (n - 1) / n)) < 1e-9:
            hint = (f"The loss is (N - 1) / N = {(n - 1) / n:.6g} too large: the correct classes' margins (delta = 1 "
                    "each, one per sample) stay in the sum and only 1 is subtracted from the total; zero them "
                    "(margins[np.arange(N), y] = 0) or subtract N, one per sample")
        elif abs(loss - expected * len(p.y)) < 1e-9 * expected * len(p.y):
            hint = (f"The loss is N = {len(p.y)} times too large (a factor of N): it is summed but not averaged over the "
                    "samples, or it sums an (N, N) block such as probs[:, y] where probs[np.arange(N), y] picks one "
                    "entry per sample")
        else:
            n, d = p.X.shape
            for factor, text in ((n / d, f"The loss is divided by D = {d} (X.shape[1], the number of features) instead "
                                         f"of N = {n} (X.shape[0], the number of samples)"),
                                 (1 / c, f"The loss is divided by C = {c} as well as by N: np.mean over the whole "
                                         "(N, C) matrix; the data loss is the sum over classes, averaged over samples"),
                                 (n / c, f"The loss is divided by C = {c} instead of N = {n}: average over the "
                                         "samples, sum over the classes"),
                                 *(((1 / math.log(base), f"The loss is {1 / math.log(base):.4f} = 1/ln({base:g}) times "
                                    f"log(C): it uses {name}, where the cross-entropy uses the natural logarithm "
                                    "np.log") for name, base in (("np.log10", 10.0), ("np.log2", 2.0)))
                                   if ctx.params["loss"] != "svm" else ())):
                if factor != 1 and abs(loss - expected * factor) < 1e-9 * max(1.0, expected * factor):
                    hint = text
                    break
        raise CheckFailed(f"{func} at W = 0 with C = {c} classes ({p.shape}) returned loss {loss:.10g}; "
                          f"expected {formula} = {expected:.10g}", hint=hint,
                          details={"student": loss, "expected": expected, "tolerance": 1e-9})
    return Outcome(f"loss at W = 0 is {formula} = {expected:.6g} ({p.shape})")


def reg_known_value(ctx: Context) -> Outcome:
    """With ``X = 0`` every score is 0, so the loss is the W = 0 value plus ``reg * sum(W*W)`` and
    ``dW = 2 * reg * W`` exactly: the regularisation convention, checked without the reference, at a large reg
    and at the notebook's small one (a regularisation skipped below some threshold shows there)."""
    func = ctx.params["func"]
    p = make_problem(ctx.rng)
    X = np.zeros_like(p.X)
    c = p.W.shape[1]
    base = float(c - 1) if ctx.params["loss"] == "svm" else math.log(c)
    reg_term = float(np.sum(p.W * p.W))
    # The edition's convention: 2017's reg * sum(W*W) (gradient 2 * reg * W), or 2016's 0.5 * reg * sum(W*W).
    half = ctx.conventions.get("reg") == "half"
    coef, term = (0.5, "0.5 * reg * sum(W*W)") if half else (1.0, "reg * sum(W*W)")
    for reg in (0.7, 5e-6):
        loss, dW = call_loss(ctx, func, p.W, X, p.y, reg)
        expected = base + coef * reg * reg_term
        hint = None if half else loss_hint(loss, base, reg_term, reg, len(p.y), per_sample_constant=None)
        if hint is None and np.isfinite(loss):
            for value, text in ((base + coef * reg * float(np.sum(p.W[:-1] * p.W[:-1])),
                                 "The regularisation leaves out the last row of W (the bias row): this assignment "
                                 "regularises every weight, the bias row too"),
                                (base + coef * reg * float(np.linalg.norm(p.W)),
                                 "The regularisation term is reg * np.linalg.norm(W), the norm; the loss uses its "
                                 "square, reg * np.sum(W * W)")):
                if abs(loss - value) <= 1e-9 * max(1.0, abs(value)) and abs(loss - expected) > 1e-9 * abs(expected):
                    hint = text
                    break
        check_close(f"{func} loss with X = 0 (data loss {base:.6g}) plus {term} at reg = {reg:g} ({p.shape})",
                    loss, expected, LOSS_TOL, hint=hint)
        ghint = None if half else weight_gradient_hint(dW, np.zeros_like(dW), p.W, reg, len(p.y))
        if ghint is None and np.all(np.isfinite(dW)) and rel_error(dW, np.full_like(dW, 2 * coef * reg * np.sum(p.W))) < 1e-9:
            ghint = (f"Every entry of your dW is the same number, {2 * coef:g} * reg * np.sum(W): the regularisation "
                     f"gradient is the array {2 * coef:g} * reg * W, entry by entry")
        check_close(f"{func} dW with X = 0, which is exactly {2 * coef:g} * reg * W at reg = {reg:g} ({p.shape})", dW,
                    2 * coef * reg * p.W, GRAD_TOL, hint=ghint, axis_names=AXES, param="dW")
    return Outcome(f"the regularisation term is {term} and its gradient {2 * coef:g} * reg * W (reg = 0.7 and 5e-6)")


# --------------------------------------------------------------------------- against the reference


def _expected(ctx: Context, func: str, p: Problem, reg: float) -> tuple[float, list[np.ndarray]]:
    """The reference's loss and every acceptable dW (more than one only at a hinge's kink)."""
    loss, grad = _ref(ctx, func, p.W, p.X, p.y, reg)
    grads = [grad]
    alternatives = getattr(ctx.reference, "subgradient_alternatives", None)
    if p.kinks and alternatives is not None:
        grads += [np.asarray(g, dtype=np.float64) for g in alternatives(p.W.copy(), p.X.copy(), p.y.copy(), reg)]
    return loss, grads


@dataclass
class _Failure:
    problem: Problem
    reg: float
    failure: CheckFailed
    loss: float | None = None
    dW: np.ndarray | None = None


@dataclass
class _Sweep:
    """The outcome of one comparison over every regime: which failed, which passed."""

    failures: list[_Failure] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)

    def failed_regimes(self) -> list[str]:
        seen: list[str] = []
        for f in self.failures:
            if f.problem.description not in seen:
                seen.append(f.problem.description)
        return seen

    regs: tuple[float, ...] = ()

    def summary(self) -> str:
        failed = self.failed_regimes()
        passed = [r for r in dict.fromkeys(self.passed) if r not in failed]
        text = f"Wrong in {len(failed)} of {len(failed) + len(passed)} input regimes: {'; '.join(failed)}."
        if passed:
            text += f" Right with: {'; '.join(passed)}."
        bad_regs = sorted({f.reg for f in self.failures})
        if len(self.regs) > 1 and len(bad_regs) < len(self.regs):
            text += (f" Wrong only at reg = {', '.join(f'{r:g}' for r in bad_regs)} (right at "
                     f"{', '.join(f'{r:g}' for r in self.regs if r not in bad_regs)}).")
        return text


def shared_regimes(ctx: Context) -> list[Problem]:
    """The regimes of this grading run, shared by the loss and gradient tests (so that each input is sent
    to the student's function once and its answer reused), drawn from the report's seed."""
    return ctx.memo("linear_regimes", lambda: regimes(np.random.default_rng([ctx.seed, 0x5E61])))


def call_loss_memo(ctx: Context, func: str, p: Problem, reg: float, *, finite: bool = True,
                   hint: str | None = None, any_loss: bool = False) -> tuple[Any, np.ndarray]:
    """``call_loss`` on a shared regime, the student's answer (or exception) remembered for the run."""
    _check_signature(ctx, func)

    def answer() -> tuple[str, Any]:
        try:
            return "value", ctx.student.call(func, p.W, p.X, p.y, reg, module=ctx.module)
        except StudentCodeError as err:
            return "error", err

    kind, value = ctx.memo(f"answer:{func}:{id(p)}:{reg!r}", answer)
    if kind == "error":
        raise value
    return _validated(ctx, value, func, p.W, p.X, finite=finite, hint=hint, any_loss=any_loss)


def _sweep(ctx: Context, func: str, regs: tuple[float, ...], compare: Any) -> _Sweep:
    """Call ``compare(p, reg)`` on every regime; collect failures (wrong values, wrong types, exceptions)."""
    sweep = _Sweep(regs=regs)
    for p in shared_regimes(ctx):
        for reg in regs:
            try:
                compare(p, reg)
            except CheckFailed as failure:
                sweep.failures.append(_Failure(p, reg, failure))
                continue
            except StudentCodeError as err:
                sweep.failures.append(_Failure(p, reg, CheckFailed(f"{func} at reg = {reg:g} ({p.label}): {err}",
                                                                  hint=error_hint(err, p.W, p.y),
                                                                  details={"exception": err.exc_type})))
                continue
            sweep.passed.append(p.description)
    return sweep


REGIME_HINTS = [
    ({"few_samples", "absent_classes"},
     "It is wrong only when some classes do not appear in y: the number of classes is W.shape[1], not max(y) + 1 "
     "or len(np.unique(y)), and a class absent from the minibatch still has scores, margins and a gradient"),
    ({"square"}, "It is wrong only when D == C: dW is probably transposed (a (C, D) array has W's shape only "
                 "then); dW is laid out like W, feature rows and class columns"),
    ({"binary"}, "It is wrong only with two classes: something assumes C > 2 (a squeeze, a hard-coded count)"),
    ({"ties"}, "It is wrong only when scores tie exactly: identify the correct class by its index y[i] "
               "(scores[np.arange(N), y]), never by comparing score values"),
    ({"repeated_rows"}, "It is wrong only with repeated samples or labels: an in-place update through fancy "
                        "indexing (a[idx] += v) does not accumulate repeated indices; use a matrix product or "
                        "np.add.at"),
    ({"tiny_weights", "large_weights"}, "It is wrong only for very small or very large weights: look for a "
                                        "threshold, an epsilon added inside a log (it matters where a probability "
                                        "is tiny), a rounding, or a computation that overflows or underflows"),
]


def regime_hint(failed: set[str]) -> str | None:
    """What the set of failing regimes says, when it is one of the telling patterns."""
    for regimes_, text in REGIME_HINTS:
        if failed and failed <= regimes_:
            return text
    return None


def _raise_first(sweep: _Sweep, hint: str | None, extra: dict[str, Any]) -> None:
    first = sweep.failures[0]
    failure = first.failure
    hint = hint or failure.hint or regime_hint({f.problem.regime for f in sweep.failures})
    details = dict(failure.details)
    details.update(extra)
    details["reg"] = first.reg
    details["regime"] = first.problem.regime
    details["failed_regimes"] = sweep.failed_regimes()
    message = f"{failure.message}\n{sweep.summary()}"
    raise CheckFailed(message, hint=hint or failure.hint, details=details)


def _reg_only(W: Any, X: Any, y: Any, reg: float) -> dict[str, Any]:
    """Outputs with a data part of 0 (the regularisation term alone): degenerate numbers for a catalogue match."""
    W = np.asarray(W, dtype=np.float64)
    return {"loss": reg * float(np.sum(W * W)), "grad": 2 * reg * W}


def _diagnose(ctx: Context, func: str, p: Problem, reg: float, loss: float, dW: np.ndarray,
              failing: list[str]) -> tuple[str | None, list[str]]:
    """The catalogued mistakes that reproduce the student's numbers on these inputs."""
    if not ctx.catalog:
        return None, []
    exp_loss, exp_grad = _ref(ctx, func, p.W, p.X, p.y, reg)

    def elsewhere() -> Any:
        """The other shared regimes at the same reg (answers mostly remembered from the sweep), for
        confirming a match on degenerate numbers: only reached once a test has failed."""
        for other in shared_regimes(ctx):
            if other is p:
                continue
            try:
                o_loss, o_dW = call_loss_memo(ctx, func, other, reg, finite=False)
            except (CheckFailed, StudentCodeError):
                continue
            r_loss, r_grad = _ref(ctx, func, other.W, other.X, other.y, reg)
            yield ((other.W, other.X, other.y, reg), {"loss": o_loss, "grad": o_dW},
                   {"loss": r_loss, "grad": r_grad})

    found = diagnose(ctx.catalog, func, "loss", (p.W, p.X, p.y, reg), {"loss": loss, "grad": dW},
                     {"loss": exp_loss, "grad": exp_grad}, failing, elsewhere=elsewhere,
                     degenerate=_reg_only)
    what = {("loss",): "loss", ("grad",): "dW"}.get(tuple(failing), "loss and dW")
    return found.hint(what), found.ids()


def _reg_part_note(ctx: Context, func: str, p: Problem, reg: float, output: str) -> str | None:
    """At reg > 0, when the same inputs at reg = 0 give the right answer: the data part is right, so the
    regularisation part is what is wrong; say what it adds against what it should add."""
    if reg == 0:
        return None
    try:
        loss0, dW0 = call_loss_memo(ctx, func, p, 0.0, finite=False)
        loss, dW = call_loss_memo(ctx, func, p, reg, finite=False)
    except (CheckFailed, StudentCodeError):
        return None
    ref_loss0, ref_dW0 = _ref(ctx, func, p.W, p.X, p.y, 0.0)
    if output == "loss":
        if not np.isfinite(loss) or rel_error(loss0, ref_loss0) > LOSS_TOL:
            return None
        yours, wanted = fmt_pair(loss - loss0, reg * float(np.sum(p.W * p.W)))
        return (f"Your data loss is right (at reg = 0 your loss matches), so the regularisation term is what is wrong: "
                f"at reg = {reg:g} yours adds {yours}, while reg * np.sum(W * W) = {wanted}; every weight counts, "
                "the bias row too.")
    if not np.all(np.isfinite(dW)) or rel_error(dW0, ref_dW0) > GRAD_TOL:
        return None
    return ("The data part of your dW is right (at reg = 0 your dW matches), so the regularisation gradient is what is "
            "wrong: it is 2 * reg * W, for every weight (the bias row too).")


def _truncation_hint(loss: float, data_loss: float, p: Problem, reg: float) -> str | None:
    """A data loss whose per-sample terms were truncated to integers (kept in an int array such as
    np.zeros_like(y), or cast with int())."""
    n = len(p.y)
    data = loss - reg * float(np.sum(p.W * p.W))
    total = data * n
    if (n > 1 and abs(data - math.floor(data_loss)) <= 1e-9 * max(1.0, abs(data))
            and abs(data_loss - round(data_loss)) > 1e-6):
        return (f"Your data loss is {math.floor(data_loss)}, the correct one rounded down to a whole number "
                f"({data_loss:.6g}): is the total divided with floor division (np.sum(...) // num_train)? Use / "
                "(true division).")
    if (abs(data_loss * n - round(data_loss * n)) < 1e-6 or round(total) == 0
            or abs(total - round(total)) > 1e-6 * max(1.0, abs(total))):
        return None
    return (f"Your data loss times N = {n} is a whole number ({round(total)}), while the correct one is not "
            f"({data_loss * n:.6g}): are the per-sample losses truncated to integers? An array made with "
            "np.zeros_like(y) has y's integer dtype, and int() or // truncate; use np.zeros(N) or a float accumulator.")


def _localise(dW: np.ndarray, expected: np.ndarray, p: Problem) -> str | None:
    """Where dW is wrong, when no catalogued mistake matches: which classes, rows, or a common factor."""
    bad = entrywise_rel_error(dW, expected) > GRAD_TOL
    if not bad.any():
        return None
    c = expected.shape[1]
    cols = [int(j) for j in np.flatnonzero(bad.any(axis=0))]
    rows = [int(i) for i in np.flatnonzero(bad.any(axis=1))]
    parts = []
    denom = float(np.sum(expected * expected))
    if denom > 0:
        k = float(np.sum(dW * expected)) / denom
        if rel_error(dW, k * expected) < 1e-6 and abs(k - 1) > 1e-6:
            parts.append(f"your dW is exactly {k:.6g} times the correct one")
    if not parts and len(cols) < c:
        absent = set(p.absent_classes())
        where = f"only the class column{'s' if len(cols) > 1 else ''} {', '.join(map(str, cols))} of dW are wrong"
        if absent and set(cols) <= absent:
            where += (" (classes that no sample in y belongs to: a class absent from the minibatch still has "
                      "scores, margins and a gradient)")
        parts.append(where)
    if not parts and len(rows) == 1 and rows[0] == expected.shape[0] - 1:
        parts.append("only the last feature row of dW (the bias feature, X[:, -1] == 1) is wrong")
    if not parts and expected.shape[0] == expected.shape[1] and rel_error(dW, expected.T) < 1e-6:
        parts.append("your dW is the transpose of the correct one (W is (D, C): feature rows, class columns)")
    return ("Where: " + "; ".join(parts) + ".") if parts else None


def _identity_problem(ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """X = I (N = D = 12), C = 5, every class present, W ~ N(0, 1): the scores are W itself, and no SVM margin is
    within 0.01 of the hinge."""
    rng = np.random.default_rng([ctx.seed, 0x1DE7])
    n, c = 12, 5
    y = rng.permutation(np.arange(n) % c)
    rows = np.arange(n)
    for _ in range(50):
        W = rng.normal(0.0, 1.0, (n, c))
        margins = W - W[rows, y][:, None] + 1.0
        margins[rows, y] = 1.0
        if np.min(np.abs(margins)) > 1e-2:
            break
    return W, np.eye(n), y


def _coefficients_note(ctx: Context, func: str) -> str | None:
    """Where a wrong dW goes wrong, per sample and class. With X = I (N = D), dW = X.T @ coeff / N is coeff / N:
    row i of N * dW is sample i's row of coefficients (in the SVM, 1 for a class with a positive margin and
    -(their number) for the correct class; in the softmax, p - onehot). Tells whether only the correct-class
    entries, only the other classes' entries, or both are wrong, and how. One extra call, made only once a
    gradient test has failed and nothing else explained it."""
    W, X, y = _identity_problem(ctx)
    try:
        _, dW = call_loss(ctx, func, W, X, y, 0.0, finite=False)
    except (CheckFailed, StudentCodeError):
        return None
    if not np.all(np.isfinite(dW)):
        return None
    n, c = W.shape
    rows = np.arange(n)
    yours = dW * n
    expected = _ref(ctx, func, W, X, y, 0.0)[1] * n
    bad = np.abs(yours - expected) > 1e-6 * np.maximum(1.0, np.abs(expected))
    if not bad.any():
        return None
    own = np.zeros_like(bad)
    own[rows, y] = True
    svm = ctx.params.get("loss") == "svm"
    head = (f"On inputs X = identity (N = D = {n}, C = {c}, reg = 0), N * dW[i] is sample i's row of coefficients in "
            f"dW = X.T.dot(coeff) / N ({'1 for each class with a positive margin, -(their number) for the correct class' if svm else 'p - onehot: p_j for the other classes, p_y - 1 for the correct class'}): ")
    bad_own, bad_other = int(np.sum(bad & own)), int(np.sum(bad & ~own))
    if bad_other == 0:
        where = f"only the correct-class entries are wrong ({bad_own} of {n} samples); every other class's is right"
    elif bad_own == 0:
        where = (f"only the other classes' entries are wrong ({bad_other} of {n * (c - 1)}); the correct-class "
                 "entries are right")
    else:
        where = (f"both are wrong: {bad_own} of {n} correct-class entries and {bad_other} of {n * (c - 1)} other "
                 "entries")
    how: list[str] = []
    y_yours, y_exp = yours[rows, y], expected[rows, y]
    close = lambda a, b: bool(np.all(np.abs(a - b) <= 1e-6 * np.maximum(1.0, np.abs(b))))  # noqa: E731
    if bad_own:
        if svm:
            count = np.sum((W - W[rows, y][:, None] + 1.0 > 0) & ~own, axis=1).astype(np.float64)
            if close(y_yours, -y_exp):
                how.append("the correct class's coefficient has the wrong sign (+count instead of -count)")
            elif close(y_yours, (count > 0).astype(np.float64)):
                how.append("the correct class gets +1 (True) where -(number of classes with a positive margin) is "
                           "expected: -count stored in a boolean array becomes True")
            elif close(y_yours, np.full(n, y_yours[0])):
                how.append(f"the correct class gets {y_yours[0]:.6g} for every sample whatever its margins"
                           + (f" (-(C - 1) = {-(c - 1)}: one -X[i] for every other class, also where the margin is not "
                              "positive)" if abs(y_yours[0] + (c - 1)) < 1e-9 else "")
                           + "; expected -(number of classes with a positive margin)")
            elif close(y_yours, y_exp - 1):
                how.append("the correct class gets one -1 too many (it counts itself)")
        else:
            p_y = y_exp + 1.0
            if close(y_yours, np.full(n, -1.0)):
                how.append("the correct class gets -1 where p_y - 1 is expected: its probability p_y is left out")
            elif close(y_yours, p_y):
                how.append("the correct class gets p_y where p_y - 1 is expected: the 1 is not subtracted")
            elif close(y_yours, -y_exp):
                how.append("the correct class's coefficient has the wrong sign (1 - p_y)")
    if bad_other:
        o_yours, o_exp = yours[~own].reshape(n, c - 1), expected[~own].reshape(n, c - 1)
        if svm:
            if close(o_yours, np.ones_like(o_yours)):
                how.append("every other class gets 1, also where its margin is not positive")
            elif close(o_yours, -o_exp):
                how.append("the other classes' coefficients have the wrong sign")
        elif np.all(o_exp > 0):
            ratio = o_yours / o_exp
            if close(ratio, np.full_like(ratio, ratio[0, 0])):
                how.append(f"every other class's entry is {ratio[0, 0]:.6g} times its probability")
            elif close(ratio, np.repeat(ratio[:, :1], c - 1, axis=1)):
                how.append("each sample's probabilities are scaled by a factor of its own (not summing to 1 over the "
                           "classes): they are divided by something other than the row's own sum "
                           "(np.sum(exp_scores, axis=1, keepdims=True)), such as the sum over the whole matrix")
    i = int(np.flatnonzero(bad.any(axis=1))[0])
    example = (f"sample {i} (class {int(y[i])}): yours {np.array2string(yours[i], precision=4, suppress_small=True)}, "
               f"expected {np.array2string(expected[i], precision=4, suppress_small=True)}")
    return head + where + ("; " + "; ".join(how) if how else "") + f". For example {example}."


def _loss_vs_reference(ctx: Context, regs: tuple[float, ...]) -> Outcome:
    func = ctx.params["func"]
    per_sample = 1.0 if ctx.params["loss"] == "svm" else None
    seen: dict[tuple[int, float], tuple[float, np.ndarray]] = {}

    def compare(p: Problem, reg: float) -> None:
        expected, _ = _ref(ctx, func, p.W, p.X, p.y, reg)
        loss, dW = call_loss_memo(ctx, func, p, reg, finite=False)
        seen[id(p), reg] = (loss, dW)
        if not np.isfinite(loss):
            raise CheckFailed(f"{func} returned loss {loss} at reg = {reg:g} ({p.label})",
                              hint=_nonfinite_hint(ctx, p.W, p.X))
        check_close(f"{func} loss at reg = {reg:g} ({p.label})", loss, expected, LOSS_TOL)

    sweep = _sweep(ctx, func, regs, compare)
    if not sweep.failures:
        return Outcome(f"loss matches the reference at reg = {', '.join(f'{r:g}' for r in regs)} in "
                       f"{len(set(sweep.passed))} input regimes", {"tolerance": LOSS_TOL})
    first = sweep.failures[0]
    p, reg = first.problem, first.reg
    hint, ids = None, []
    if (id(p), reg) in seen:
        loss, dW = seen[id(p), reg]
        hint, ids = _diagnose(ctx, func, p, reg, loss, dW, ["loss"])
        if hint is None and np.isfinite(loss):
            data_loss, _ = _ref(ctx, func, p.W, p.X, p.y, 0.0)
            hint = loss_hint(loss, data_loss, float(np.sum(p.W * p.W)), reg, len(p.y), per_sample_constant=per_sample)
            if hint is None:
                hint = _reg_part_note(ctx, func, p, reg, "loss") or _truncation_hint(loss, data_loss, p, reg)
            if hint is None and not regime_hint({f.problem.regime for f in sweep.failures}):
                hint = precision_hint(loss, _ref(ctx, func, p.W, p.X, p.y, reg)[0], LOSS_TOL)
    _raise_first(sweep, hint, {"mistakes": ids} if ids else {})
    raise AssertionError("unreachable")


def loss_reference_noreg(ctx: Context) -> Outcome:
    return _loss_vs_reference(ctx, (0.0,))


def loss_reference_reg(ctx: Context) -> Outcome:
    return _loss_vs_reference(ctx, REGS_WITH)


def _consistency_note(ctx: Context, func: str, p: Problem, reg: float, dW: np.ndarray) -> str | None:
    """Does the student's gradient at least match the student's own loss? (explains the failure)"""
    if p.kinks:
        return None

    def f_many(Ws: list[np.ndarray]) -> list[float]:
        return losses_at(ctx, func, Ws, p.X, p.y, reg, finite=False)

    try:
        gc = gradient_check(None, p.W, dW, ctx.rng, coordinates=4, directions=2, tol=CONSISTENCY_TOL,
                            f_many=f_many)
    except (CheckFailed, StudentCodeError):
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
    seen: dict[Any, tuple[float, np.ndarray, np.ndarray]] = {}

    def compare(p: Problem, reg: float) -> None:
        _, accepted = _expected(ctx, func, p, reg)
        loss, dW = call_loss_memo(ctx, func, p, reg, finite=False, any_loss=True)  # the loss tests judge the loss
        loss = float("nan") if loss is None else loss
        seen[id(p), reg] = (loss, dW, accepted[0])
        if not np.all(np.isfinite(dW)):  # NaN or inf in dW: say so plainly (a NaN loss is the loss tests' fault)
            raise CheckFailed(f"the dW returned by {func} contains {int(np.sum(~np.isfinite(dW)))} NaN or infinite "
                              f"entries at reg = {reg:g} ({p.label})", hint=_nonfinite_hint(ctx, p.W, p.X))
        for alternative in accepted[1:]:
            if rel_error(dW, alternative) <= GRAD_TOL:
                return  # a valid subgradient at a margin of exactly 0
        check_close(f"{func} dW at reg = {reg:g} ({p.label})", dW, accepted[0], GRAD_TOL, axis_names=AXES,
                    param="dW")

    sweep = _sweep(ctx, func, regs, compare)
    if not sweep.failures:
        return Outcome(f"dW matches the reference at reg = {', '.join(f'{r:g}' for r in regs)} in "
                       f"{len(set(sweep.passed))} input regimes", {"tolerance": GRAD_TOL})
    first = sweep.failures[0]
    p, reg = first.problem, first.reg
    hints: list[str] = []
    ids: list[str] = []
    if (id(p), reg) in seen:
        loss, dW, expected = seen[id(p), reg]
        found, ids = _diagnose(ctx, func, p, reg, loss, dW, ["grad"])
        if found:
            hints.append(found)
        else:
            _, data_grad = _ref(ctx, func, p.W, p.X, p.y, 0.0)
            fit = weight_gradient_hint(dW, data_grad, p.W, reg, len(p.y))
            confined = regime_hint({f.problem.regime for f in sweep.failures})
            reg_note = None if fit else _reg_part_note(ctx, func, p, reg, "grad")
            precision = None if fit or confined or reg_note else precision_hint(dW, expected, GRAD_TOL)
            hints += [h for h in (fit, reg_note, precision, None if fit else _localise(dW, expected, p)) if h][:2]
            if not (fit or reg_note or precision):
                coefficients = _coefficients_note(ctx, func)  # one more call, only now that the test has failed
                if coefficients:
                    hints.append(coefficients)
        note = _consistency_note(ctx, func, p, reg, dW)
        if note:
            hints.append(note)
    _raise_first(sweep, " ".join(hints) if hints else None, {"mistakes": ids} if ids else {})
    raise AssertionError("unreachable")


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
    for what, student, expected, tol, output in (("loss", loss, loss_e, LOSS_TOL, "loss"),
                                                  ("dW", dW, grad_e, GRAD_TOL, "grad")):
        try:
            check_close(f"{func} {what} ({p.shape})", student, expected, tol, axis_names=AXES,
                        param="dW" if output == "grad" else None)
        except CheckFailed as failure:
            hint, ids = _diagnose(ctx, func, p, reg, loss, dW, [output])
            failure.hint = hint
            if ids:
                failure.details["mistakes"] = ids
            raise
    return Outcome(f"loss and dW match the reference on {p.shape}")


# --------------------------------------------------------------------------- reference-free (public)


def grad_consistency(ctx: Context) -> Outcome:
    """The student's dW against central differences of the student's own loss, in every input regime
    without kinks (the integer-score regime puts SVM margins exactly on the hinge)."""
    func = ctx.params["func"]
    details: dict[str, Any] = {}
    smooth = [p for p in shared_regimes(ctx) if not p.kinks]
    for i, p in enumerate(smooth):
        reg = (0.0, 0.5)[i % 2]
        loss, dW = call_loss(ctx, func, p.W, p.X, p.y, reg)

        def f_many(Ws: list[np.ndarray], p: Problem = p, reg: float = reg) -> list[float]:
            return losses_at(ctx, func, Ws, p.X, p.y, reg)

        probes = (6, 3) if i < 2 else (0, 2)  # the other regimes: two random directions (each touches every entry)
        gc = gradient_check(None, p.W, dW, ctx.rng, coordinates=probes[0], directions=probes[1],
                            tol=CONSISTENCY_TOL, f_many=f_many)
        details[p.regime] = gc.details()
        if len(gc.probes) < (4 if i < 2 else 1):
            raise CheckFailed(f"{func}: too few probes away from kinks ({len(gc.probes)}; {p.label}): central "
                              "differences with steps 1e-5 and 5e-6 disagree almost everywhere, so the loss is not a "
                              "smooth function of W at this scale. Either it jumps (is it continuous?) or it is "
                              "computed with too little precision (float32 arithmetic, rounding)", details=details)
        worst = gc.worst()
        if worst is not None and worst.rel_error > CONSISTENCY_TOL:
            where = (f"dW[{worst.index[0]}, {worst.index[1]}] (feature {worst.index[0]}, class {worst.index[1]})"
                     if worst.index else "a random direction")
            raise CheckFailed(
                f"{func} at reg = {reg:g} ({p.label}): your dW disagrees with the numerical gradient of your own "
                f"loss; relative error {worst.rel_error:.3e} > {CONSISTENCY_TOL:g} at {where}: "
                f"analytic {worst.analytic:.6g}, numerical {worst.numeric:.6g}",
                hint=regime_hint({p.regime}) if i >= 2 else None, details=details)
    return Outcome(f"dW matches central differences of your own loss in {len(smooth)} input regimes "
                   f"(max relative error {max(d['max_rel_error'] for d in details.values()):.2e})", details)


def no_input_mutation(ctx: Context) -> Outcome:
    """W, X and y are the caller's arrays: a function must not change them."""
    func = ctx.params["func"]
    _check_signature(ctx, func)
    p = make_problem(ctx.rng)
    for name, value in (("W", p.W), ("X", p.X), ("y", p.y)):
        ctx.student.put(f"input_{name}", value)
    value = ctx.student.call(func, Ref("input_W"), Ref("input_X"), Ref("input_y"), 0.1, module=ctx.module)
    _validated(ctx, value, func, p.W, p.X, finite=False, hint=None, any_loss=True)  # the loss tests judge its type
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
    """Vectorized and naive give the same loss and dW in every regime; with the reference, a disagreement is
    charged to the one that is wrong (a bug only in the naive version costs the naive version's tests, not this
    one)."""
    func, naive = ctx.params["func"], ctx.params["naive"]
    reg = 0.1
    naive_wrong: list[str] = []
    naive_raised: list[str] = []
    naive_errors: list[str] = []
    for p in shared_regimes(ctx):
        try:
            loss_n, dW_n = call_loss_memo(ctx, naive, p, reg)
        except (StudentCodeError, CheckFailed) as err:
            if not ctx.has_reference:
                raise
            # The naive one cannot be compared with: judge the vectorized one against the reference alone (the
            # naive one's own tests charge its failure).
            loss_v, dW_v = call_loss_memo(ctx, func, p, reg)
            loss_e, accepted = _expected(ctx, func, p, reg)
            if rel_error(loss_v, loss_e) <= LOSS_TOL and any(rel_error(dW_v, g) <= GRAD_TOL for g in accepted):
                naive_raised.append(p.description)
                naive_errors.append(f"raised {err.exc_type}" if isinstance(err, StudentCodeError)
                                    else "returned no valid answer")
                continue
            check_close(f"{func} loss ({p.label}, reg = {reg:g}), against the reference because {naive} "
                        f"failed here", loss_v, loss_e, LOSS_TOL)
            raise CheckFailed(f"{func} dW ({p.label}, reg = {reg:g}) differs from the reference (compared with the "
                              f"reference because {naive} failed here: {str(err).splitlines()[0]})",
                              details={"wrong": func})
        loss_v, dW_v = call_loss_memo(ctx, func, p, reg)
        if p.kinks and ctx.params.get("loss") == "svm" and rel_error(loss_v, loss_n) <= LOSS_TOL:
            continue  # margins exactly 0: the two may pick different (equally valid) subgradients
        try:
            check_close(f"{func} vs {naive}: loss ({p.label}, reg = {reg:g})", loss_v, loss_n, LOSS_TOL)
            check_close(f"{func} vs {naive}: dW ({p.label}, reg = {reg:g})", dW_v, dW_n, GRAD_TOL, axis_names=AXES,
                        param="dW")
        except CheckFailed as failure:
            if not ctx.has_reference:
                failure.hint = regime_hint({p.regime}) or (
                    f"One of the two is wrong; the tests of each ({naive} and {func}) against known values and their "
                    "own numerical gradients show which")
                raise
            loss_e, accepted = _expected(ctx, func, p, reg)
            vec_right = rel_error(loss_v, loss_e) <= LOSS_TOL and any(rel_error(dW_v, g) <= GRAD_TOL for g in accepted)
            naive_right = rel_error(loss_n, loss_e) <= LOSS_TOL and any(rel_error(dW_n, g) <= GRAD_TOL
                                                                         for g in accepted)
            if vec_right:
                naive_wrong.append(p.description)
                continue
            failure.message += (f"\n{func} differs from the reference here"
                                + (f", while {naive} matches it." if naive_right else f", and so does {naive}."))
            failure.details["wrong"] = func if naive_right else f"{func} and {naive}"
            raise
    if naive_raised:
        return Outcome(f"{func} matches the reference in every regime; {naive} could not be compared with it "
                       f"because it {' or '.join(dict.fromkeys(naive_errors))} in {len(naive_raised)} "
                       f"regime{'s' if len(naive_raised) > 1 else ''} ({'; '.join(naive_raised)}), and its own "
                       "tests are charged for it"
                       + (f"; {naive} differs from it elsewhere ({'; '.join(naive_wrong)})" if naive_wrong else ""),
                       {"wrong": naive})
    if naive_wrong:
        return Outcome(f"{func} matches the reference in every regime; {naive} is the one that differs "
                       f"({'; '.join(naive_wrong)}), and its own tests are charged for it", {"wrong": naive})
    return Outcome(f"{func} and {naive} agree in every input regime")


def _function_spans(source: str) -> list[tuple[int, int, str]]:
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    return [(n.lineno, getattr(n, "end_lineno", n.lineno) or n.lineno, n.name) for n in ast.walk(tree)
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


def _in_function(spans: list[tuple[int, int, str]], line: int) -> str | None:
    inside = [s for s in spans if s[0] <= line <= s[1]]
    return min(inside, key=lambda s: s[1] - s[0])[2] if inside else None


LOOP_BASE = {"N": 24, "D": 10, "C": 5}
DIM_NAMES = {"N": "the number of samples N", "D": "the number of features D", "C": "the number of classes C"}


def no_loops(ctx: Context) -> Outcome:
    """The Python-level work of the vectorized function does not grow with N, D or C (measured).

    See :mod:`worker.checks.vectorized` for the rule. The function that runs is the one the tests call,
    so a decorator or a rebinding that swaps in a loop is measured as a loop; a library call is never
    mistaken for the student's helper of the same name, and a loop over a fixed handful of objects is
    not a loop over the data. Credit goes to code that computes something: the unfinished starter,
    which returns constants, has no loops either.
    """
    func, naive = ctx.params["func"], ctx.params["naive"]
    _check_signature(ctx, func)

    def trace(sizes: dict[str, int]) -> Any:
        p = make_problem(ctx.rng, n=sizes["N"], d=sizes["D"], c=sizes["C"], small_weights=True)
        return parse_trace(ctx.student.trace(func, p.W, p.X, p.y, 0.1, module=ctx.module), func)

    base, scaled = measure_growth(trace, LOOP_BASE, ("N", "D", "C"))
    details: dict[str, Any] = {"base_sizes": LOOP_BASE, "base_lines": base.lines,
                               "doubled_lines": {k: v.lines for k, v in scaled.items()}}
    growing = [dim for dim, t in scaled.items() if grows(base, t)]
    if growing:
        worst = max((scaled[d] for d in growing), key=lambda t: t.lines)
        source = ctx.sources.get(ctx.module, "")
        spans = _function_spans(source)
        where = describe_lines(worst, source)
        owners = {_in_function(spans, line) for line, _ in worst.top[:3]} - {None, func}
        via = ""
        if naive in owners:
            via = f" It runs {naive}'s loops: the vectorized version must not call the naive one."
        elif owners:
            via = f" The loop is in {', '.join(sorted(o for o in owners if o))}, which it calls."
        dims = " and ".join(DIM_NAMES[d] for d in growing)
        details["grows_with"] = growing
        details["lines"] = [{"line": line, "count": count} for line, count in worst.top]
        raise CheckFailed(
            f"{func} is supposed to be fully vectorized, but the Python code it runs grows with {dims}: "
            f"{base.lines} line executions at N={LOOP_BASE['N']}, D={LOOP_BASE['D']}, C={LOOP_BASE['C']}; "
            + ", ".join(f"{scaled[d].lines} with {d} doubled" for d in growing)
            + f". Most executed: {where}.{via}",
            hint="Replace the loop with array operations: scores = X.dot(W), fancy indexing "
                 "scores[np.arange(N), y], boolean masks, and X.T.dot(...) for dW",
            details=details)
    # Credit only for code that computes something: different inputs, different answers.
    p = make_problem(ctx.rng)
    first = call_loss(ctx, func, np.zeros_like(p.W), p.X, p.y, 0.5, finite=False)
    second = call_loss(ctx, func, p.W, p.X, p.y, 0.5, finite=False)
    if first[0] == second[0] and np.array_equal(first[1], second[1]):
        raise CheckFailed(f"{func} has no loops, but it returns the same loss and dW for different W: it does "
                          "not compute anything yet; this check is credited once it does", details=details)
    return Outcome(f"{func} has no loops: the Python code it runs does not grow with N, D or C "
                   f"({base.lines} line executions at the base size and when each is doubled)", details)


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
            try:
                ctx.student.call(name, *args, module=ctx.module, reply=False, quiet=True)
            except StudentCodeError as err:
                if name != naive:
                    raise
                raise CheckFailed(f"Not timed: {naive} raised {err.exc_type} on {p.shape}, so there is nothing to "
                                  f"compare {func} with. This check is worth no points; {naive}'s own tests "
                                  f"report the error:\n{err}", details={"skipped": True}) from None
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
    """Scores shifted by a constant (every score, one sample's scores, one absent class far below) change
    neither the loss nor dW, except dW's bias row, which the shift scales.

    Each shift is made through the bias feature ``X[:, -1]`` with ``W`` unchanged, so that a mistake in the
    regularisation (which depends on ``W`` only) cannot show here: this test is about the arithmetic of the
    exponentials, and the regularisation has its own tests. At reg = 0, ``dW = X.T @ G / N`` with ``G``
    unchanged by the shift, so every row of dW but the bias row must stay as it was.
    """
    func = ctx.params["func"]
    p = make_problem(ctx.rng)
    W1 = p.W.copy()
    W1[-1, :] = 1.0  # the bias row constant over the classes: the bias feature adds the same to every score
    base_loss, base_dW = call_loss(ctx, func, W1, p.X, p.y, 0.0, any_loss=True)
    # Every score 1000 higher: exp(1000) overflows unless the scores are shifted first.
    X_all = p.X.copy()
    X_all[:, -1] = 1001.0
    loss_s, dW_s = call_loss(ctx, func, W1, X_all, p.y, 0.0, any_loss=True)
    hint = _precision_or(loss_s, base_loss, "The loss does not change when a constant is added to every score; "
                         "yours does, and stays finite, so it is not an overflow: some term is not shift-invariant. "
                         + SHIFT_CAUSES)
    # A loss that is not a number (an array, None) is the loss tests' fault: here only dW is judged then.
    judge_loss = base_loss is not None and loss_s is not None
    if judge_loss:
        check_close(f"{func} loss after adding 1000 to every score ({p.shape})", loss_s, base_loss, 1e-6, hint=hint)
    check_close(f"{func} dW (all but the bias row) after adding 1000 to every score ({p.shape})", dW_s[:-1],
                base_dW[:-1], 1e-6, hint=hint, axis_names=AXES, param="dW")
    # One sample's scores 1000 above the others' (its bias feature is 1001): a shift by the maximum over the
    # whole batch underflows every other sample to exp(-1000) = 0.
    row = int(ctx.rng.integers(0, p.X.shape[0]))
    X1 = p.X.copy()
    X1[row, -1] = 1001.0
    loss_r, dW_r = call_loss(ctx, func, W1, X1, p.y, 0.0, any_loss=True, hint=(
        "With one sample's scores 1000 above the others', subtract the maximum of each row (np.max(scores, axis=1, "
        "keepdims=True)), not the maximum over the whole batch: the other rows' exponentials underflow to 0 (0/0 "
        "is nan); without a shift, exp overflows"))
    hint_row = _precision_or(loss_r, base_loss, (
        "The loss does not change when a constant is added to one sample's scores; yours does, and stays finite. "
        "A shift by each row's own maximum is invariant; a shift shared by the batch (its global maximum, a "
        "mean) or a term that mixes samples is not. " + SHIFT_CAUSES))
    if judge_loss and loss_r is not None:
        check_close(f"{func} loss when sample {row}'s scores are 1000 higher than the others' ({p.shape})", loss_r,
                    base_loss, 1e-6, hint=hint_row)
    check_close(f"{func} dW (all but the bias row) when sample {row}'s scores are 1000 higher than the others' "
                f"({p.shape})", dW_r[:-1], base_dW[:-1], 1e-6, hint=hint_row, axis_names=AXES, param="dW")
    # One class scores LOW_GAP below the others (small weights, the bias feature times -1 in that class only) and
    # no sample belongs to it: its probability is exp(-LOW_GAP), a subnormal number that is still > 0 (so np.log
    # of every probability stays finite). Compared with the same problem where that class is only 60 below
    # (probability ~1e-26), nothing may change: the same W, C and labels, so only the arithmetic differs. A
    # shift by the row minimum (or by anything but a value at least as large as the row's other scores)
    # overflows exp here.
    c = p.W.shape[1]
    y_low = np.where(p.y == c - 1, 0, p.y)
    W_low = 0.01 * p.W / max(float(np.max(np.abs(p.W))), 1e-12)
    W_low[-1, :] = 0.0
    W_low[-1, -1] = -1.0
    X_mid, X_low = p.X.copy(), p.X.copy()
    X_mid[:, -1] = 60.0
    X_low[:, -1] = LOW_GAP
    loss_m, dW_m = call_loss(ctx, func, W_low, X_mid, y_low, 0.0, any_loss=True)
    loss_l, dW_l = call_loss(ctx, func, W_low, X_low, y_low, 0.0, finite=False, any_loss=True)
    hint_low = (f"A class whose scores are {LOW_GAP:g} below the others has probability exp(-{LOW_GAP:g}), about 0, "
                "and changes nothing; yours changes the result. Subtract each row's maximum "
                "(np.max(scores, axis=1, keepdims=True)) before np.exp: after subtracting the minimum (or nothing), "
                "the other classes' exponentials overflow")
    label = f"class {c - 1}'s scores {LOW_GAP:g} below the others' instead of 60 below (no sample has that class; {p.shape})"
    judge_low = loss_m is not None and loss_l is not None
    if not ((not judge_low or np.isfinite(loss_l)) and np.all(np.isfinite(dW_l))):
        raise CheckFailed(f"{func} returned a loss of {loss_l} or a dW that is not finite with {label}",
                          hint=hint_low, details={"student": _fmt_num(loss_l)})
    hint_low_finite = (f"A class whose scores are {LOW_GAP:g} below the others has probability exp(-{LOW_GAP:g}), "
                       "about 0, and changes nothing; yours changes the result and stays finite, so nothing "
                       "overflowed: the result depends on that class's tiny probability. Only the correct class's "
                       "-log p counts in the loss (a mean or sum of -log p over every class adds "
                       f"{LOW_GAP:g} for it). " + SHIFT_CAUSES)
    if judge_low:
        check_close(f"{func} loss with {label}", loss_l, loss_m, 1e-6,
                    hint=_precision_or(loss_l, loss_m, hint_low_finite))
    check_close(f"{func} dW (all but the bias row) with {label}", dW_l[:-1], dW_m[:-1], 1e-6,
                hint=_precision_or(loss_l, loss_m, hint_low_finite), axis_names=AXES, param="dW")
    return Outcome("loss and dW are unchanged when 1000 is added to every score, or to one sample's scores, and a "
                   f"class {LOW_GAP:g} below the others changes nothing")


def _precision_or(loss: float, expected: float, hint: str) -> str:
    """A finite loss a little off (float32 rounding at scores near 1000) is a precision problem, not a missing
    shift: say so instead of ``hint``."""
    if loss is None or expected is None:
        return hint
    if np.isfinite(loss) and np.isfinite(expected) and rel_error(loss, expected) < 1e-2:
        return ("The result changes slightly when the scores are large: is it computed in float32 (or rounded)? "
                "float32 keeps about 7 significant digits, so scores near 1000 lose the differences that matter; "
                "keep the computation in float64")
    return hint


SHIFT_CAUSES = ("The usual causes: a score used unshifted beside shifted ones (-scores[y] from the shifted scores "
                "but the log of the sum of the raw exponentials, or the max not added back to a log-sum-exp), or a "
                "mean or sum over all classes where only the correct class counts.")

LOW_GAP = 725.0  # exp(725) overflows float64 (beyond ~709.8); exp(-725) is subnormal but not 0 (0 beyond ~745)


def _fmt_num(v: float) -> float | str:
    return float(v) if np.isfinite(v) else str(v)
