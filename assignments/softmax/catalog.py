"""Catalogued mistakes of the softmax loss (trusted, never shipped to students).

Each entry is a small variant of ``reference.py`` with one mistake real students make; the grader
runs them on the inputs of a failed check and names those that reproduce the student's numbers
(worker/checks/diagnosis.py).
"""

import numpy as np

from worker.checks.diagnosis import Mistake, linear_regularisation_mistakes, pad_classes, with_reg


def _data(W, X, y, *, shift_axis=1, norm_axis=1, onehot=True, classes=None, loss_over_c=False, c_not_n=False,
          onehot_by_value=False, drop_probs=False, last_sample_grad=False):
    """Mean cross-entropy and its gradient, with the mistakes as switches."""
    W = np.asarray(W, np.float64)
    X = np.asarray(X, np.float64)
    y = np.asarray(y).astype(np.intp)
    n = X.shape[0]
    rows = np.arange(n)
    scores = X.dot(W)
    if classes is not None:
        scores = scores[:, :classes]
    scores = scores - np.max(scores, axis=shift_axis, keepdims=True)
    exp = np.exp(scores)
    probs = exp / np.sum(exp, axis=norm_axis, keepdims=True)
    loss = -np.sum(np.log(probs[rows, y])) / n
    if loss_over_c:
        loss /= scores.shape[1]
    if c_not_n:
        loss *= n / scores.shape[1]
    dscores = probs.copy()
    if onehot_by_value:
        dscores -= (scores == scores[rows, y][:, None]).astype(np.float64)
    elif onehot:
        dscores[rows, y] -= 1.0
    if drop_probs:
        dscores = np.zeros_like(probs)
        dscores[rows, y] = -1.0
    if last_sample_grad:
        dscores[:-1] = 0.0
    grad = X.T.dot(dscores) / n
    if classes is not None:
        grad = pad_classes(grad, W.shape[1])
    return float(loss), grad


_with_reg = with_reg


def _n(X):
    return np.asarray(X).shape[0]


def _ok(W, X, y, reg):
    return _with_reg(_data(W, X, y), W, reg)


