"""Catalogued mistakes of the 2021+ layers and TwoLayerNet (trusted, never shipped to students).

Kinds: "affine_backward" (x, w, b, dout) -> {dx, dw, db}; "relu_backward" (x, dout) -> {dx};
"svm_loss" and "softmax_loss" (x, y) -> {loss, dx}; "net_loss" (params, X, y, reg) -> (loss, grads).
"""

import numpy as np

from worker.checks.diagnosis import Mistake


def _affine(x, w, b, dout, *, db_axis=0, dw_transposed=False, db_mean=False):
    x2 = x.reshape(x.shape[0], -1)
    dw = x2.T.dot(dout)
    return {"dx": dout.dot(w.T).reshape(x.shape), "dw": dw.T.copy() if dw_transposed else dw,
            "db": dout.mean(axis=0) if db_mean else dout.sum(axis=db_axis)}


def _svm(x, y, *, skip_correct=True, avg_loss=True, avg_grad=True, mask_all=False):
    n = x.shape[0]
    rows = np.arange(n)
    margins = np.maximum(0.0, x - x[rows, y][:, None] + 1.0)
    if skip_correct:
        margins[rows, y] = 0.0
    loss = margins.sum() / (n if avg_loss else 1)
    pos = (margins >= 0 if mask_all else margins > 0).astype(np.float64)
    pos[rows, y] = 0.0
    pos[rows, y] = -pos.sum(axis=1)
    return {"loss": float(loss), "dx": pos / (n if avg_grad else 1)}


def _softmax(x, y, *, onehot=True, avg_loss=True, avg_grad=True, norm_axis=1, dx_by_classes=False):
    n = x.shape[0]
    rows = np.arange(n)
    shifted = x - x.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    probs = e / e.sum(axis=norm_axis, keepdims=True)
    loss = -np.sum(np.log(probs[rows, y])) / (n if avg_loss else 1)
    dx = probs.copy()
    if onehot:
        dx[rows, y] -= 1.0
    if dx_by_classes:
        return {"loss": float(loss), "dx": dx / x.shape[1]}
    return {"loss": float(loss), "dx": dx / (n if avg_grad else 1)}


def _net(params, X, y, reg, *, reg_loss=0.5, reg_grad=1.0, reg_biases=False, mask=True, w2_pre_relu=False,
         reg_keys=("W1", "W2"), relu_scores=False, w2_unscaled=False):
    W1, b1, W2, b2 = (np.asarray(params[k], np.float64) for k in ("W1", "b1", "W2", "b2"))
    X2 = X.reshape(X.shape[0], -1)
    pre = X2.dot(W1) + b1
    hidden = np.maximum(0.0, pre)
    scores_pre = hidden.dot(W2) + b2
    scores = np.maximum(0.0, scores_pre) if relu_scores else scores_pre
    n = X.shape[0]
    rows = np.arange(n)
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(shifted)
    probs = e / e.sum(axis=1, keepdims=True)
    keys = tuple(reg_keys) + (("b1", "b2") if reg_biases else ())
    weights = {"W1": W1, "b1": b1, "W2": W2, "b2": b2}
    loss = -np.sum(np.log(probs[rows, y])) / n + reg_loss * reg * sum(float(np.sum(weights[k] ** 2)) for k in keys)
    if w2_unscaled:  # 0.5 * reg * np.sum(W1 * W1) + np.sum(W2 * W2): the W2 term outside the product
        loss += float(np.sum(W2 ** 2)) - reg_loss * reg * float(np.sum(W2 ** 2))
    dscores = probs.copy()
    dscores[rows, y] -= 1.0
    dscores /= n
    if relu_scores:
        dscores = dscores * (scores_pre > 0)
    dhidden = dscores.dot(W2.T)
    if mask:
        dhidden = dhidden * (pre > 0)
    grads = {"W1": X2.T.dot(dhidden), "b1": dhidden.sum(axis=0),
             "W2": (pre if w2_pre_relu else hidden).T.dot(dscores), "b2": dscores.sum(axis=0)}
    for k in keys:
        grads[k] = grads[k] + reg_grad * reg * weights[k]
    return float(loss), grads


def _reg(params, X, y, reg):
    return reg != 0


