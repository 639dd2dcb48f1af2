"""Checks for this assignment: the linear-classifier checks of the grader's library.

Each test in assignment.toml names one of these functions in its ``check`` key
and passes the function names through ``params``.
"""

from worker.checks.linear import (  # noqa: F401 - re-exported for assignment.toml
    agrees_with_naive,
    faster_than_naive,
    grad_consistency,
    grad_reference_noreg,
    grad_reference_reg,
    large_batch,
    loss_at_zero,
    loss_reference_noreg,
    loss_reference_reg,
    no_input_mutation,
    no_loops,
    reg_known_value,
    stable_large_scores,
)
