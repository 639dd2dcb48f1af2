"""Recognising the shape of a wrong answer and naming the likely bug.

The reference gives the data part of a loss or gradient (``reg = 0``) and the
regularisation part separately, so a student's answer can be explained as a
combination of the two: ``dW ~ a * data_grad + b * W``. The coefficients say
which bug it is (``b = reg`` is the 2016 ``0.5 * reg`` convention, ``a = N``
is a missing average, ...). Every hint is phrased for the student and only
given when the fit is exact to many digits, so a hint is never a guess.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from worker.checks.compare import rel_error

FIT_TOL = 1e-6


def _close(x: float, y: float, tol: float = 1e-6) -> bool:
    x, y = float(x), float(y)
    return abs(x - y) <= tol * max(1.0, abs(x), abs(y))


def _fit(target: np.ndarray, *basis: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Least squares ``target ~ sum(c_i * basis_i)``; returns the coefficients and relative residual."""
    a = np.stack([b.ravel() for b in basis], axis=1)
    t = target.ravel()
    if not np.all(np.isfinite(t)) or not np.all(np.isfinite(a)):
        return None
    coef, *_ = np.linalg.lstsq(a, t, rcond=None)
    resid = float(np.linalg.norm(a @ coef - t)) / max(float(np.linalg.norm(t)), 1e-300)
    return coef, float(resid)


def weight_gradient_hint(student: np.ndarray, data_grad: np.ndarray, W: np.ndarray, reg: float, n: int,
                         name: str = "dW", weight: str = "W") -> str | None:
    """Explain ``student`` as ``a * data_grad + b * W`` when that fits exactly."""
    if not np.all(np.isfinite(student)):
        return None
    reg_basis = reg != 0 and np.linalg.norm(W) > 0
    has_data = np.linalg.norm(data_grad) > 0
    if not (reg_basis or has_data):
        return None
    if reg_basis and np.any(W < 0):
        with_abs = data_grad + 2 * reg * np.abs(W)
        scale = max(float(np.linalg.norm(with_abs)), 1e-300)
        if (float(np.linalg.norm(student - with_abs)) <= FIT_TOL * scale
                and float(np.linalg.norm(student - data_grad - 2 * reg * W)) > FIT_TOL * scale):
            return (f"The regularisation gradient is 2*reg*np.abs({weight}): the entries of {name} are right where "
                    f"{weight} is positive and have the wrong sign of their regularisation part where {weight} is "
                    f"negative. The derivative of reg*{weight}**2 is 2*reg*{weight}, with {weight}'s own sign: "
                    "no np.abs.")
    basis = ([data_grad] if has_data else []) + ([W] if reg_basis else [])
    fit = _fit(student, *basis)
    if fit is None or fit[1] > FIT_TOL:
        return None
    coef = list(fit[0])
    a = float(coef.pop(0)) if has_data else 1.0
    b = float(coef.pop(0)) if reg_basis else 2 * reg
    parts = []
    if not _close(a, 1.0):
        if _close(a, n):
            parts.append(f"The data part of {name} is exactly N = {n} times too large: divide it by the number "
                         f"of training samples (a factor of N)")
        elif _close(a, 1.0 / n):
            parts.append(f"The data part of {name} is N = {n} times too small: it is divided by the number of "
                         f"samples twice (a factor of N)")
        elif _close(a, -1.0):
            parts.append(f"The data part of {name} has the wrong sign")
        elif _close(a, 0.0):
            parts.append(f"The data part of {name} is missing (only the regularisation gradient is there)")
        elif name == "dW" and W.ndim == 2 and W.shape[1] != n and _close(a, n / W.shape[1]):
            parts.append(f"The data part of dW is divided by C = {W.shape[1]} (the number of classes, W.shape[1]) "
                         f"instead of N = {n} (the number of samples, X.shape[0])")
        else:
            parts.append(f"The data part of {name} is scaled by {a:.4g} instead of 1")
    # A claim about the regularisation part needs the fit to explain it: what the fit leaves over must be small
    # next to the regularisation gradient itself (at a small reg, a fit tolerance relative to the whole dW does
    # not see a wrong regularisation gradient, e.g. 2*reg*np.abs(W)).
    a_mat = np.stack([v.ravel() for v in basis], axis=1)
    leftover = float(np.linalg.norm(a_mat @ fit[0] - student.ravel()))
    reg_explained = leftover <= 1e-3 * float(np.linalg.norm(2 * reg * W)) if reg_basis else True
    if reg_basis and not _close(b, 2 * reg) and reg_explained:
        if _close(b, 0.0):
            parts.append(f"{name} is missing the regularisation gradient 2*reg*{weight} "
                         f"(the loss has reg*sum({weight}*{weight}), whose derivative is 2*reg*{weight})")
        elif _close(b, reg):
            parts.append(f"The regularisation gradient is reg*{weight}, but the 2017 loss reg*sum({weight}*{weight}) "
                         f"has the gradient 2*reg*{weight}: this is the 2016 0.5*reg convention or a missing factor 2")
        elif _close(b, 2.0):
            parts.append(f"The regularisation gradient is 2*{weight} without reg: multiply by reg (2*reg*{weight})")
        elif _close(b, 2 * reg / n):
            parts.append(f"The regularisation gradient 2*reg*{weight} is divided by N (a factor of N): "
                         f"only the data part is averaged")
        elif _close(b, -2 * reg):
            parts.append(f"The regularisation gradient has the wrong sign: add 2*reg*{weight}")
        else:
            parts.append(f"The regularisation gradient is {b / reg:.4g}*reg*{weight} instead of 2*reg*{weight}")
    if not parts:
        return None
    return "; ".join(parts) + "."


