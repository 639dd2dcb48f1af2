"""Naming the mistake behind a wrong answer: a catalogue of known mistakes, run on the same inputs.

Each assignment may keep a ``catalog.py`` beside its ``reference.py`` (trusted, never shipped to
students). It defines ``MISTAKES``: small variants of the reference, each a :class:`Mistake` with a
name, the outputs it changes and a message for the student. When a comparison with the reference
fails, the check calls :func:`diagnose` with the student's outputs and the inputs that were used;
every variant is run on those very inputs, and the ones whose outputs equal the student's (within
the check's tolerance) name the mistake: "your dW equals what you get when you ...".

A variant that gives the reference's answer on these inputs says nothing (a regularisation mistake
at ``reg = 0``, a class-count mistake when every class is present) and is skipped, so a match is
never a coincidence with the correct answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from worker.checks.compare import rel_error

# How close the student's output must be to a variant's. Variants are computed in float64 like the
# reference, and students' correct code agrees with the reference to ~1e-12; the margin allows other
# summation orders while staying far below the size of any catalogued mistake.
MATCH_TOL = 1e-6


@dataclass(frozen=True)
class Mistake:
    """One catalogued mistake.

    ``compute`` takes the same inputs as the reference function it varies and returns outputs in the
    same form (``(loss, dW)`` for the linear losses; ``(loss, grads)`` or ``scores`` for the net).
    ``does`` completes "... equals what you get when you <does>"; ``fix`` says what to do instead.
    ``outputs`` names the outputs the mistake changes (``"loss"``, ``"grad"``, ``"scores"``, or a
    gradient key such as ``"W1"``). ``functions`` restricts it to some of the assignment's functions
    (empty: all). ``applies`` may refuse inputs where the variant is undefined (a transposed ``dW``
    when ``D != C``).
    """

    id: str
    does: str
    fix: str
    outputs: tuple[str, ...]
    compute: Callable[..., Any]
    kind: str = "loss"  # which reference function it varies: "loss" (loss and gradient) or "scores"
    functions: tuple[str, ...] = ()
    applies: Callable[..., bool] | None = None


@dataclass
class Diagnosis:
    """What :func:`diagnose` found: the matching mistakes, best first."""

    matches: list[Mistake] = field(default_factory=list)
    partial: list[Mistake] = field(default_factory=list)  # match the failing output only

    def hint(self, what: str) -> str | None:
        """The message for the student, or None when no variant matches."""
        found = self.matches or self.partial
        if not found:
            return None
        first = found[0]
        verb = "equal" if " and " in what else "equals"
        text = f"Your {what} {verb} what you get when you {first.does}: {first.fix}."
        if len(found) > 1:
            others = "; or when you ".join(m.does for m in found[1:3])
            text += f" (It also equals what you get when you {others}.)"
        return text

    def ids(self) -> list[str]:
        return [m.id for m in self.matches or self.partial]


def _outputs_of(value: Any) -> dict[str, Any]:
    """A variant's or the reference's outputs as a flat mapping: loss, grad (or grad keys), scores; a variant
    may also return the mapping itself (``{"dx": ..., "dw": ..., "db": ...}``)."""
    if isinstance(value, Mapping):
        return {str(k): (float(v) if np.ndim(v) == 0 else np.asarray(v, dtype=np.float64)) for k, v in value.items()}
    if isinstance(value, tuple) and len(value) == 2:
        loss, grad = value
        out: dict[str, Any] = {"loss": float(loss)}
        if isinstance(grad, Mapping):
            for key, v in grad.items():
                out[str(key)] = np.asarray(v, dtype=np.float64)
        else:
            out["grad"] = np.asarray(grad, dtype=np.float64)
        return out
    return {"scores": np.asarray(value, dtype=np.float64)}


def _same(a: Any, b: Any, tol: float) -> bool:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return False
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return False
    return rel_error(a, b) <= tol


def trivial(value: Any, baseline: Any = None, tol: float = MATCH_TOL) -> bool:
    """Degenerate numbers (a loss of 0, an all-zero dW, or ``baseline``: e.g. the regularisation term
    alone): many different wrong answers share them, so a variant that reproduces them may be a
    coincidence."""
    a = np.asarray(value, dtype=np.float64)
    if a.size == 0 or bool(np.all(np.abs(a) <= 1e-12)):
        return True
    return baseline is not None and _same(a, baseline, tol)


# Other inputs on which a degenerate match is confirmed: (args, the student's outputs, the reference's).
Elsewhere = Callable[[], Iterable[tuple[tuple[Any, ...], Mapping[str, Any], Mapping[str, Any]]]]


def _run(mistake: Mistake, args: tuple[Any, ...]) -> dict[str, Any] | None:
    if mistake.applies is not None and not mistake.applies(*args):
        return None
    try:
        with np.errstate(all="ignore"):
            return _outputs_of(mistake.compute(*(a.copy() if isinstance(a, np.ndarray) else _copy(a) for a in args)))
    except Exception:  # noqa: BLE001 - a variant undefined on these inputs says nothing
        return None


def _confirmed(mistake: Mistake, keys: list[str], elsewhere: Elsewhere, tol: float,
               degenerate: Callable[..., Mapping[str, Any]] | None) -> bool:
    """The variant also reproduces the student's numbers on the first other input where its own numbers on
    ``keys`` differ from the reference's and are not degenerate (no such input: not confirmed)."""
    for args, student, expected in elsewhere():
        outputs = _run(mistake, args)
        if outputs is None:
            continue
        base = degenerate(*args) if degenerate is not None else {}
        keys_here = [k for k in keys if k in outputs and k in expected and k in student]
        if not keys_here or not all(not _same(outputs[k], expected[k], tol) and not trivial(outputs[k], base.get(k))
                                    for k in keys_here):
            continue
        return all(_same(student[k], outputs[k], tol) for k in keys_here)
    return False


