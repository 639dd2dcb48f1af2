"""Trusted reference implementation of the CS231n (2017) multiclass SVM loss.

This module is used only by the grader to compute the expected values. It is
never shipped to students.

Conventions (2017 edition):
- W has shape (D, C), X has shape (N, D), y has shape (N,) with ints in [0, C).
- Margin delta = 1; the correct class is skipped.
- loss = mean over samples of the hinge losses + reg * np.sum(W * W)
- dW   = mean over samples of the hinge gradients + 2 * reg * W

Neither function modifies its inputs. The loss is returned as a Python float
and the gradient as a float64 array shaped like W.
"""
import numpy as np


def _as_inputs(W, X, y):
    """Return float64 / integer views of the inputs (copies only if needed)."""
    W = np.asarray(W, dtype=np.float64)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y).astype(np.intp, copy=False)
    return W, X, y


def svm_loss_naive(W, X, y, reg):
    """
    Structured SVM loss function, naive implementation (with loops).

    Inputs:
    - W: A numpy array of shape (D, C) containing weights.
    - X: A numpy array of shape (N, D) containing a minibatch of data.
    - y: A numpy array of shape (N,) containing training labels; y[i] = c means
      that X[i] has label c, where 0 <= c < C.
    - reg: (float) regularization strength

    Returns a tuple of:
    - loss as single float
    - gradient with respect to weights W; an array of same shape as W
    """
    W, X, y = _as_inputs(W, X, y)
    num_train = X.shape[0]
    num_classes = W.shape[1]

    loss = 0.0
    dW = np.zeros(W.shape, dtype=np.float64)
    for i in range(num_train):
        scores = X[i].dot(W)
        correct_class_score = scores[y[i]]
        for j in range(num_classes):
            if j == y[i]:
                continue
            margin = scores[j] - correct_class_score + 1.0  # delta = 1
            if margin > 0:
                loss += margin
                dW[:, j] += X[i]
                dW[:, y[i]] -= X[i]

    loss /= num_train
    dW /= num_train

    loss += reg * np.sum(W * W)
    dW += 2.0 * reg * W
    return float(loss), dW


def svm_loss_vectorized(W, X, y, reg):
    """
    Structured SVM loss function, vectorized implementation.

    Inputs and outputs are the same as svm_loss_naive.
    """
    W, X, y = _as_inputs(W, X, y)
    num_train = X.shape[0]
    rows = np.arange(num_train)

    scores = X.dot(W)                                    # (N, C)
    correct_class_scores = scores[rows, y][:, np.newaxis]  # (N, 1)
    margins = np.maximum(0.0, scores - correct_class_scores + 1.0)
    margins[rows, y] = 0.0

    loss = np.sum(margins) / num_train + reg * np.sum(W * W)

    # Each positive margin contributes +X[i] to its class column and -X[i]
    # to the correct class column.
    coeff = (margins > 0).astype(np.float64)
    coeff[rows, y] = -np.sum(coeff, axis=1)
    dW = X.T.dot(coeff) / num_train + 2.0 * reg * W
    return float(loss), dW


def subgradient_alternatives(W, X, y, reg):
    """Other valid gradients where the hinge is not differentiable (a margin exactly 0).

    ``svm_loss_*`` count a margin as active when it is > 0; counting it when it is >= 0 is an equally
    valid subgradient. The grader accepts either on inputs whose margins can be exactly 0.
    """
    W, X, y = _as_inputs(W, X, y)
    num_train = X.shape[0]
    rows = np.arange(num_train)
    scores = X.dot(W)
    raw = scores - scores[rows, y][:, np.newaxis] + 1.0
    coeff = (raw >= 0).astype(np.float64)
    coeff[rows, y] = 0.0
    coeff[rows, y] = -np.sum(coeff, axis=1)
    return [X.T.dot(coeff) / num_train + 2.0 * reg * W]
