"""Checking what the student's functions returned before anything uses it.

Values arrive already decoded by the sandbox protocol (plain ndarrays,
numbers, strings, tuples, dicts or :class:`~worker.sandbox.protocol.Foreign`).
These helpers turn every wrong type, shape, dtype or non-finite value into a
:class:`CheckFailed` whose message names the function and the problem.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from worker.checks.context import CheckFailed
from worker.sandbox.protocol import Foreign


def type_name(value: Any) -> str:
    if isinstance(value, Foreign):
        extra = f" ({value.note})" if value.note else ""
        return f"{value.type}{extra}"
    if isinstance(value, np.ndarray):
        return f"numpy array of shape {value.shape} and dtype {value.dtype}"
    if isinstance(value, tuple):
        return f"tuple of length {len(value)}"
    if isinstance(value, list):
        return f"list of length {len(value)}"
    if value is None:
        return "None"
    return type(value).__name__


def expect_float(value: Any, what: str, *, finite: bool = True, hint: str | None = None) -> float:
    """A Python or numpy real scalar (or a 0-d / size-1 array)."""
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "fiu":
        value = value.reshape(())[()]
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise CheckFailed(f"{what} should be a float, but it is {type_name(value)}")
    if isinstance(value, int) and abs(value) >= 2**1024:
        try:
            digits = f"{len(str(abs(value)))} digits"
        except ValueError:  # more digits than Python converts to text
            digits = f"about {int(value.bit_length() * 0.30103) + 1} digits"
        raise CheckFailed(f"{what} is an integer with {digits}, too large to be a float",
                          details={"value": "integer too large"})
    try:
        out = float(value)
    except (OverflowError, ValueError, TypeError) as exc:
        raise CheckFailed(f"{what} should be a float, but it cannot be converted to one "
                          f"({type(exc).__name__})") from None
    if finite and not np.isfinite(out):
        raise CheckFailed(f"{what} is {out}, not a finite number", hint=hint, details={"value": str(out)})
    return out


def expect_array(value: Any, what: str, shape: tuple[int, ...], *, finite: bool = True,
                 hint: str | None = None, kinds: str = "f") -> np.ndarray:
    """A plain ndarray of the given shape whose dtype kind is in ``kinds`` (f: float, i/u: int)."""
    if isinstance(value, Foreign):
        if value.note == "ndarray subclass":
            raise CheckFailed(f"{what} is a {value.type}, an ndarray subclass; return a plain numpy array "
                              "(np.asarray(...)): subclasses such as np.matrix change how * and indexing work")
        raise CheckFailed(f"{what} should be a numpy array of shape {shape}, but it is {type_name(value)}")
    if not isinstance(value, np.ndarray):
        raise CheckFailed(f"{what} should be a numpy array of shape {shape}, but it is {type_name(value)}")
    if value.shape != tuple(shape):
        extra = ""
        if value.size == int(np.prod(shape)):
            extra = " (same number of entries: a reshape, keepdims or transpose problem?)"
        raise CheckFailed(f"{what} has shape {value.shape}, expected {tuple(shape)}{extra}",
                          hint=hint, details={"shape": list(value.shape), "expected_shape": list(shape)})
    if value.dtype.kind not in kinds:
        wanted = {"f": "floating point", "i": "integer", "u": "unsigned integer"}
        names = " or ".join(wanted[k] for k in kinds if k in wanted)
        raise CheckFailed(f"{what} has dtype {value.dtype}, expected {names}")
    if finite and value.dtype.kind == "f" and not np.all(np.isfinite(value)):
        bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
        raise CheckFailed(f"{what} contains {bad} NaN or infinite entries", hint=hint,
                          details={"nonfinite": bad})
    return value


def expect_pair(value: Any, what: str, first: str, second: str) -> tuple[Any, Any]:
    """The ``(loss, grad)`` convention: exactly a 2-tuple (a list of two is accepted)."""
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return value[0], value[1]
    raise CheckFailed(f"{what} should return a tuple ({first}, {second}), but it returned {type_name(value)}")


def expect_loss_and_grad(value: Any, func: str, grad_shape: tuple[int, ...], *, finite: bool = True,
                         hint: str | None = None, grad_name: str = "dW") -> tuple[float, np.ndarray]:
    loss, grad = expect_pair(value, func, "loss", grad_name)
    loss = expect_float(loss, f"the loss returned by {func}", finite=finite, hint=hint)
    grad = expect_array(grad, f"the {grad_name} returned by {func}", grad_shape, finite=finite, hint=hint)
    return loss, grad.astype(np.float64)
