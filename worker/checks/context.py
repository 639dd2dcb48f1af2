"""What an assignment's ``tests.py`` receives: the :class:`Context` of one test.

A test is a plain function ``def name(ctx) -> Outcome | None`` listed in the
assignment's ``assignment.toml``. It passes by returning (optionally an
:class:`Outcome` with a message and details), fails by raising
:class:`CheckFailed`; a :class:`~worker.sandbox.StudentError` raised by a call
into student code becomes an ``error`` result with the student's message.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Callable

import numpy as np

from worker.sandbox import StudentProcess


class CheckFailed(Exception):
    """The student's answer is wrong. ``message`` says what was checked and what was measured."""

    def __init__(self, message: str, *, hint: str | None = None, details: dict[str, Any] | None = None,
                 fraction: float = 0.0):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details or {}
        self.fraction = fraction  # partial credit in [0, 1)


class ReferenceUnavailable(Exception):
    """A public check (``grader check``) touched the reference, which students do not have."""


@dataclass
class Outcome:
    message: str = "passed"
    details: dict[str, Any] = field(default_factory=dict)


class Context:
    """Everything one test may use.

    ``rng`` is seeded from the report's seed and the test's id, so a test draws
    the same inputs whenever the same seed is graded again, whatever ran before it.
    """

    def __init__(self, *, test_id: str, seed: int, rng: np.random.Generator, student: StudentProcess,
                 reference: ModuleType | None, sources: dict[str, str], trees: dict[str, ast.Module],
                 module: str, memo: dict[str, Any], params: dict[str, Any], catalog: list[Any] | None = None,
                 conventions: dict[str, Any] | None = None):
        self.test_id = test_id
        self.seed = seed
        self.rng = rng
        self.student = student
        self._reference = reference
        self.sources = sources
        self.trees = trees
        self.module = module  # the student's main module name (e.g. "linear_svm")
        self._memo = memo
        self.params = params  # the test's own table from assignment.toml
        # The assignment's catalogued mistakes (worker/checks/diagnosis.py): only with the reference,
        # since the variants are the reference with one mistake each.
        self.catalog = list(catalog or []) if reference is not None else []
        # The edition's conventions from assignment.toml ([conventions], e.g. reg = "full" or "half").
        self.conventions = dict(conventions or {})

    @property
    def reference(self) -> ModuleType:
        if self._reference is None:
            raise ReferenceUnavailable(f"test {self.test_id} needs the reference solution")
        return self._reference

    @property
    def has_reference(self) -> bool:
        return self._reference is not None

    @property
    def tree(self) -> ast.Module:
        return self.trees[self.module]

    def memo(self, key: str, compute: Callable[[], Any]) -> Any:
        """Share an expensive result between the tests of one grading run. Tests not visible to students
        have their own keyed ``seed`` (worker/hidden_key.py), so they share only among themselves: a
        hidden test never reuses inputs a visible one drew, nor hands its own to one."""
        key = f"{self.seed}:{key}"
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    def seed_int(self) -> int:
        """A fresh 31-bit seed for the student's ``np.random`` (reproducible from the report seed)."""
        return int(self.rng.integers(0, 2**31 - 1))
