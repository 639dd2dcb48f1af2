"""Trusted reference for the 2021+ edition's modular layers and two-layer net.

``cs231n/layers.py``: affine_forward/backward, relu_forward/backward, svm_loss, softmax_loss, as the
course writes them (inputs of any shape (N, d_1, ..., d_k) for the affine layer; losses averaged over
N, no regularisation). ``cs231n/classifiers/fc_net.py``: TwoLayerNet(input_dim, hidden_dim,
num_classes, weight_scale, reg) built from those layers, with this edition's
**0.5 * reg * (sum(W1*W1) + sum(W2*W2))** (gradients reg * W).

The module-level ``net_scores(params, X)`` and ``net_loss(params, X, y, reg)`` compute the same as
TwoLayerNet.loss on a plain params dict, for the grader. Nothing here modifies its inputs.
"""

import numpy as np


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1).dot(w) + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, b = cache
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    x = cache
    return dout * (x > 0)


def svm_loss(x, y):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y).astype(np.intp)
    n = x.shape[0]
    rows = np.arange(n)
    margins = np.maximum(0.0, x - x[rows, y][:, None] + 1.0)
    margins[rows, y] = 0.0
    loss = np.sum(margins) / n
    positive = (margins > 0).astype(np.float64)
    dx = positive
    dx[rows, y] -= positive.sum(axis=1)
    return float(loss), dx / n


def softmax_loss(x, y):
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y).astype(np.intp)
    n = x.shape[0]
    rows = np.arange(n)
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    loss = -np.sum(log_probs[rows, y]) / n
    dx = np.exp(log_probs)
    dx[rows, y] -= 1.0
    return float(loss), dx / n


def svm_subgradient_alternatives(x, y):
    """At a margin of exactly 0 counting it (>= 0) is an equally valid subgradient."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y).astype(np.intp)
    n = x.shape[0]
    rows = np.arange(n)
    raw = x - x[rows, y][:, None] + 1.0
    positive = (raw >= 0).astype(np.float64)
    positive[rows, y] = 0.0
    positive[rows, y] = -positive.sum(axis=1)
    return [positive / n]


def net_scores(params, X):
    hidden = np.maximum(0.0, X.reshape(X.shape[0], -1).dot(params["W1"]) + params["b1"])
    return hidden.dot(params["W2"]) + params["b2"]


def net_loss(params, X, y, reg):
    W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    X2 = X.reshape(X.shape[0], -1)
    pre = X2.dot(W1) + b1
    hidden = np.maximum(0.0, pre)
    scores = hidden.dot(W2) + b2
    loss, dscores = softmax_loss(scores, y)
    loss += 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))
    dhidden = dscores.dot(W2.T) * (pre > 0)
    grads = {
        "W1": X2.T.dot(dhidden) + reg * W1,
        "b1": dhidden.sum(axis=0),
        "W2": hidden.T.dot(dscores) + reg * W2,
        "b2": dscores.sum(axis=0),
    }
    return float(loss), grads


class TwoLayerNet(object):
    def __init__(self, input_dim=3 * 32 * 32, hidden_dim=100, num_classes=10, weight_scale=1e-3, reg=0.0):
        self.params = {}
        self.reg = reg
        self.params["W1"] = weight_scale * np.random.randn(input_dim, hidden_dim)
        self.params["b1"] = np.zeros(hidden_dim)
        self.params["W2"] = weight_scale * np.random.randn(hidden_dim, num_classes)
        self.params["b2"] = np.zeros(num_classes)

    def loss(self, X, y=None):
        if y is None:
            return net_scores(self.params, X)
        return net_loss(self.params, X, y, self.reg)
