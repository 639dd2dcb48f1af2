"""Comparing a student's numbers with expected ones, and saying where they differ."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from worker.checks.context import CheckFailed

MAP_CELLS = 64  # the error map sent to the UI is at most 64 x 64


def rel_error(x: Any, y: Any) -> float:
    """The course's relative error: ``max(|x - y| / max(1e-8, |x| + |y|))``."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return 0.0
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))
    if np.any(np.isnan(err)):
        return float("inf")
    return float(np.max(err))


def entrywise_rel_error(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))
    return np.nan_to_num(err, nan=np.inf)


def worst_entries(student: np.ndarray, expected: np.ndarray, k: int = 5,
                  axis_names: Sequence[str] = ("row", "column")) -> list[dict[str, Any]]:
    """The ``k`` entries with the largest relative error, with both values."""
    err = entrywise_rel_error(student, expected)
    flat = np.argsort(err, axis=None)[::-1][:k]
    out = []
    for f in flat:
        idx = np.unravel_index(int(f), err.shape)
        out.append({
            "index": [int(i) for i in idx],
            "student": _num(student[idx]),
            "expected": _num(expected[idx]),
            "rel_error": _num(err[idx]),
        })
    return out


def error_map(student: np.ndarray, expected: np.ndarray) -> dict[str, Any]:
    """The absolute error over a 2-D parameter, pooled down to at most 64 x 64 cells (for a heatmap)."""
    diff = np.abs(np.nan_to_num(student - expected, nan=np.inf, posinf=np.inf, neginf=np.inf))
    if diff.ndim == 1:
        diff = diff[None, :]
    if diff.ndim != 2:
        diff = diff.reshape(diff.shape[0], -1)
    rows, cols = diff.shape
    rstep = max(1, -(-rows // MAP_CELLS))
    cstep = max(1, -(-cols // MAP_CELLS))
    pr = -(-rows // rstep) * rstep - rows
    pc = -(-cols // cstep) * cstep - cols
    padded = np.pad(diff, ((0, pr), (0, pc)))
    pooled = padded.reshape(padded.shape[0] // rstep, rstep, padded.shape[1] // cstep, cstep).max(axis=(1, 3))
    finite = np.where(np.isfinite(pooled), pooled, np.finfo(np.float64).max)
    return {"values": [[_num(v) for v in row] for row in finite], "rows_per_cell": rstep,
            "cols_per_cell": cstep, "shape": [rows, cols]}


def column_summary(student: np.ndarray, expected: np.ndarray) -> list[float | str]:
    """Largest absolute error in each column (each class, for a ``(D, C)`` weight gradient)."""
    diff = np.abs(np.nan_to_num(student - expected, nan=np.inf))
    if diff.ndim != 2:
        return []
    return [_num(v) for v in diff.max(axis=0)]


def _num(v: Any) -> float | str:
    v = float(v)
    if np.isfinite(v):
        return v
    return "nan" if np.isnan(v) else ("inf" if v > 0 else "-inf")


def describe_location(index: Sequence[int], axis_names: Sequence[str]) -> str:
    parts = [f"{name} {i}" for name, i in zip(axis_names, index)]
    return ", ".join(parts)


def check_close(what: str, student: Any, expected: Any, tol: float, *, hint: str | None = None,
                axis_names: Sequence[str] = ("row", "column"), param: str | None = None,
                extra: dict[str, Any] | None = None) -> float:
    """Pass if ``rel_error(student, expected) <= tol``, else fail with the worst entries and an error map."""
    err = rel_error(student, expected)
    if err <= tol:
        return err
    details: dict[str, Any] = {"error": _num(err), "tolerance": tol, "metric": "rel_error"}
    if extra:
        details.update(extra)
    message = f"{what}: relative error {_fmt(err)} exceeds the tolerance {tol:g}"
    s = np.asarray(student, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if s.ndim >= 1 and s.size > 1:
        worst = worst_entries(s, e, axis_names=axis_names)
        details["worst"] = worst
        details["param"] = param
        details["axis_names"] = list(axis_names)
        if s.ndim <= 2:
            details["error_map"] = error_map(s, e)
        if s.ndim == 2:
            details["column_max_error"] = column_summary(s, e)
        wrong = int(np.count_nonzero(entrywise_rel_error(s, e) > tol))
        details["wrong_entries"] = wrong
        details["entries"] = int(s.size)
        lines = []
        for w in worst[:3]:
            if isinstance(w["student"], str) or isinstance(w["expected"], str):
                yours, wanted = _fmt(w["student"]), _fmt(w["expected"])
            else:
                yours, wanted = fmt_pair(w["student"], w["expected"])
            lines.append(f"  {describe_location(w['index'], axis_names)}: yours {yours}, expected {wanted}")
        message += f"; {wrong} of {s.size} entries are off. Worst:\n" + "\n".join(lines)
    else:
        yours, wanted = fmt_pair(float(s), float(e))
        message += f" (yours {yours}, expected {wanted})"
        details["student"] = _num(float(s))
        details["expected"] = _num(float(e))
    raise CheckFailed(message, hint=hint, details=details)


def _fmt(v: Any) -> str:
    if isinstance(v, str):
        return v
    v = float(v)
    if v == 0 or 1e-3 <= abs(v) < 1e5:
        return f"{v:.6g}"
    return f"{v:.3e}"


def fmt_pair(a: float, b: float) -> tuple[str, str]:
    """Two numbers printed with enough significant digits to see where they differ (6 to 17)."""
    if not (np.isfinite(a) and np.isfinite(b)) or a == b:
        return _fmt(a), _fmt(b)
    digits = 6
    while digits < 17 and f"{a:.{digits}g}" == f"{b:.{digits}g}":
        digits += 1
    return f"{a:.{digits}g}", f"{b:.{digits}g}"

