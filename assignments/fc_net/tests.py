"""Checks for the 2021+ modular layers and TwoLayerNet, from the grader's library (see worker/checks/layers.py)."""

from worker.checks.layers import (  # noqa: F401 - re-exported for assignment.toml
    affine_backward_numeric,
    affine_backward_reference,
    affine_forward_notebook,
    affine_forward_reference,
    losses_known_values,
    losses_no_mutation,
    losses_numeric,
    net_grads_numeric,
    net_grads_reference,
    net_init,
    net_notebook_values,
    relu_backward_spec,
    relu_forward_spec,
    softmax_loss_reference,
    svm_loss_reference,
)
