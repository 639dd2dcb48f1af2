"""Catalogued mistakes of the multiclass SVM loss (trusted, never shipped to students).

Each entry is a small variant of ``reference.py``: the same maths with one mistake real students
make. When a check finds the student's loss or ``dW`` wrong, the grader runs every variant on the
very same inputs and names the ones that reproduce the student's numbers (worker/checks/diagnosis.py).
"""

import numpy as np

from worker.checks.diagnosis import Mistake, linear_regularisation_mistakes, pad_classes, with_reg


def _inputs(W, X, y):
    return np.asarray(W, np.float64), np.asarray(X, np.float64), np.asarray(y).astype(np.intp)


def _data(W, X, y, *, delta=1.0, skip_correct=True, mask_all=False, count_self=False, classes=None,
          tie_by_value=False, correct_sign=-1.0, last_sample_grad=False):
    """Data loss (mean over N) and its gradient, with the mistakes as switches."""
    W, X, y = _inputs(W, X, y)
    n = X.shape[0]
    rows = np.arange(n)
    scores = X.dot(W)
    if classes is not None:  # only the first `classes` columns take part
        scores = scores[:, :classes]
    correct = scores[rows, y][:, None]
    raw = scores - correct + delta
    margins = np.maximum(0.0, raw)
    if tie_by_value:
        margins[margins == delta] = 0.0  # "the correct class is the one whose margin is delta"
    elif skip_correct:
        margins[rows, y] = 0.0
    loss = margins.sum() / n
    if mask_all:
        coeff = (margins >= 0).astype(np.float64)
        coeff[rows, y] = 0.0
    else:
        coeff = (margins > 0).astype(np.float64)
    if count_self:
        coeff[rows, y] = 0.0
        coeff[rows, y] = -(coeff.sum(axis=1) + 1.0)
    elif tie_by_value:
        coeff[rows, y] = 0.0
        coeff[rows, y] = -coeff.sum(axis=1)
    else:
        # Counted or not, the correct class's own margin adds +X[i] and -X[i] to its column: they cancel.
        coeff[rows, y] = 0.0
        coeff[rows, y] = correct_sign * coeff.sum(axis=1)
    if last_sample_grad:
        coeff[:-1] = 0.0
    grad = X.T.dot(coeff) / n
    if classes is not None:
        grad = pad_classes(grad, W.shape[1])
    return float(loss), grad


_with_reg = with_reg


def _n(X):
    return np.asarray(X).shape[0]


