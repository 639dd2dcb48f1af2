"""Catalogued mistakes of TwoLayerNet.loss (trusted, never shipped to students).

Variants of the reference's ``loss_and_grads(params, X, y, reg)`` (kind "loss") and
``forward_scores(params, X)`` (kind "scores"), each with one mistake real students make; the grader
runs them on the inputs of a failed check and names those that reproduce the student's numbers
(worker/checks/diagnosis.py).
"""

import numpy as np

from worker.checks.diagnosis import Mistake


def _net(params, X, y=None, reg=0.0, *, b1=True, b2=True, relu=True, mask=True, mask_pre_bias=False,
         w2_pre_relu=False, onehot=True, avg_loss=True, avg_grad=True, reg_loss=1.0, reg_grad=2.0,
         reg_biases=False, reg_keys=("W1", "W2"), avg_reg=False, w2_transposed=False, probs_as_scores=False,
         bias_mean=(), divide_before_onehot=False, reg_norm=False, scores_row_shifted=False,
         b1_after_relu=None):
    """Forward and backward pass of the reference, with the mistakes as switches."""
    W1, c1, W2, c2 = (np.asarray(params[k], np.float64) for k in ("W1", "b1", "W2", "b2"))
    X = np.asarray(X, np.float64)
    pre = X.dot(W1) + (c1 if b1 and not b1_after_relu else 0.0)
    hidden = np.maximum(0.0, pre) if relu else pre
    if b1_after_relu:  # hidden = np.maximum(0, X.dot(W1)) + b1; the mask read from "hidden" or "pre"
        hidden = hidden + c1
    scores = hidden.dot(W2) + (c2 if b2 else 0.0)
    if y is None:
        if probs_as_scores:
            e = np.exp(scores - scores.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)
        if scores_row_shifted:
            return scores - scores.max(axis=1, keepdims=True)
        return scores
    y = np.asarray(y).astype(np.intp)
    n = X.shape[0]
    rows = np.arange(n)
    shifted = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    probs = exp / exp.sum(axis=1, keepdims=True)
    data_loss = -np.sum(np.log(probs[rows, y])) / (n if avg_loss else 1)
    weights = {"W1": W1, "W2": W2, "b1": c1, "b2": c2}
    reg_keys = tuple(reg_keys) + (("b1", "b2") if reg_biases else ())
    reg_scale = reg / n if avg_reg else reg
    if reg_norm:
        loss = data_loss + reg_scale * sum(float(np.linalg.norm(weights[k])) for k in reg_keys)
    else:
        loss = data_loss + reg_loss * reg_scale * sum(float(np.sum(weights[k] ** 2)) for k in reg_keys)
    dscores = probs.copy()
    if divide_before_onehot:
        dscores /= n
    if onehot:
        dscores[rows, y] -= 1.0
    if avg_grad and not divide_before_onehot:
        dscores /= n
    dhidden = dscores.dot(W2.T)
    if relu and mask:
        dhidden[(X.dot(W1) if mask_pre_bias else hidden if b1_after_relu == "hidden" else pre) <= 0] = 0.0
    grads = {
        "W1": X.T.dot(dhidden),
        "b1": dhidden.sum(axis=0),
        "W2": (pre if w2_pre_relu else hidden).T.dot(dscores),
        "b2": dscores.sum(axis=0),
    }
    if w2_transposed:
        grads["W2"] = hidden.T.dot(dscores).T.copy()
    for k in bias_mean:
        grads[k] = grads[k] / n
    for k in reg_keys:
        grads[k] = grads[k] + reg_grad * reg_scale * weights[k]
    return float(loss), grads


def _scores(**switches):
    return lambda params, X: _net(params, X, **switches)


def _loss(**switches):
    return lambda params, X, y, reg: _net(params, X, y, reg, **switches)


def _has_reg(params, X, y, reg):
    return reg != 0


