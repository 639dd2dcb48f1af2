"""Input regimes for the linear classifiers: inputs designed so that every clause of the spec shows.

A check that only draws "typical" random inputs passes code that is right only on typical inputs:
a class count taken from the labels is right while every class appears in ``y``, a correct class
found by its value is right while no scores tie, a transposed ``dW`` is caught only because its
shape differs. Each regime below makes one property of ``f(W, X, y, reg) -> (loss, dW)`` observable:

| regime | the property it exercises |
|---|---|
| typical (small weights) | the notebook's setting |
| spread weights | margins on both sides of the hinge, probabilities far from uniform |
| binary (C = 2) | nothing hard-codes the number of classes or relies on C > 2 |
| few samples (N < C) | the average is over N, not C; absent classes keep their scores |
| absent classes (the highest among them) | num_classes = W.shape[1], not max(y) + 1 |
| square (D == C) | dW has W's layout (a transposed dW has the same shape here) |
| repeated rows | samples are summed, not de-duplicated; repeated labels accumulate |
| integer scores (ties, margins exactly 0) | the correct class is excluded by index, not by value |
| tiny weights | every SVM margin is positive; softmax near uniform |
| large weights | large score differences; probabilities near 0 and 1 |

Every regime draws fresh shapes and values from the test's generator (the report's seed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Problem:
    W: np.ndarray
    X: np.ndarray
    y: np.ndarray
    regime: str = "typical"
    description: str = "random inputs"
    kinks: bool = False  # scores are exact integers: SVM margins may be exactly 0 (subgradients differ)
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> str:
        n, d = self.X.shape
        return f"N={n}, D={d}, C={self.W.shape[1]}"

    @property
    def label(self) -> str:
        """Shape and regime, for messages: ``N=5, D=9, C=7; few samples (N < C)``."""
        extra = f"; {', '.join(self.notes)}" if self.notes else ""
        return f"{self.shape}; {self.description}{extra}"

    def absent_classes(self) -> list[int]:
        return sorted(set(range(self.W.shape[1])) - {int(v) for v in self.y})


def _data(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    # CIFAR-sized inputs (1.5 million values) are drawn in float32, twice as fast, then widened: the values
    # need no more precision than that, and the arrays are float64 as the notebook's are.
    X = rng.standard_normal((n, d), dtype=np.float32 if n * d > 100_000 else np.float64).astype(np.float64)
    X[:, -1] = 1.0  # a bias feature, as the notebook appends
    return X


def _labels_covering(rng: np.random.Generator, n: int, c: int) -> np.ndarray:
    y = rng.integers(0, c, size=n)
    if n >= c:
        y[rng.permutation(n)[:c]] = np.arange(c)
    return y.astype(np.int64)


def _weights(rng: np.random.Generator, d: int, c: int, scale: float) -> np.ndarray:
    return scale * rng.standard_normal((d, c))


def make_problem(rng: np.random.Generator, *, n: int | None = None, d: int | None = None, c: int | None = None,
                 small_weights: bool = False) -> Problem:
    """Random data with a bias column (``X[:, -1] == 1``), every class present when N allows it."""
    n = n or int(rng.integers(16, 64))
    d = d or int(rng.integers(6, 40))
    c = c or int(rng.integers(3, 11))
    X = _data(rng, n, d)
    y = _labels_covering(rng, n, c)
    scale = 1e-2 if small_weights else rng.uniform(0.3, 1.0) / math.sqrt(d)
    W = _weights(rng, d, c, scale)
    if small_weights:
        return Problem(W, X, y, "typical", "small weights (W ~ 0.01)")
    return Problem(W, X, y, "spread", "weights that spread the scores around the margins")


def binary(rng: np.random.Generator) -> Problem:
    n, d = int(rng.integers(10, 40)), int(rng.integers(4, 20))
    X = _data(rng, n, d)
    return Problem(_weights(rng, d, 2, 0.7 / math.sqrt(d)), X, _labels_covering(rng, n, 2), "binary",
                   "two classes (C = 2)")


def few_samples(rng: np.random.Generator) -> Problem:
    c = int(rng.integers(6, 11))
    n = int(rng.integers(2, c))
    d = int(rng.integers(4, 20))
    X = _data(rng, n, d)
    y = rng.integers(0, c - 1, size=n).astype(np.int64)  # the highest class is always absent
    p = Problem(_weights(rng, d, c, 0.7 / math.sqrt(d)), X, y, "few_samples", "fewer samples than classes (N < C)")
    p.notes.append(f"classes {', '.join(map(str, p.absent_classes()))} not in y")
    return p


def absent_classes(rng: np.random.Generator) -> Problem:
    c = int(rng.integers(5, 11))
    n, d = int(rng.integers(20, 50)), int(rng.integers(5, 25))
    present = np.sort(rng.permutation(c - 1)[: max(2, c - 3)])  # never the highest class, one more missing
    X = _data(rng, n, d)
    y = present[rng.integers(0, len(present), size=n)].astype(np.int64)
    y[: len(present)] = present
    p = Problem(_weights(rng, d, c, 0.7 / math.sqrt(d)), X, y, "absent_classes",
                "classes absent from y, the highest among them")
    p.notes.append(f"classes {', '.join(map(str, p.absent_classes()))} not in y")
    return p


def square(rng: np.random.Generator) -> Problem:
    c = int(rng.integers(4, 11))
    n = int(rng.integers(20, 50))
    X = _data(rng, n, c)
    return Problem(_weights(rng, c, c, 0.7 / math.sqrt(c)), X, _labels_covering(rng, n, c), "square",
                   "as many features as classes (D == C)")


def repeated_rows(rng: np.random.Generator) -> Problem:
    c = int(rng.integers(3, 9))
    n, d = int(rng.integers(20, 50)), int(rng.integers(4, 20))
    pool = _data(rng, 4, d)
    X = pool[rng.integers(0, 4, size=n)]
    return Problem(_weights(rng, d, c, 0.7 / math.sqrt(d)), X, _labels_covering(rng, n, c), "repeated_rows",
                   "repeated rows of X, with the same and different labels")


def integer_scores(rng: np.random.Generator) -> Problem:
    """Small integers everywhere: scores are exact integers, so classes tie and margins are exactly 0."""
    c = int(rng.integers(3, 9))
    n, d = int(rng.integers(20, 50)), int(rng.integers(3, 8))
    X = rng.integers(-2, 3, size=(n, d)).astype(np.float64)
    X[:, -1] = 1.0
    W = rng.integers(-1, 2, size=(d, c)).astype(np.float64)
    return Problem(W, X, _labels_covering(rng, n, c), "ties", "integer scores: ties and margins exactly 0",
                   kinks=True)


def tiny_weights(rng: np.random.Generator) -> Problem:
    p = make_problem(rng)
    p.W = 1e-6 * rng.standard_normal(p.W.shape)
    p.regime, p.description = "tiny_weights", "tiny weights (W ~ 1e-6)"
    return p


def large_weights(rng: np.random.Generator) -> Problem:
    p = make_problem(rng)
    d = p.W.shape[0]
    p.W = rng.uniform(4.0, 6.0) / math.sqrt(d) * rng.standard_normal(p.W.shape)
    p.regime, p.description = "large_weights", "large weights (score differences of tens)"
    return p


def regimes(rng: np.random.Generator) -> list[Problem]:
    """One problem of every regime, drawn fresh from ``rng``."""
    return [make_problem(rng, small_weights=True), make_problem(rng), binary(rng), few_samples(rng),
            absent_classes(rng), square(rng), repeated_rows(rng), integer_scores(rng), tiny_weights(rng),
            large_weights(rng)]