MISTAKES = linear_regularisation_mistakes("softmax", _data, "cross-entropy") + [
    Mistake("softmax_loss_over_classes", "divide the data loss by C as well as by N (a mean over every "
            "entry of the scores)", "the data loss is the mean over samples of -log p[y_i]; do not divide by C",
            ("loss",),
            lambda W, X, y, reg: (_with_reg(_data(W, X, y, loss_over_c=True), W, reg)[0], _ok(W, X, y, reg)[1])),
    Mistake("softmax_loss_c_not_n", "average the per-sample losses over the classes (np.mean over a (N, C) "
            "matrix, axis=1) and sum over the samples, dividing by C instead of N",
            "the data loss is the sum of -log p[y_i] divided by the number of samples N", ("loss",),
            lambda W, X, y, reg: (_with_reg(_data(W, X, y, c_not_n=True), W, reg)[0], _ok(W, X, y, reg)[1]),
            applies=lambda W, X, y, reg: np.asarray(W).shape[1] != np.asarray(X).shape[0]),
    Mistake("softmax_onehot_by_value", "find the correct class by its score (scores == the correct score) instead "
            "of by its index, so classes tied with it also get -1", "subtract 1 at the correct class by index: "
            "dscores[np.arange(N), y] -= 1", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _with_reg(_data(W, X, y, onehot_by_value=True), W, reg)[1])),
    Mistake("softmax_grad_drops_probs", "keep only the -1 at the correct class in dscores and drop the "
            "probabilities", "dscores = probs with 1 subtracted at the correct class (p - onehot)", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _with_reg(_data(W, X, y, drop_probs=True), W, reg)[1])),
    Mistake("softmax_grad_last_sample", "build dW from the last sample only (the gradient update sits outside the "
            "loop over samples, or it assigns dW[:, j] = ... where it should add)", "accumulate every sample's "
            "contribution inside the loop over i: dW[:, j] += ...", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _with_reg(_data(W, X, y, last_sample_grad=True), W, reg)[1]),
            applies=lambda W, X, y, reg: np.asarray(X).shape[0] > 1),
    Mistake("softmax_missing_onehot", "use the probabilities as dscores without subtracting 1 at the correct "
            "class", "the gradient of -log p[y_i] with respect to the scores is p - onehot(y_i): subtract 1 "
            "at the correct class (dscores[np.arange(N), y] -= 1)", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _with_reg(_data(W, X, y, onehot=False), W, reg)[1])),
    Mistake("softmax_grad_sign", "get the sign of the data part of dW backwards (onehot - p instead of p - onehot)",
            "dW = X.T.dot(p - onehot) / N", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0],
                                  -_data(W, X, y)[1] + 2.0 * reg * np.asarray(W, np.float64))),
    Mistake("softmax_normalise_wrong_axis", "normalise the exponentials over the samples (axis=0) instead of "
            "over the classes", "each row is a distribution over the C classes: divide by "
            "np.sum(exp_scores, axis=1, keepdims=True)", ("loss", "grad"),
            lambda W, X, y, reg: _with_reg(_data(W, X, y, norm_axis=0), W, reg)),
    Mistake("softmax_shift_wrong_axis", "subtract the maximum of each class over the samples (axis=0) "
            "instead of each sample's maximum", "subtract np.max(scores, axis=1, keepdims=True): only a "
            "constant per row leaves the softmax unchanged", ("loss", "grad"),
            lambda W, X, y, reg: _with_reg(_data(W, X, y, shift_axis=0, norm_axis=1), W, reg)),
    Mistake("softmax_classes_from_y", "take the number of classes from the labels (np.max(y) + 1 or "
            "len(np.unique(y))) instead of W.shape[1]",
            "use num_classes = W.shape[1]: classes absent from a minibatch still take part in every softmax",
            ("loss", "grad"),
            lambda W, X, y, reg: _with_reg(_data(W, X, y, classes=int(np.max(y)) + 1), W, reg),
            applies=lambda W, X, y, reg: int(np.max(y)) + 1 < np.asarray(W).shape[1]),
    Mistake("softmax_grad_transposed", "compute dW transposed (it only has W's shape because D == C)",
            "dW has W's layout (D, C): dW = X.T.dot(dscores), feature rows and class columns", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _ok(W, X, y, reg)[1].T.copy()),
            applies=lambda W, X, y, reg: np.asarray(W).shape[0] == np.asarray(W).shape[1]),
]


def _probs(W, X, y):
    W = np.asarray(W, np.float64)
    X = np.asarray(X, np.float64)
    y = np.asarray(y).astype(np.intp)
    scores = X.dot(W)
    shifted = scores - np.max(scores, axis=1, keepdims=True)
    exp = np.exp(shifted)
    return X, y, np.arange(X.shape[0]), shifted, exp, exp / np.sum(exp, axis=1, keepdims=True)


def _grad_from(X, dscores, W, reg):
    return X.T.dot(dscores) / X.shape[0] + 2.0 * reg * np.asarray(W, np.float64)


def _loss_all_columns(W, X, y, reg):
    """``-np.sum(np.log(probs[:, y])) / N``: an (N, N) block, every sample's probability of every label."""
    X, y, _, _, _, probs = _probs(W, X, y)
    return -float(np.sum(np.log(probs[:, y]))) / X.shape[0] + reg * float(np.sum(np.square(W)))


def _onehot_columns_grad(W, X, y, reg):
    """``dscores[:, y] -= 1``: 1 subtracted in every column that is some sample's label, for every sample."""
    X, y, _, _, _, probs = _probs(W, X, y)
    dscores = probs.copy()
    dscores[:, y] -= 1.0
    return _grad_from(X, dscores, W, reg)