def diagnose(mistakes: Iterable[Mistake], function: str, kind: str, args: tuple[Any, ...],
             student: Mapping[str, Any], expected: Mapping[str, Any], failing: Iterable[str],
             *, tol: float = MATCH_TOL, elsewhere: Elsewhere | None = None,
             degenerate: Callable[..., Mapping[str, Any]] | None = None) -> Diagnosis:
    """Run every applicable variant on ``args`` and keep those that reproduce the student's outputs.

    ``student`` and ``expected`` map output names (``loss``, ``grad``, ``W1``, ``scores``, ...) to
    values; ``failing`` names the outputs that failed the check. A variant matches when it differs
    from the reference on a failing output and equals the student there; it is a full match when it
    also equals the student on every other output given.

    When the student's numbers on the failing outputs are degenerate (a loss of 0, an all-zero dW, or the
    outputs ``degenerate(*args)`` gives, such as the regularisation term alone), equal
    numbers prove little: with ``elsewhere`` (other inputs and the student's answers there, fetched
    lazily) such a match is kept only if the variant also reproduces the student where its own numbers
    are wrong and not degenerate; without it, degenerate matches are kept as before.
    """
    failing = [f for f in failing if f in student]
    result = Diagnosis()
    base: Mapping[str, Any] | None = None
    if not failing:
        return result
    for mistake in mistakes:
        if mistake.kind != kind or (mistake.functions and function not in mistake.functions):
            continue
        outputs = _run(mistake, args)
        if outputs is None:
            continue
        informative = [f for f in failing if f in outputs and f in expected
                       and not _same(outputs[f], expected[f], tol)]
        if not informative or not all(_same(student[f], outputs[f], tol) for f in informative):
            continue
        if elsewhere is not None and base is None:
            base = degenerate(*args) if degenerate is not None else {}
        if (elsewhere is not None and all(trivial(student[f], base.get(f)) for f in informative)
                and not _confirmed(mistake, informative, elsewhere, tol, degenerate)):
            continue
        others = [k for k in student if k not in informative and k in outputs]
        if all(_same(student[k], outputs[k], tol) for k in others):
            result.matches.append(mistake)
        else:
            result.partial.append(mistake)
    return result


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------- helpers for the linear catalogues


def with_reg(data: tuple[float, np.ndarray], W: Any, reg: float, loss_coef: float = 1.0,
             grad_coef: float = 2.0) -> tuple[float, np.ndarray]:
    """A data loss and gradient plus ``loss_coef * reg * sum(W*W)`` and ``grad_coef * reg * W``."""
    loss, grad = data
    W = np.asarray(W, np.float64)
    return loss + loss_coef * reg * float(np.sum(W * W)), grad + grad_coef * reg * W


def pad_classes(grad: np.ndarray, num_classes: int) -> np.ndarray:
    """A gradient computed over the first classes only, with zero columns for the others."""
    full = np.zeros((grad.shape[0], num_classes))
    full[:, :grad.shape[1]] = grad
    return full