MISTAKES = linear_regularisation_mistakes("svm", _data, "hinge losses") + [
    Mistake("svm_loss_over_classes", "average the margins over the classes of each sample (np.mean(margins, "
            "axis=1)) and sum over the samples, dividing by C instead of N",
            "the data loss is the sum of the margins divided by the number of samples N", ("loss",),
            lambda W, X, y, reg: (_data(W, X, y)[0] * _n(X) / np.asarray(W).shape[1] + reg * float(np.sum(np.square(W))),
                                  _with_reg(_data(W, X, y), W, reg)[1]),
            applies=lambda W, X, y, reg: np.asarray(W).shape[1] != np.asarray(X).shape[0]),
    Mistake("svm_count_correct_class", "include the correct class j == y[i] in the sum of margins",
            "skip j == y[i]: the correct class's own margin is always delta = 1 and adds 1 to the loss",
            ("loss",),
            lambda W, X, y, reg: _with_reg(_data(W, X, y, skip_correct=False), W, reg)),
    Mistake("svm_count_self_in_grad", "subtract X[i] from the correct class once more than the number of "
            "positive margins (counting the correct class itself)",
            "the correct class's column gets -X[i] once per class j != y[i] with a positive margin", ("grad",),
            lambda W, X, y, reg: _with_reg(_data(W, X, y, count_self=True), W, reg)),
    Mistake("svm_mask_all_classes", "count every class in dW with a mask margins >= 0 (after np.maximum every "
            "margin is >= 0)", "only classes with a positive margin (margins > 0) contribute to dW", ("grad",),
            lambda W, X, y, reg: (_with_reg(_data(W, X, y), W, reg)[0],
                                  _with_reg(_data(W, X, y, mask_all=True), W, reg)[1])),
    Mistake("svm_grad_sign", "get the sign of the data part of dW backwards (+X[i] for the correct class)",
            "a positive margin adds +X[i] to column j and -X[i] to the correct class's column", ("grad",),
            lambda W, X, y, reg: (_with_reg(_data(W, X, y), W, reg)[0],
                                  -_data(W, X, y)[1] + 2.0 * reg * np.asarray(W, np.float64))),
    Mistake("svm_correct_column_sign", "add +X[i] to the correct class's column instead of subtracting it",
            "each positive margin adds +X[i] to column j and -X[i] to column y[i]", ("grad",),
            lambda W, X, y, reg: (_with_reg(_data(W, X, y), W, reg)[0],
                                  _with_reg(_data(W, X, y, correct_sign=1.0), W, reg)[1])),
    Mistake("svm_grad_last_sample", "build dW from the last sample only (the gradient update sits outside the loop "
            "over samples)", "accumulate every sample's contribution to dW inside the loop over i", ("grad",),
            lambda W, X, y, reg: (_with_reg(_data(W, X, y), W, reg)[0],
                                  _with_reg(_data(W, X, y, last_sample_grad=True), W, reg)[1]),
            applies=lambda W, X, y, reg: np.asarray(X).shape[0] > 1),
    Mistake("svm_no_delta", "leave out the margin delta = 1 (max(0, s_j - s_y))",
            "the margin is max(0, s_j - s_y + 1)", ("loss", "grad"),
            lambda W, X, y, reg: _with_reg(_data(W, X, y, delta=0.0), W, reg)),
    Mistake("svm_classes_from_y", "take the number of classes from the labels (np.max(y) + 1 or "
            "len(np.unique(y))) instead of W.shape[1]",
            "use num_classes = W.shape[1]: a minibatch need not contain every class, and classes absent "
            "from y still have scores and margins", ("loss", "grad"),
            lambda W, X, y, reg: _with_reg(_data(W, X, y, classes=int(np.max(y)) + 1), W, reg),
            applies=lambda W, X, y, reg: int(np.max(y)) + 1 < np.asarray(W).shape[1]),
    Mistake("svm_correct_class_by_value", "find the correct class by its value (margins == 1) instead of "
            "by its index y[i]", "zero the correct class with margins[np.arange(N), y] = 0: another class "
            "whose score ties with the correct one also has a margin of exactly 1", ("loss", "grad"),
            lambda W, X, y, reg: _with_reg(_data(W, X, y, tie_by_value=True), W, reg)),
    Mistake("svm_grad_transposed", "compute dW transposed (it only has W's shape because D == C)",
            "dW has W's layout (D, C): dW = X.T.dot(coeff), feature rows and class columns", ("grad",),
            lambda W, X, y, reg: (_with_reg(_data(W, X, y), W, reg)[0],
                                  _with_reg(_data(W, X, y), W, reg)[1].T.copy()),
            applies=lambda W, X, y, reg: np.asarray(W).shape[0] == np.asarray(W).shape[1]),
]


def _coeff_grad(X, coeff, n):
    return np.asarray(X, np.float64).T.dot(coeff) / n


def _active(W, X, y):
    """Scores, the hinge margins with the correct class zeroed, and the row indices."""
    W, X, y = _inputs(W, X, y)
    rows = np.arange(X.shape[0])
    scores = X.dot(W)
    margins = np.maximum(0.0, scores - scores[rows, y][:, None] + 1.0)
    margins[rows, y] = 0.0
    return scores, margins, rows


def _with_correct_column(binary, rows, y):
    coeff = binary.astype(np.float64)
    coeff[rows, y] = 0.0
    coeff[rows, y] = -coeff.sum(axis=1)
    return coeff


def _hinge_shifted(W, X, y):
    """``diff = s_j - s_y; if diff > 0: loss += diff + 1`` (delta added after the test)."""
    W, X, y = _inputs(W, X, y)
    scores, _, rows = _active(W, X, y)
    diff = scores - scores[rows, y][:, None]
    on = diff > 0
    on[rows, y] = False
    n = X.shape[0]
    return float(np.sum((diff + 1.0)[on])) / n, _coeff_grad(X, _with_correct_column(on, rows, y), n)