MISTAKES = [
    Mistake("affine_db_wrong_axis", "sum dout over the outputs (axis=1) instead of over the samples",
            "db = np.sum(dout, axis=0): the bias is shared by every sample", ("db",),
            lambda x, w, b, dout: _affine(x, w, b, dout, db_axis=1), kind="affine_backward",
            applies=lambda x, w, b, dout: dout.shape[0] == dout.shape[1]),
    Mistake("affine_db_mean", "average dout over the samples for db instead of summing it",
            "db = np.sum(dout, axis=0): the upstream gradient already carries the 1/N of the loss", ("db",),
            lambda x, w, b, dout: _affine(x, w, b, dout, db_mean=True), kind="affine_backward"),
    Mistake("affine_dw_transposed", "compute dw transposed (it only has w's shape because D == M)",
            "dw = x.reshape(N, -1).T.dot(dout), shaped like w (D, M)", ("dw",),
            lambda x, w, b, dout: _affine(x, w, b, dout, dw_transposed=True), kind="affine_backward",
            applies=lambda x, w, b, dout: w.shape[0] == w.shape[1]),
    Mistake("relu_backward_dout_mask", "mask the gradient where the upstream gradient is positive (dout > 0) "
            "instead of where the input was", "dx = dout * (x > 0), with x the input kept in the cache", ("dx",),
            lambda x, dout: {"dx": dout * (dout > 0)}, kind="relu_backward"),
    Mistake("relu_backward_times_x", "multiply dout by the input x instead of by its mask (x > 0)",
            "the ReLU's local gradient is 1 where x > 0 and 0 elsewhere: dx = dout * (x > 0)", ("dx",),
            lambda x, dout: {"dx": dout * x}, kind="relu_backward"),
    Mistake("relu_backward_no_dout", "return the mask (x > 0) without multiplying it by dout",
            "chain rule: dx = dout * (x > 0)", ("dx",), lambda x, dout: {"dx": (x > 0).astype(float)},
            kind="relu_backward"),
    Mistake("svm_count_correct", "include the correct class's own margin (always 1) in the loss",
            "zero the margin of the correct class: margins[np.arange(N), y] = 0", ("loss",),
            lambda x, y: _svm(x, y, skip_correct=False), kind="svm_loss"),
    Mistake("svm_not_averaged", "sum the loss and dx over the samples without dividing by N",
            "divide the loss and dx by N", ("loss", "dx"), lambda x, y: _svm(x, y, avg_loss=False, avg_grad=False),
            kind="svm_loss"),
    Mistake("svm_dx_not_averaged", "leave dx undivided by N", "divide dx by N, as the loss is", ("dx",),
            lambda x, y: _svm(x, y, avg_grad=False), kind="svm_loss"),
    Mistake("svm_mask_all", "count every class in dx with margins >= 0 (after np.maximum every margin is >= 0)",
            "only classes with a positive margin contribute: margins > 0", ("dx",),
            lambda x, y: _svm(x, y, mask_all=True), kind="svm_loss"),
    Mistake("softmax_missing_onehot", "use the probabilities as dx without subtracting 1 at the correct class",
            "dx = probs; dx[np.arange(N), y] -= 1; dx /= N", ("dx",), lambda x, y: _softmax(x, y, onehot=False),
            kind="softmax_loss"),
    Mistake("softmax_not_averaged", "sum the loss and dx over the samples without dividing by N",
            "divide the loss and dx by N", ("loss", "dx"),
            lambda x, y: _softmax(x, y, avg_loss=False, avg_grad=False), kind="softmax_loss"),
    Mistake("softmax_dx_not_averaged", "leave dx undivided by N", "divide dx by N, as the loss is", ("dx",),
            lambda x, y: _softmax(x, y, avg_grad=False), kind="softmax_loss"),
    Mistake("softmax_normalise_axis0", "normalise the exponentials over the samples (axis=0)",
            "each row is a distribution over the classes: divide by the row sums (axis=1)", ("loss", "dx"),
            lambda x, y: _softmax(x, y, norm_axis=0), kind="softmax_loss"),
    Mistake("softmax_dx_by_classes", "divide dx by the number of classes C instead of the number of samples N",
            "dx /= N (x.shape[0]): the loss is a mean over the samples", ("dx",),
            lambda x, y: _softmax(x, y, dx_by_classes=True), kind="softmax_loss",
            applies=lambda x, y: x.shape[0] != x.shape[1]),
    Mistake("net_relu_on_scores", "put a ReLU on the output layer too (affine_relu_forward for both layers)",
            "the scores are the second affine layer's output without a ReLU: affine_forward, then affine_backward",
            ("loss", "W1", "b1", "W2", "b2"), lambda p, X, y, reg: _net(p, X, y, reg, relu_scores=True),
            kind="net_loss"),
    Mistake("net_reg_only_W1", "regularise only W1 (W2 is missing from the regularisation)",
            "0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2)), gradients reg * W1 and reg * W2", ("loss", "W2"),
            lambda p, X, y, reg: _net(p, X, y, reg, reg_keys=("W1",)), kind="net_loss", applies=_reg),
    Mistake("net_full_reg", "use reg * (sum(W1*W1) + sum(W2*W2)) with gradients 2 * reg * W (the 2017 convention)",
            "this edition's fc_net.py asks for 0.5 * reg * (sum(W1*W1) + sum(W2*W2)), gradients reg * W",
            ("loss", "W1", "W2"), lambda p, X, y, reg: _net(p, X, y, reg, reg_loss=1.0, reg_grad=2.0), kind="net_loss",
            applies=_reg),
    Mistake("net_reg_w2_unscaled", "add 0.5 * reg * np.sum(W1 * W1) + np.sum(W2 * W2): without parentheses the W2 "
            "term is not multiplied by 0.5 * reg (so the loss depends on W2's size even at reg = 0)",
            "put the two sums in parentheses: 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))", ("loss",),
            lambda p, X, y, reg: _net(p, X, y, reg, w2_unscaled=True), kind="net_loss"),
    Mistake("net_reg_ignored", "leave the regularisation out of both the loss and the gradients (they are those of "
            "reg = 0, whatever the net's reg)",
            "the net's regularisation strength is self.reg, which __init__ keeps from TwoLayerNet(..., reg=...): add "
            "0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2)) to the loss and self.reg * W1, self.reg * W2 to "
            "the gradients (loss(X, y) gets no reg argument)", ("loss", "W1", "W2"),
            lambda p, X, y, reg: _net(p, X, y, 0.0), kind="net_loss", applies=_reg),
    Mistake("net_reg_grad_double", "use 2 * reg * W as the regularisation gradient of 0.5 * reg * sum(W*W)",
            "the derivative of 0.5 * reg * sum(W*W) is reg * W", ("W1", "W2"),
            lambda p, X, y, reg: _net(p, X, y, reg, reg_grad=2.0), kind="net_loss", applies=_reg),
    Mistake("net_no_reg_grad", "leave the regularisation gradients reg * W1 and reg * W2 out",
            "add reg * W1 and reg * W2 to the weight gradients", ("W1", "W2"),
            lambda p, X, y, reg: _net(p, X, y, reg, reg_grad=0.0), kind="net_loss", applies=_reg),
    Mistake("net_no_reg_loss", "leave the regularisation term out of the loss",
            "add 0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2)) to the loss", ("loss",),
            lambda p, X, y, reg: _net(p, X, y, reg, reg_loss=0.0), kind="net_loss", applies=_reg),
    Mistake("net_reg_on_biases", "regularise the biases as well as the weights",
            "only W1 and W2 are regularised", ("loss", "b1", "b2"),
            lambda p, X, y, reg: _net(p, X, y, reg, reg_biases=True), kind="net_loss", applies=_reg),
    Mistake("net_no_relu_backprop", "backpropagate through the hidden layer as if there were no ReLU",
            "use affine_relu_backward (or relu_backward) for the first layer", ("W1", "b1"),
            lambda p, X, y, reg: _net(p, X, y, reg, mask=False), kind="net_loss"),
    Mistake("net_dW2_pre_relu", "use the hidden layer before the ReLU for dW2",
            "the second affine layer's input is the ReLU's output: keep affine_relu_forward's output and caches",
            ("W2",), lambda p, X, y, reg: _net(p, X, y, reg, w2_pre_relu=True), kind="net_loss"),
]