def loss_hint(student: float, data_loss: float, reg_term: float, reg: float, n: int,
              per_sample_constant: float | None = 1.0) -> str | None:
    """Name the bug when ``student`` equals a known wrong combination of the loss's parts.

    ``reg_term`` is ``sum(W*W)`` (summed over every regularised weight).
    """
    if not np.isfinite(student):
        return ("The loss is not finite: the exponentials overflow at large scores; subtract the max score "
                "of each row before exponentiating (the loss does not change)")
    correct = data_loss + reg * reg_term
    candidates = []
    if reg:
        candidates += [
            (data_loss, "The loss is missing the regularisation term reg*sum(W*W)"),
            (data_loss + 0.5 * reg * reg_term,
             "The loss uses 0.5*reg*sum(W*W), the 2016 convention; the 2017 assignment uses reg*sum(W*W)"),
            (data_loss + reg * reg_term / n, "The regularisation term is divided by N (a factor of N): only the "
                                             "data loss is averaged"),
            (data_loss + 2 * reg * reg_term, "The regularisation term is 2*reg*sum(W*W); the loss uses reg*sum(W*W)"),
        ]
    if reg != 1 and reg_term > 0:
        candidates.append((data_loss + reg_term, "The regularisation term is sum(W*W) without the factor reg"))
    candidates += [
        (n * data_loss + reg * reg_term, f"The data loss is summed but not averaged over the N = {n} samples "
                                         f"(a factor of N), or it sums an (N, N) block such as probs[:, y] where "
                                         f"probs[np.arange(N), y] picks one entry per sample"),
        (data_loss / n + reg * reg_term, f"The data loss is divided by N = {n} twice (a factor of N)"),
    ]
    if data_loss > 0:  # -log p with another base: the data loss scaled by 1/ln(base) at every input
        for name, base in (("np.log10", 10.0), ("np.log2", 2.0)):
            candidates.append((data_loss / math.log(base) + reg * reg_term,
                               f"The data loss is {1 / math.log(base):.4f} = 1/ln({base:g}) times the correct one: "
                               f"it uses {name}, where the cross-entropy uses the natural logarithm np.log"))
    if per_sample_constant is not None:
        candidates.append((correct + per_sample_constant,
                           "The loss is exactly 1 too large: every sample adds a margin of delta = 1 for its "
                           "correct class; skip j == y[i] (the correct class) in the sum"))
    for value, text in candidates:
        if _close(student, value, 1e-9) and not _close(student, correct, 1e-9):
            return text
    return None


def precision_hint(student: Any, expected: Any, tol: float, where: str = "") -> str | None:
    """Right to about single precision only: the computation ran in float32 (or rounded somewhere). ``student`` and
    ``expected`` are numbers, arrays or dicts of arrays (the worst entry counts); ``where`` says where to look."""
    if isinstance(expected, dict):
        err = max(rel_error(student[k], expected[k]) for k in expected)
    else:
        err = rel_error(student, expected)
    if tol < err < 1e-4:
        return (f"Your numbers agree with the correct ones to only about {max(1, int(-math.log10(err)))} significant "
                f"digits, as float32 arithmetic would give (relative error {err:.3g}): compute in float64 (no "
                f"np.float32 casts or dtypes{where}); the tolerance is {tol:g}")
    return None