MISTAKES = [
    # ------------------------------------------------------------------ forward pass
    Mistake("net_scores_no_biases", "leave both biases b1 and b2 out of the forward pass",
            "scores = np.maximum(0, X.dot(W1) + b1).dot(W2) + b2", ("scores",), _scores(b1=False, b2=False),
            kind="scores"),
    Mistake("net_scores_no_b1", "leave b1 out of the hidden layer", "hidden = np.maximum(0, X.dot(W1) + b1)",
            ("scores",), _scores(b1=False), kind="scores"),
    Mistake("net_scores_no_b2", "leave b2 out of the scores", "scores = hidden.dot(W2) + b2", ("scores",),
            _scores(b2=False), kind="scores"),
    Mistake("net_scores_softmax", "return the softmax probabilities instead of the scores when y is None",
            "when y is None return the class scores hidden.dot(W2) + b2 themselves; the softmax belongs to the loss",
            ("scores",), _scores(probs_as_scores=True), kind="scores"),
    Mistake("net_scores_row_shifted", "return the scores after subtracting each row's maximum (the softmax's "
            "stability shift made before `if y is None: return scores`)",
            "return the raw scores hidden.dot(W2) + b2 when y is None; shift a copy (scores - np.max(scores, axis=1, "
            "keepdims=True)) only inside the softmax, after the return", ("scores",),
            _scores(scores_row_shifted=True), kind="scores"),
    Mistake("net_scores_b1_after_relu", "add b1 after the ReLU (np.maximum(0, X.dot(W1)) + b1)",
            "add b1 before the ReLU: hidden = np.maximum(0, X.dot(W1) + b1)", ("scores",),
            _scores(b1_after_relu="pre"), kind="scores"),
    Mistake("net_scores_no_relu", "leave out the ReLU (a purely linear network)",
            "hidden = np.maximum(0, X.dot(W1) + b1)", ("scores",), _scores(relu=False), kind="scores"),
    # ------------------------------------------------------------------ loss and gradients
    Mistake("net_no_relu_backprop", "backpropagate through the hidden layer as if there were no ReLU",
            "zero the gradient where the hidden pre-activation was <= 0 (dhidden[hidden <= 0] = 0)",
            ("W1", "b1"), _loss(mask=False)),
    Mistake("net_relu_mask_without_b1", "build the ReLU mask from X.dot(W1) without b1",
            "mask with the same pre-activation X.dot(W1) + b1 the forward pass used", ("W1", "b1"),
            _loss(mask_pre_bias=True)),
    Mistake("net_dW2_pre_relu", "use the hidden layer before the ReLU in dW2",
            "dW2 = hidden.T.dot(dscores) with hidden = np.maximum(0, X.dot(W1) + b1)", ("W2",),
            _loss(w2_pre_relu=True)),
    Mistake("net_dW2_transposed", "compute dW2 transposed (dscores.T.dot(hidden): it only has W2's shape because "
            "H == C)", "dW2 = hidden.T.dot(dscores), laid out like W2 (H, C)", ("W2",), _loss(w2_transposed=True),
            applies=lambda p, X, y, reg: p["W2"].shape[0] == p["W2"].shape[1]),
    Mistake("net_missing_onehot", "use the probabilities as dscores without subtracting 1 at the correct class",
            "dscores = probs; dscores[np.arange(N), y] -= 1", ("W1", "b1", "W2", "b2"), _loss(onehot=False)),
    Mistake("net_loss_not_averaged", "sum the data loss over the samples without dividing by N",
            "divide the summed cross-entropy by N", ("loss",), _loss(avg_loss=False)),
    Mistake("net_grads_not_averaged", "leave dscores undivided by N, so every data gradient is N times too large",
            "divide dscores by N (the loss is a mean over the samples)", ("W1", "b1", "W2", "b2"),
            _loss(avg_grad=False)),
    Mistake("net_not_averaged", "sum the data loss and the gradients over the samples without dividing by N",
            "divide the data loss and dscores by N", ("loss", "W1", "b1", "W2", "b2"),
            _loss(avg_loss=False, avg_grad=False)),
    Mistake("net_half_reg", "use the 2016 convention 0.5*reg*(sum(W1*W1) + sum(W2*W2)) (gradients reg*W)",
            "the 2017 assignment uses reg * (np.sum(W1 * W1) + np.sum(W2 * W2)) and gradients 2 * reg * W",
            ("loss", "W1", "W2"), _loss(reg_loss=0.5, reg_grad=1.0), applies=_has_reg),
    Mistake("net_no_reg_loss", "leave the regularisation term out of the loss",
            "add reg * (np.sum(W1 * W1) + np.sum(W2 * W2)) to the loss", ("loss",),
            lambda p, X, y, reg: (_net(p, X, y, reg, reg_loss=0.0)[0], _net(p, X, y, reg)[1]), applies=_has_reg),
    Mistake("net_no_reg_grad", "leave the regularisation gradients 2*reg*W1 and 2*reg*W2 out",
            "add 2 * reg * W1 and 2 * reg * W2 to the weight gradients", ("W1", "W2"),
            lambda p, X, y, reg: (_net(p, X, y, reg)[0], _net(p, X, y, reg, reg_grad=0.0)[1]), applies=_has_reg),
    Mistake("net_reg_grad_factor", "use reg*W as the regularisation gradient",
            "the derivative of reg * sum(W*W) is 2 * reg * W", ("W1", "W2"),
            lambda p, X, y, reg: (_net(p, X, y, reg)[0], _net(p, X, y, reg, reg_grad=1.0)[1]), applies=_has_reg),
    Mistake("net_reg_on_biases", "regularise the biases b1 and b2 as well as the weights",
            "only W1 and W2 enter reg * (sum(W1*W1) + sum(W2*W2)); biases are not regularised",
            ("loss", "b1", "b2"), _loss(reg_biases=True), applies=_has_reg),
    Mistake("net_reg_only_W1", "regularise only W1 (W2 is missing from the regularisation)",
            "the regularisation covers both weight matrices: reg * (sum(W1*W1) + sum(W2*W2))", ("loss", "W2"),
            _loss(reg_keys=("W1",)), applies=_has_reg),
    Mistake("net_reg_only_W2", "regularise only W2 (W1 is missing from the regularisation)",
            "the regularisation covers both weight matrices: reg * (sum(W1*W1) + sum(W2*W2))", ("loss", "W1"),
            _loss(reg_keys=("W2",)), applies=_has_reg),
    Mistake("net_reg_averaged", "divide the regularisation by N along with the data loss",
            "average only the data part; add reg * (sum(W1*W1) + sum(W2*W2)) afterwards",
            ("loss", "W1", "W2"), _loss(avg_reg=True), applies=_has_reg),
    Mistake("net_db2_averaged_twice", "take the mean of dscores over the samples for grads['b2'] (dscores is "
            "already divided by N)", "grads['b2'] = np.sum(dscores, axis=0)", ("b2",), _loss(bias_mean=("b2",))),
    Mistake("net_bias_grads_averaged_twice", "take the mean over the samples for both bias gradients (the upstream "
            "gradients are already divided by N)", "grads['b1'] = np.sum(dhidden, axis=0); grads['b2'] = "
            "np.sum(dscores, axis=0)", ("b1", "b2"), _loss(bias_mean=("b1", "b2"))),
    Mistake("net_divide_before_onehot", "divide the probabilities by N before subtracting 1 at the correct class "
            "(dscores = probs / N; dscores[range(N), y] -= 1)", "subtract 1 first, then divide all of dscores by N",
            ("W1", "b1", "W2", "b2"), _loss(divide_before_onehot=True)),
    Mistake("net_reg_norm", "regularise with the norms of W1 and W2 instead of their squared sums",
            "reg * (np.sum(W1 * W1) + np.sum(W2 * W2)): np.linalg.norm(W) is the square root of np.sum(W * W)",
            ("loss",), lambda p, X, y, reg: (_net(p, X, y, reg, reg_norm=True)[0], _net(p, X, y, reg)[1]),
            applies=_has_reg),
    Mistake("net_b1_after_relu", "add b1 after the ReLU (hidden = np.maximum(0, X.dot(W1)) + b1, masked where "
            "that hidden is <= 0)", "add b1 before the ReLU: hidden = np.maximum(0, X.dot(W1) + b1), and mask the "
            "backward pass where X.dot(W1) + b1 <= 0", ("loss", "W1", "b1", "W2", "b2"),
            _loss(b1_after_relu="hidden")),
    Mistake("net_b1_after_relu_pre_mask", "add b1 after the ReLU (hidden = np.maximum(0, X.dot(W1)) + b1)",
            "add b1 before the ReLU: hidden = np.maximum(0, X.dot(W1) + b1), and mask the backward pass where "
            "X.dot(W1) + b1 <= 0", ("loss", "W1", "b1", "W2", "b2"), _loss(b1_after_relu="pre")),
    Mistake("net_loss_no_biases", "leave both biases out of the forward pass of the loss",
            "scores = np.maximum(0, X.dot(W1) + b1).dot(W2) + b2", ("loss", "W1", "b1", "W2", "b2"),
            _loss(b1=False, b2=False)),
]