def linear_regularisation_mistakes(prefix: str, data: Callable[..., tuple[float, np.ndarray]],
                                   data_loss_name: str) -> list[Mistake]:
    """The regularisation and averaging mistakes every linear loss shares (2017: reg * sum(W*W), 2 * reg * W).

    ``data(W, X, y)`` is the correct data loss (mean over N) and its gradient; ``data_loss_name`` names it
    in messages ("hinge losses", "cross-entropy")."""
    def n(X: Any) -> int:
        return np.asarray(X).shape[0]

    def ok(W: Any, X: Any, y: Any, reg: float) -> tuple[float, np.ndarray]:
        return with_reg(data(W, X, y), W, reg)

    def square(W: Any) -> float:
        return float(np.sum(np.square(W)))

    def weights(W: Any) -> np.ndarray:
        return np.asarray(W, np.float64)

    return [
        Mistake(f"{prefix}_no_reg_loss", "leave the regularisation term reg*sum(W*W) out of the loss",
                "add reg * np.sum(W * W) to the loss", ("loss",),
                lambda W, X, y, reg: with_reg(data(W, X, y), W, reg, loss_coef=0.0)),
        Mistake(f"{prefix}_no_reg_grad", "leave the regularisation gradient 2*reg*W out of dW",
                "add 2 * reg * W to dW (the derivative of reg * sum(W*W))", ("grad",),
                lambda W, X, y, reg: with_reg(data(W, X, y), W, reg, grad_coef=0.0)),
        Mistake(f"{prefix}_no_reg", "leave regularisation out of both the loss and dW",
                "add reg * np.sum(W * W) to the loss and 2 * reg * W to dW", ("loss", "grad"),
                lambda W, X, y, reg: data(W, X, y)),
        Mistake(f"{prefix}_reg_grad_factor", "use reg*W as the regularisation gradient",
                "the derivative of reg * sum(W*W) is 2 * reg * W", ("grad",),
                lambda W, X, y, reg: with_reg(data(W, X, y), W, reg, grad_coef=1.0)),
        Mistake(f"{prefix}_half_reg", "use the 2016 convention 0.5*reg*sum(W*W) (gradient reg*W)",
                "the 2017 assignment uses loss += reg * np.sum(W * W) and dW += 2 * reg * W", ("loss", "grad"),
                lambda W, X, y, reg: with_reg(data(W, X, y), W, reg, loss_coef=0.5, grad_coef=1.0)),
        Mistake(f"{prefix}_reg_without_reg", "add sum(W*W) to the loss without multiplying it by reg",
                "the regularisation loss is reg * np.sum(W * W)", ("loss",),
                lambda W, X, y, reg: (data(W, X, y)[0] + square(W), ok(W, X, y, reg)[1])),
        Mistake(f"{prefix}_reg_grad_without_reg", "add 2*W to dW without multiplying it by reg",
                "the regularisation gradient is 2 * reg * W", ("grad",),
                lambda W, X, y, reg: (ok(W, X, y, reg)[0], data(W, X, y)[1] + 2.0 * weights(W))),
        Mistake(f"{prefix}_reg_averaged", "divide the regularisation term by N along with the data loss",
                "average only the data part over the N samples; add reg * np.sum(W * W) and 2 * reg * W "
                "afterwards", ("loss", "grad"),
                lambda W, X, y, reg: with_reg(data(W, X, y), W, reg / n(X))),
        Mistake(f"{prefix}_double_reg_loss", "use 2*reg*sum(W*W) as the regularisation loss",
                "the loss has reg * np.sum(W * W); its gradient has the 2", ("loss",),
                lambda W, X, y, reg: (with_reg(data(W, X, y), W, reg, loss_coef=2.0)[0], ok(W, X, y, reg)[1])),
        Mistake(f"{prefix}_loss_not_averaged", f"sum the {data_loss_name} over the samples without dividing by N",
                "divide the summed data loss by the number of samples N", ("loss",),
                lambda W, X, y, reg: (data(W, X, y)[0] * n(X) + reg * square(W), ok(W, X, y, reg)[1])),
        Mistake(f"{prefix}_grad_not_averaged", "sum the data part of dW over the samples without dividing by N",
                "divide the data part of dW by N, as the loss is", ("grad",),
                lambda W, X, y, reg: (ok(W, X, y, reg)[0], data(W, X, y)[1] * n(X) + 2.0 * reg * weights(W))),
        Mistake(f"{prefix}_not_averaged", "sum the data loss and dW over the samples without dividing by N",
                "divide the data loss and the data part of dW by N", ("loss", "grad"),
                lambda W, X, y, reg: with_reg(tuple(v * n(X) for v in data(W, X, y)), W, reg)),  # type: ignore[arg-type]
        Mistake(f"{prefix}_reg_no_bias_row", "leave the last row of W (the bias row) out of the regularisation",
                "this assignment regularises every weight: reg * np.sum(W * W) and 2 * reg * W, the bias row too",
                ("loss", "grad"),
                lambda W, X, y, reg: with_reg(data(W, X, y), _zero_last_row(W), reg)),
        Mistake(f"{prefix}_reg_norm", "use reg * np.linalg.norm(W) (the norm, not its square) as the regularisation "
                "loss", "the regularisation loss is reg * np.sum(W * W), the squared norm", ("loss",),
                lambda W, X, y, reg: (data(W, X, y)[0] + reg * float(np.sqrt(square(W))), ok(W, X, y, reg)[1])),
        Mistake(f"{prefix}_reg_grad_sum", "add 2 * reg * np.sum(W) (one number for every entry) instead of 2 * reg * W "
                "to dW", "the regularisation gradient is the array 2 * reg * W, entry by entry", ("grad",),
                lambda W, X, y, reg: (ok(W, X, y, reg)[0], data(W, X, y)[1] + 2.0 * reg * float(np.sum(W)))),
        Mistake(f"{prefix}_divide_by_d", "divide by X.shape[1] (D, the number of features) instead of X.shape[0] "
                "(N, the number of samples)", "num_train = X.shape[0]: X is (N, D)", ("loss", "grad"),
                lambda W, X, y, reg: with_reg(tuple(v * n(X) / np.asarray(X).shape[1]  # type: ignore[arg-type]
                                                    for v in data(W, X, y)), W, reg),
                applies=lambda W, X, y, reg: np.asarray(X).shape[0] != np.asarray(X).shape[1]),
        Mistake(f"{prefix}_skip_first_sample", "leave out the first sample (range(1, num_train)) while still dividing "
                "by N", "loop over every sample: for i in range(num_train)", ("loss", "grad"),
                lambda W, X, y, reg: with_reg(_scaled(data(W, X[1:], y[1:]), (n(X) - 1) / n(X)), W, reg),
                applies=lambda W, X, y, reg: n(X) > 1),
        Mistake(f"{prefix}_skip_last_sample", "leave out the last sample (range(num_train - 1)) while still dividing "
                "by N", "loop over every sample: for i in range(num_train)", ("loss", "grad"),
                lambda W, X, y, reg: with_reg(_scaled(data(W, X[:-1], y[:-1]), (n(X) - 1) / n(X)), W, reg),
                applies=lambda W, X, y, reg: n(X) > 1),
        Mistake(f"{prefix}_divide_in_loop", "divide the loss and dW by N inside the loop over samples (once per "
                "sample instead of once after the loop)", "accumulate over every sample first, then divide by "
                "num_train once, after the loop (check the indentation)", ("loss", "grad"),
                lambda W, X, y, reg: with_reg(_divided_in_loop(data, W, X, y), W, reg),
                applies=lambda W, X, y, reg: n(X) > 1),
    ]


def _zero_last_row(W: Any) -> np.ndarray:
    W = np.array(W, dtype=np.float64)
    W[-1] = 0.0
    return W


def _scaled(value: tuple[float, np.ndarray], k: float) -> tuple[float, np.ndarray]:
    return value[0] * k, value[1] * k


def _divided_in_loop(data: Callable[..., tuple[float, np.ndarray]], W: Any, X: Any,
                     y: Any) -> tuple[float, np.ndarray]:
    """``for i in range(N): loss += L_i; ...; loss /= N`` (the division indented into the loop)."""
    X, y = np.asarray(X), np.asarray(y)
    num = X.shape[0]
    loss, grad = 0.0, np.zeros(np.shape(W))
    for i in range(num):
        li, gi = data(W, X[i:i + 1], y[i:i + 1])  # a batch of one: the sample's own term
        loss, grad = (loss + li) / num, (grad + gi) / num
    return loss, grad