def _fancy_duplicates_grad(W, X, y, reg):
    """``dW[:, y] -= X.T``: a repeated label keeps one sample's update (NumPy's buffered fancy indexing)."""
    X, y, _, _, _, probs = _probs(W, X, y)
    dW = X.T.dot(probs)
    dW[:, y] -= X.T
    return dW / X.shape[0] + 2.0 * reg * np.asarray(W, np.float64)


def _onehot_per_class_grad(W, X, y, reg):
    """``dW[:, y[i]] -= X[i]`` inside the loop over classes: the correct class gets it C times."""
    X, y, rows, _, _, probs = _probs(W, X, y)
    dscores = probs.copy()
    dscores[rows, y] -= probs.shape[1]
    return _grad_from(X, dscores, W, reg)


def _unnormalised_grad(W, X, y, reg):
    """dscores from the exponentials of the shifted scores, never divided by their sum."""
    X, y, rows, _, exp, _ = _probs(W, X, y)
    dscores = exp.copy()
    dscores[rows, y] -= 1.0
    return _grad_from(X, dscores, W, reg)


def _through_max_grad(W, X, y, reg):
    """The max shift differentiated too: an extra -X[i] in the column of each row's maximum."""
    X, y, rows, shifted, _, probs = _probs(W, X, y)
    dscores = probs.copy()
    dscores[rows, y] -= 1.0
    dscores[rows, np.argmax(shifted, axis=1)] -= 1.0
    return _grad_from(X, dscores, W, reg)


MISTAKES += [
    Mistake("softmax_probs_all_columns", "index the probabilities with probs[:, y] (an (N, N) block: every sample's "
            "probability of every label) instead of probs[np.arange(N), y]", "pick one entry per sample: "
            "probs[np.arange(num_train), y]", ("loss",),
            lambda W, X, y, reg: (_loss_all_columns(W, X, y, reg), _ok(W, X, y, reg)[1]),
            applies=lambda W, X, y, reg: np.asarray(X).shape[0] > 1),
    Mistake("softmax_onehot_columns", "subtract 1 with dscores[:, y] -= 1 (whole columns: every class that is some "
            "sample's label, for every sample)", "subtract 1 at each sample's own class only: "
            "dscores[np.arange(num_train), y] -= 1", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _onehot_columns_grad(W, X, y, reg)),
            applies=lambda W, X, y, reg: np.asarray(X).shape[0] > 1),
    Mistake("softmax_fancy_index_duplicates", "subtract the correct classes' part with fancy indexing (dW[:, y] -= "
            "X.T): with a label repeated in y only one of its samples is counted", "accumulate repeated indices "
            "with np.add.at, or subtract a one-hot matrix: dW = X.T.dot(probs - onehot)", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _fancy_duplicates_grad(W, X, y, reg)),
            applies=lambda W, X, y, reg: len(np.unique(y)) < len(y)),
    Mistake("softmax_onehot_per_class", "subtract X[i] from the correct class's column once per class (inside the "
            "loop over j) instead of once per sample", "the correct class gets (p - 1) * X[i] once: "
            "dW[:, j] += (p[j] - (j == y[i])) * X[i]", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _onehot_per_class_grad(W, X, y, reg))),
    Mistake("softmax_grad_unnormalised", "use the exponentials np.exp(scores) for dscores without dividing them by "
            "their sum", "dscores are the probabilities: exp_scores / np.sum(exp_scores, axis=1, keepdims=True), "
            "minus 1 at the correct class", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _unnormalised_grad(W, X, y, reg))),
    Mistake("softmax_grad_through_max", "also differentiate the max shift (an extra -X[i] in the column of the row's "
            "largest score)", "the shift by the row maximum cancels in the softmax and has no gradient: "
            "dscores = probs - onehot", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _through_max_grad(W, X, y, reg))),
    Mistake("softmax_log_mean_exp", "normalise with np.mean of the exponentials instead of np.sum (the loss is off "
            "by log C)", "the softmax divides by the sum over classes: log-probabilities are "
            "scores - np.log(np.sum(np.exp(scores), axis=1, keepdims=True))", ("loss",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0] - float(np.log(np.asarray(W).shape[1])),
                                  _ok(W, X, y, reg)[1])),
]


