"""Numerical gradient checks: central differences in float64, aware of kinks.

``f`` is any callable returning a float (usually the student's loss through the
sandbox). Two kinds of probes are drawn from the test's generator: single
coordinates and random unit directions (a directional derivative touches every
entry at once, so a wrong column cannot hide between sampled coordinates).
Each probe is estimated with steps ``h`` and ``h/2``; if the two estimates
disagree the probe straddles a kink (an SVM hinge, a ReLU) and is skipped,
so correct piecewise-linear code never fails on a kink. Given the tolerance
of the check, a probe that already agrees at step ``h`` needs no second step,
and the points of all probes go to the student's code in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np


@dataclass
class Probe:
    kind: str  # "coordinate" or "direction"
    index: tuple[int, ...] | None
    analytic: float
    numeric: float
    rel_error: float


@dataclass
class GradientCheck:
    probes: list[Probe] = field(default_factory=list)
    skipped_kinks: int = 0

    @property
    def max_error(self) -> float:
        return max((p.rel_error for p in self.probes), default=0.0)

    def worst(self) -> Probe | None:
        return max(self.probes, key=lambda p: p.rel_error, default=None)

    def details(self) -> dict[str, Any]:
        return {
            "probes": len(self.probes),
            "skipped_at_kinks": self.skipped_kinks,
            "max_rel_error": self.max_error,
            "worst_probes": [
                {"kind": p.kind, "index": list(p.index) if p.index else None, "analytic": p.analytic,
                 "numeric": p.numeric, "rel_error": p.rel_error}
                for p in sorted(self.probes, key=lambda p: -p.rel_error)[:5]
            ],
        }


def _rel(a: float, b: float, floor: float) -> float:
    if not (np.isfinite(a) and np.isfinite(b)):
        return float("inf")
    return abs(a - b) / max(abs(a) + abs(b), floor)


def gradient_check(f: Callable[[np.ndarray], float] | None, x: np.ndarray, analytic: np.ndarray,
                   rng: np.random.Generator, *, coordinates: int = 8, directions: int = 4,
                   h: float = 1e-5, kink_tol: float = 1e-6, tol: float | None = None,
                   f_many: Callable[[list[np.ndarray]], list[float]] | None = None) -> GradientCheck:
    """Compare ``analytic`` with numerical derivatives of ``f`` at ``x``.

    ``f_many`` evaluates a list of points at once (one sandbox request for many probes); without it ``f`` is
    called on each point. With ``tol``, a probe whose step-``h`` estimate already agrees with ``analytic``
    within ``tol`` is taken as it is (a kink could only make the two disagree); only the others are estimated
    again with ``h/2`` to tell a kink (skipped) from a wrong gradient. Without ``tol`` every probe gets both.
    """
    x = np.asarray(x, dtype=np.float64)
    analytic = np.asarray(analytic, dtype=np.float64)
    scale = float(np.max(np.abs(analytic))) if analytic.size else 1.0
    floor = max(1e-8, 1e-7 * scale)
    result = GradientCheck()
    if f_many is None:
        assert f is not None
        f_many = lambda points: [f(p) for p in points]  # noqa: E731

    size = [0.0]  # the largest |f| seen: central differences carry a rounding error of about eps * |f| / h

    def centrals(vs: list[np.ndarray], step: float) -> list[float]:
        if not vs:
            return []
        values = f_many([x + step * v for v in vs] + [x - step * v for v in vs])
        out = []
        for plus, minus in zip(values[:len(vs)], values[len(vs):]):
            if np.isfinite(plus) and np.isfinite(minus):
                size[0] = max(size[0], abs(plus), abs(minus))
            out.append((plus - minus) / (2 * step))
        return out

    def noise_floor(step: float) -> float:
        # Below the rounding noise of the finite differences (about eps * |f| / h) a derivative is zero for all
        # we can tell: floor the denominator there so that 0 and 2e-11 are not called 100% apart.
        return 1e5 * np.finfo(np.float64).eps * (size[0] + 1.0) / step

    probes: list[tuple[str, tuple[int, ...] | None, np.ndarray]] = []
    n = min(coordinates, x.size)
    for flat in rng.choice(x.size, size=n, replace=False):
        index = tuple(int(i) for i in np.unravel_index(int(flat), x.shape))
        v = np.zeros_like(x)
        v[index] = 1.0
        probes.append(("coordinate", index, v))
    for _ in range(directions):
        v = rng.standard_normal(x.shape)
        v /= np.linalg.norm(v)
        probes.append(("direction", None, v))

    coarse_all = centrals([v for _, _, v in probes], h)
    pending: list[tuple[int, float]] = []
    kept: dict[int, Probe] = {}
    for i, ((kind, idx, v), coarse) in enumerate(zip(probes, coarse_all)):
        a = float(np.sum(analytic * v))
        if tol is not None and np.isfinite(coarse):
            error = _rel(a, coarse, max(floor, noise_floor(h)))
            if error <= tol:
                kept[i] = Probe(kind, idx, a, coarse, error)
                continue
        pending.append((i, coarse))
    fine_all = centrals([probes[i][2] for i, _ in pending], h / 2)
    for (i, coarse), fine in zip(pending, fine_all):
        kind, idx, v = probes[i]
        a = float(np.sum(analytic * v))
        if not (np.isfinite(coarse) and np.isfinite(fine)):
            kept[i] = Probe(kind, idx, a, float(fine), float("inf"))
            continue
        if _rel(coarse, fine, floor) > kink_tol:
            result.skipped_kinks += 1
            continue
        kept[i] = Probe(kind, idx, a, fine, _rel(a, fine, max(floor, noise_floor(h / 2))))
    result.probes = [kept[i] for i in sorted(kept)]
    return result
