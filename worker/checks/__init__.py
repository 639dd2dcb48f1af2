"""The check library that assignments' ``tests.py`` are written against.

- :mod:`worker.checks.context`: ``Context``, ``CheckFailed``, ``Outcome``
- :mod:`worker.checks.values`: validating returned values (types, shapes, dtypes, NaN)
- :mod:`worker.checks.compare`: ``rel_error`` and comparisons that report where they differ
- :mod:`worker.checks.gradients`: kink-aware numerical gradient checks
- :mod:`worker.checks.hints`: naming the bug behind a recognisable error
- :mod:`worker.checks.code`: static checks on the student's AST
- :mod:`worker.checks.linear`, :mod:`worker.checks.net`: ready-made checks for the CS231n models
"""

from worker.checks.compare import check_close, rel_error
from worker.checks.context import CheckFailed, Context, Outcome
from worker.checks.gradients import gradient_check

__all__ = ["CheckFailed", "Context", "Outcome", "check_close", "gradient_check", "rel_error"]