def _correct_minus_one_grad(W, X, y, reg):
    """The correct class gets -1 instead of p_y - 1 (the other classes keep p_j): ``dW[:, y[i]] -= X[i]`` only."""
    X, y, rows, _, _, probs = _probs(W, X, y)
    dscores = probs.copy()
    dscores[rows, y] = -1.0
    return _grad_from(X, dscores, W, reg)


def _global_sum_grad(W, X, y, reg):
    """dscores from ``exp_scores / np.sum(exp_scores)``: divided by the sum over the whole matrix, not each row's."""
    X, y, rows, _, exp, _ = _probs(W, X, y)
    dscores = exp / np.sum(exp)
    dscores[rows, y] -= 1.0
    return _grad_from(X, dscores, W, reg)


def _mean_all_logprobs_loss(W, X, y, reg):
    """``np.mean(-np.log(probs))``: every class's -log p, averaged over the (N, C) matrix."""
    X, y, _, shifted, exp, _ = _probs(W, X, y)
    logp = shifted - np.log(np.sum(exp, axis=1, keepdims=True))
    return -float(np.mean(logp)) + reg * float(np.sum(np.square(W)))


def _row_max(W, X):
    return float(np.mean(np.max(np.asarray(X, np.float64).dot(np.asarray(W, np.float64)), axis=1)))


MISTAKES += [
    Mistake("softmax_grad_correct_minus_one", "give the correct class -X[i] (a coefficient of -1) instead of "
            "(p[y_i] - 1) * X[i]: its probability is left out", "the correct class's column gets "
            "(probs[y[i]] - 1) * X[i], the others probs[j] * X[i] (dscores = probs - onehot)", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _correct_minus_one_grad(W, X, y, reg))),
    Mistake("softmax_grad_global_sum", "divide the exponentials by np.sum(exp_scores) over the whole matrix (no "
            "axis) for the gradient", "each sample's probabilities are divided by its own row sum: "
            "np.sum(exp_scores, axis=1, keepdims=True)", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _global_sum_grad(W, X, y, reg)),
            applies=lambda W, X, y, reg: np.asarray(X).shape[0] > 1),
    Mistake("softmax_loss_mean_all_logprobs", "average -log p over every class of every sample (np.mean(-np.log("
            "probs))) instead of taking the correct class's only", "the data loss is the mean over samples of "
            "-log probs[i, y[i]]: -np.mean(np.log(probs[np.arange(N), y]))", ("loss",),
            lambda W, X, y, reg: (_mean_all_logprobs_loss(W, X, y, reg), _ok(W, X, y, reg)[1])),
    Mistake("softmax_lse_unshifted", "take -s_y from the shifted scores but the log-sum-exp of the raw (unshifted) "
            "scores (the loss is too large by the mean row maximum, and exp overflows at large scores)",
            "use the same scores on both sides: loss_i = -shifted[y_i] + log(sum(exp(shifted))), with shifted = "
            "scores - max(scores)", ("loss",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0] + _row_max(W, X), _ok(W, X, y, reg)[1])),
    Mistake("softmax_lse_max_not_added_back", "take -s_y from the raw scores but the log-sum-exp of the shifted "
            "scores without adding the max back (the loss is too small by the mean row maximum)",
            "use the same scores on both sides: loss_i = -shifted[y_i] + log(sum(exp(shifted))), or add the max "
            "back: log-sum-exp(s) = max(s) + log(sum(exp(s - max(s))))", ("loss",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0] - _row_max(W, X), _ok(W, X, y, reg)[1])),
    Mistake("softmax_reg_grad_abs", "use 2 * reg * np.abs(W) as the regularisation gradient (the sign of the "
            "negative weights is lost)", "the derivative of reg * W**2 is 2 * reg * W, with W's own sign: no np.abs",
            ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0],
                                  _data(W, X, y)[1] + 2.0 * reg * np.abs(np.asarray(W, np.float64)))),
]