def _last_class_skipped(W, X, y):
    """``for j in range(num_classes - 1)``: class C - 1 is never a competing class."""
    W, X, y = _inputs(W, X, y)
    _, margins, rows = _active(W, X, y)
    margins[:, -1] = 0.0
    n = X.shape[0]
    return float(margins.sum()) / n, _coeff_grad(X, _with_correct_column(margins > 0, rows, y), n)


def _zero_label_columns(W, X, y):
    """``margins[:, y] = 0``: every column that is some sample's label is zeroed for every sample."""
    W, X, y = _inputs(W, X, y)
    scores, _, rows = _active(W, X, y)
    margins = np.maximum(0.0, scores - scores[rows, y][:, None] + 1.0)
    margins[:, y] = 0.0
    n = X.shape[0]
    return float(margins.sum()) / n, _coeff_grad(X, _with_correct_column(margins > 0, rows, y), n)


def _fancy_duplicates_grad(W, X, y):
    """``dW[:, y] -= X.T * counts``: a repeated label keeps one sample's update (NumPy's buffered fancy indexing)."""
    W, X, y = _inputs(W, X, y)
    _, margins, _ = _active(W, X, y)
    binary = (margins > 0).astype(np.float64)
    dW = X.T.dot(binary)
    dW[:, y] -= X.T * binary.sum(axis=1)
    return dW / X.shape[0]


def _assign_not_add_grad(W, X, y):
    """The naive loop with ``dW[:, j] = X[i]`` where it should add (``dW[:, y[i]] -= X[i]`` kept)."""
    W, X, y = _inputs(W, X, y)
    n, c = X.shape[0], W.shape[1]
    scores = X.dot(W)
    dW = np.zeros(W.shape)
    for i in range(n):
        for j in range(c):
            if j != y[i] and scores[i, j] - scores[i, y[i]] + 1.0 > 0:
                dW[:, j] = X[i]
                dW[:, y[i]] -= X[i]
    return dW / n


def _ok(W, X, y, reg):
    return _with_reg(_data(W, X, y), W, reg)


def _reg_grad(W, reg):
    return 2.0 * reg * np.asarray(W, np.float64)


MISTAKES += [
    Mistake("svm_grad_mask_threshold", "count a class in dW only when s_j - s_y > 0 (a mask margins > 1, or delta "
            "left out of the test)", "a class contributes to dW whenever its margin s_j - s_y + 1 is positive: "
            "the mask is margins > 0", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _data(W, X, y, delta=0.0)[1] + _reg_grad(W, reg))),
    Mistake("svm_hinge_shifted", "test s_j - s_y > 0 and then add s_j - s_y + 1 (delta added after the test)",
            "the hinge is max(0, s_j - s_y + 1): compute the margin with delta first, then test margin > 0",
            ("loss", "grad"), lambda W, X, y, reg: _with_reg(_hinge_shifted(W, X, y), W, reg)),
    Mistake("svm_loss_mean_all", "take np.mean of the whole (N, C) margins matrix (dividing by N * C)",
            "the data loss is the sum of the margins divided by N only: np.sum(margins) / num_train", ("loss",),
            lambda W, X, y, reg: (_data(W, X, y)[0] / np.asarray(W).shape[1] + reg * float(np.sum(np.square(W))),
                                  _ok(W, X, y, reg)[1])),
    Mistake("svm_last_class_skipped", "loop over range(num_classes - 1), so the last class is never counted",
            "loop over every class: for j in range(num_classes), skipping only j == y[i]", ("loss", "grad"),
            lambda W, X, y, reg: _with_reg(_last_class_skipped(W, X, y), W, reg)),
    Mistake("svm_loss_counts_violations", "compute the loss from the 0/1 mask (margins turned into 1 where positive "
            "before they are summed), so the loss counts the violations", "sum the margins themselves for the loss, "
            "and build the 0/1 mask for dW in a separate array (binary = (margins > 0).astype(float))", ("loss",),
            lambda W, X, y, reg: (float(np.count_nonzero(_active(W, X, y)[1] > 0)) / _n(X)
                                  + reg * float(np.sum(np.square(W))), _ok(W, X, y, reg)[1])),
    Mistake("svm_zero_label_columns", "zero margins[:, y], whole columns (every class that is some sample's label, "
            "for every sample), instead of margins[np.arange(N), y]", "zero only each sample's own correct class: "
            "margins[np.arange(num_train), y] = 0", ("loss", "grad"),
            lambda W, X, y, reg: _with_reg(_zero_label_columns(W, X, y), W, reg)),
    Mistake("svm_fancy_index_duplicates", "update the correct classes' columns with fancy indexing (dW[:, y] -= ...): "
            "with a label repeated in y only one of its samples is counted", "accumulate repeated indices with "
            "np.add.at, or build the coefficient matrix and take X.T.dot(coeff)", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _fancy_duplicates_grad(W, X, y) + _reg_grad(W, reg)),
            applies=lambda W, X, y, reg: len(np.unique(y)) < len(y)),
    Mistake("svm_assign_not_add", "write dW[:, j] = X[i] (assignment) where each positive margin should add X[i]",
            "accumulate: dW[:, j] += X[i] (and dW[:, y[i]] -= X[i])", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _assign_not_add_grad(W, X, y) + _reg_grad(W, reg))),
]


