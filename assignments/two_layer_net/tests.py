"""Checks for the two-layer net, from the grader's library (see worker/checks/net.py)."""

from worker.checks.net import (  # noqa: F401 - re-exported for assignment.toml
    grads_consistency,
    grads_keys_shapes,
    grads_reference_noreg,
    grads_reference_reg,
    loss_reference,
    no_param_mutation,
    predict_argmax,
    scores_reference,
    stable_large_scores,
    toy_loss,
    toy_scores,
    train_digits,
    train_histories,
    train_sampling,
    train_sgd_steps,
    train_toy,
)
