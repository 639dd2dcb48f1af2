"""Trusted reference implementation of the CS231n (2017) softmax loss.

This module is used only by the grader to compute the expected values. It is
never shipped to students.

Conventions (2017 edition):
- W has shape (D, C), X has shape (N, D), y has shape (N,) with ints in [0, C).
- loss = mean cross-entropy over samples + reg * np.sum(W * W)
- dW   = X.T @ (P - onehot(y)) / N + 2 * reg * W
- Numerically stable: the row maximum is subtracted from the scores, so a large
  constant added to every score leaves loss and gradient unchanged.

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


def softmax_loss_naive(W, X, y, reg):
    """
    Softmax loss function, naive implementation (with loops)

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
        scores = scores - np.max(scores)
        exp_scores = np.exp(scores)
        sum_exp = np.sum(exp_scores)
        # -log(softmax) written as log-sum-exp minus the correct score.
        loss += np.log(sum_exp) - scores[y[i]]
        for j in range(num_classes):
            p = exp_scores[j] / sum_exp
            if j == y[i]:
                p -= 1.0
            dW[:, j] += p * X[i]

    loss /= num_train
    dW /= num_train

    loss += reg * np.sum(W * W)
    dW += 2.0 * reg * W
    return float(loss), dW


def softmax_loss_vectorized(W, X, y, reg):
    """
    Softmax loss function, vectorized version.

    Inputs and outputs are the same as softmax_loss_naive.
    """
    W, X, y = _as_inputs(W, X, y)
    num_train = X.shape[0]
    rows = np.arange(num_train)

    scores = X.dot(W)
    scores = scores - np.max(scores, axis=1, keepdims=True)
    exp_scores = np.exp(scores)
    sum_exp = np.sum(exp_scores, axis=1, keepdims=True)
    log_probs = scores - np.log(sum_exp)

    loss = -np.sum(log_probs[rows, y]) / num_train + reg * np.sum(W * W)

    dscores = exp_scores / sum_exp
    dscores[rows, y] -= 1.0
    dW = X.T.dot(dscores) / num_train + 2.0 * reg * W
    return float(loss), dW
