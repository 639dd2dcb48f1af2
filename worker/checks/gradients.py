"""Numerical gradient checks: central differences in float64, aware of kinks.

``f`` is any callable returning a float (usually the student's loss through the
sandbox). Two kinds of probes are drawn from the test's generator: single
coordinates and random unit directions (a directional derivative touches every
entry at once, so a wrong column cannot hide between sampled coordinates).
Each probe is estimated with steps ``h`` and ``h/2``; if the two estimates
disagree the probe straddles a kink (an SVM hinge, a ReLU) and is skipped,
so correct piecewise-linear code never fails on a kink.
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


def gradient_check(f: Callable[[np.ndarray], float], x: np.ndarray, analytic: np.ndarray,
                   rng: np.random.Generator, *, coordinates: int = 8, directions: int = 4,
                   h: float = 1e-5, kink_tol: float = 1e-6) -> GradientCheck:
    """Compare ``analytic`` with numerical derivatives of ``f`` at ``x``."""
    x = np.asarray(x, dtype=np.float64)
    analytic = np.asarray(analytic, dtype=np.float64)
    scale = float(np.max(np.abs(analytic))) if analytic.size else 1.0
    floor = max(1e-8, 1e-7 * scale)
    result = GradientCheck()

    size = [0.0]  # the largest |f| seen: central differences carry a rounding error of about eps * |f| / h

    def central(v: np.ndarray, step: float) -> float:
        plus, minus = f(x + step * v), f(x - step * v)
        if np.isfinite(plus) and np.isfinite(minus):
            size[0] = max(size[0], abs(plus), abs(minus))
        return (plus - minus) / (2 * step)

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

    for kind, idx, v in probes:
        coarse = central(v, h)
        fine = central(v, h / 2)
        if not (np.isfinite(coarse) and np.isfinite(fine)):
            result.probes.append(Probe(kind, idx, float(np.sum(analytic * v)), float(fine), float("inf")))
            continue
        if _rel(coarse, fine, floor) > kink_tol:
            result.skipped_kinks += 1
            continue
        a = float(np.sum(analytic * v))
        # Below the rounding noise of the finite differences (about eps * |f| / h) a derivative is zero for all
        # we can tell: floor the denominator there so that 0 and 2e-11 are not called 100% apart.
        noise_floor = 1e5 * np.finfo(np.float64).eps * (size[0] + 1.0) / (h / 2)
        result.probes.append(Probe(kind, idx, a, fine, _rel(a, fine, max(floor, noise_floor))))
    return result