def _bool_mask_grad(W, X, y):
    """``mask = margins > 0`` (a bool array) and then ``mask[rows, y] = -counts``: a negative count stored in a
    bool array becomes True, so the correct class gets +1 (or 0 when no margin is positive) instead of -count."""
    W, X, y = _inputs(W, X, y)
    _, margins, rows = _active(W, X, y)
    mask = margins > 0
    mask[rows, y] = -mask.sum(axis=1)
    return _coeff_grad(X, mask.astype(np.float64), X.shape[0])


def _correct_every_j_grad(W, X, y):
    """``dW[:, y[i]] -= X[i]`` outside the ``if margin > 0``: the correct column loses X[i] for every other class."""
    W, X, y = _inputs(W, X, y)
    _, margins, rows = _active(W, X, y)
    coeff = (margins > 0).astype(np.float64)
    coeff[rows, y] = -(W.shape[1] - 1.0)
    return _coeff_grad(X, coeff, X.shape[0])


MISTAKES += [
    Mistake("svm_grad_bool_mask", "build the mask as a boolean array (mask = margins > 0) and store -count at the "
            "correct class in it: a bool array turns -count into True, so the correct class gets +1 instead of "
            "-(number of classes with a positive margin)", "make the mask a float array first: "
            "binary = (margins > 0).astype(float), then binary[np.arange(N), y] = -binary.sum(axis=1)", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _bool_mask_grad(W, X, y) + _reg_grad(W, reg))),
    Mistake("svm_correct_column_every_j", "subtract X[i] from the correct class's column for every other class j, "
            "also when its margin is not positive (the line sits outside the if margin > 0)",
            "dW[:, y[i]] -= X[i] belongs inside the if, next to dW[:, j] += X[i]: the correct column gets -X[i] once "
            "per class with a positive margin", ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0], _correct_every_j_grad(W, X, y) + _reg_grad(W, reg))),
    Mistake("svm_correct_margins_minus_one", "keep the correct classes' margins (delta = 1 each) in the sum and subtract "
            "1 from the total instead of N (one per sample)", "zero the correct class's margin "
            "(margins[np.arange(N), y] = 0) before summing, or subtract N (one delta per sample), not 1", ("loss",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0] + (_n(X) - 1.0) / _n(X), _ok(W, X, y, reg)[1]),
            applies=lambda W, X, y, reg: _n(X) > 1),
    Mistake("svm_delta_subtracted", "subtract delta instead of adding it (margins = s_j - s_y - 1)",
            "the margin is s_j - s_y + delta with delta = 1 (scores - correct_class_score + 1)", ("loss", "grad"),
            lambda W, X, y, reg: _with_reg(_data(W, X, y, delta=-1.0), W, reg)),
    Mistake("svm_reg_grad_abs", "use 2 * reg * np.abs(W) as the regularisation gradient (the sign of the negative "
            "weights is lost)", "the derivative of reg * W**2 is 2 * reg * W, with W's own sign: no np.abs",
            ("grad",),
            lambda W, X, y, reg: (_ok(W, X, y, reg)[0],
                                  _data(W, X, y)[1] + 2.0 * reg * np.abs(np.asarray(W, np.float64)))),
]
