"""Checks for the two-layer net: ``TwoLayerNet(D, H, C, std)`` with ``loss``, ``train``, ``predict``.

The student's net lives in the sandbox; the checks create it there, set its
``params`` to values drawn here (non-zero biases, so bias bugs show), call its
methods and compare what comes back with the reference's pure functions
``forward_scores(params, X)`` and ``loss_and_grads(params, X, y, reg)``.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from worker.checks.compare import check_close, rel_error
from worker.checks.context import CheckFailed, Context, Outcome
from worker.checks.gradients import gradient_check
from worker.checks.hints import loss_hint, weight_gradient_hint
from worker.checks.values import expect_array, expect_float, expect_pair, type_name
from worker.sandbox.protocol import Ref

CLASS = "TwoLayerNet"
KEYS = ("W1", "b1", "W2", "b2")
WEIGHTS = ("W1", "W2")
SCORES_TOL = 1e-7
LOSS_TOL = 1e-8
GRAD_TOL = 1e-7
CONSISTENCY_TOL = 1e-5

# The notebook's toy problem and its published values.
TOY_SCORES = np.array([
    [-0.81233741, -1.27654624, -0.70335995],
    [-0.17129677, -1.18803311, -0.47310444],
    [-0.51590475, -1.01354314, -0.8504215],
    [-0.15419291, -0.48629638, -0.52901952],
    [-0.00618733, -0.12435261, -0.15226949],
])
TOY_LOSS = 1.30378789133
TOY_LOSS_HALF_REG = 1.28482247172
OVERFLOW_HINT = ("The exponentials overflow at large scores: subtract the max score of each row before np.exp "
                 "(the softmax does not change)")


def toy_data() -> tuple[np.ndarray, np.ndarray]:
    """``np.random.seed(1); X = 10 * np.random.randn(5, 4)`` as in the notebook."""
    X = 10 * np.random.RandomState(1).randn(5, 4)
    return X, np.array([0, 1, 2, 2, 1], dtype=np.int64)


def shapes(H: int, D: int, C: int) -> dict[str, tuple[int, ...]]:
    return {"W1": (D, H), "b1": (H,), "W2": (H, C), "b2": (C,)}


def random_problem(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Random sizes, weights of a realistic scale and non-zero biases."""
    n, d, h, c = (int(rng.integers(8, 30)), int(rng.integers(4, 20)), int(rng.integers(5, 25)),
                  int(rng.integers(3, 8)))
    params = {
        "W1": rng.standard_normal((d, h)) / math.sqrt(d),
        "b1": 0.5 * rng.standard_normal(h),
        "W2": rng.standard_normal((h, c)) / math.sqrt(h),
        "b2": 0.5 * rng.standard_normal(c),
    }
    X = rng.standard_normal((n, d))
    y = rng.integers(0, c, size=n).astype(np.int64)
    return params, X, y


def _shape_text(params: dict[str, np.ndarray], X: np.ndarray) -> str:
    return f"N={X.shape[0]}, D={X.shape[1]}, H={params['W1'].shape[1]}, C={params['W2'].shape[1]}"


# --------------------------------------------------------------------------- talking to the student's net


def new_net(ctx: Context, name: str, params: dict[str, np.ndarray], std: float = 1e-4) -> None:
    """Create a ``TwoLayerNet`` of matching size in the sandbox and give it ``params``."""
    d, h = params["W1"].shape
    c = params["W2"].shape[1]
    ctx.student.seed(ctx.seed_int())
    ctx.student.new(name, CLASS, d, h, c, std=std, module=ctx.module)
    for key in KEYS:
        ctx.student.setitem(name, "params", key, params[key])


def net_scores(ctx: Context, name: str, X: np.ndarray) -> np.ndarray:
    value = ctx.student.call_method(name, "loss", X, label=f"{CLASS}.loss")
    if isinstance(value, tuple):
        raise CheckFailed(f"{CLASS}.loss(X) without y should return the scores array, but it returned "
                          f"{type_name(value)}")
    if not isinstance(value, np.ndarray) or value.ndim != 2 or value.shape[0] != X.shape[0]:
        raise CheckFailed(f"{CLASS}.loss(X) without y should return scores of shape (N, C) = ({X.shape[0]}, C), "
                          f"but it returned {type_name(value)}")
    return expect_array(value, f"the scores returned by {CLASS}.loss(X)", value.shape)


def net_loss(ctx: Context, name: str, X: np.ndarray, y: np.ndarray, reg: float,
             grad_shapes: dict[str, tuple[int, ...]], *, finite: bool = True, hint: str | None = None,
             strict: bool = False, need_grads: bool = True) -> tuple[float, dict[str, np.ndarray]]:
    """``net.loss(X, y, reg=reg)`` validated.

    ``strict`` demands exactly the keys and shapes of params (the test that is about them); otherwise
    extra keys are ignored and a bias gradient with the right number of entries is reshaped, so that
    one mistake is reported by one test instead of failing every test that needs the values.
    """
    value = ctx.student.call_method(name, "loss", X, y, reg=reg, label=f"{CLASS}.loss")
    loss, grads = expect_pair(value, f"{CLASS}.loss(X, y)", "loss", "grads")
    loss = expect_float(loss, f"the loss returned by {CLASS}.loss", finite=finite, hint=hint)
    if not need_grads:
        return loss, {}
    if not isinstance(grads, dict):
        raise CheckFailed(f"grads returned by {CLASS}.loss should be a dict with keys W1, b1, W2, b2, but it is "
                          f"{type_name(grads)}")
    keys = set(grads)
    missing = sorted(set(KEYS) - keys)
    extra = sorted(str(k) for k in keys - set(KEYS))
    if missing or (strict and extra):
        parts = []
        if missing:
            parts.append(f"missing key{'s' if len(missing) > 1 else ''} {', '.join(missing)}")
        if extra:
            parts.append(f"extra key{'s' if len(extra) > 1 else ''} {', '.join(repr(k) for k in extra)}")
        raise CheckFailed(f"grads returned by {CLASS}.loss has {' and '.join(parts)}",
                          hint="grads must have exactly the keys of self.params (W1, b1, W2, b2): the training "
                               "loop updates params[key] with grads[key] for every key",
                          details={"keys": sorted(str(k) for k in keys)})
    out = {}
    for key in KEYS:
        shape = grad_shapes[key]
        value = grads[key]
        if (not strict and isinstance(value, np.ndarray) and value.shape != shape
                and value.size == int(np.prod(shape))):
            value = value.reshape(shape)
        hint_shape = (f"grads['{key}'] must have the shape of params['{key}'] {shape}; a bias gradient summed "
                      "with keepdims=True has shape (1, H)") if key.startswith("b") else None
        out[key] = expect_array(value, f"grads['{key}']", shape, finite=finite,
                                hint=hint_shape or hint).astype(np.float64)
    return loss, out


def _reg_term(params: dict[str, np.ndarray]) -> float:
    return float(np.sum(params["W1"] ** 2) + np.sum(params["W2"] ** 2))


def _grads_without_relu_mask(params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, reg: float,
                             scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What W1 and b1 gradients look like when backprop skips the ReLU (to recognise that bug)."""
    n = X.shape[0]
    shifted = scores - scores.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    probs[np.arange(n), y] -= 1
    dhidden = (probs / n) @ params["W2"].T
    return X.T @ dhidden + 2 * reg * params["W1"], dhidden.sum(axis=0)


# --------------------------------------------------------------------------- toy values (public)


def toy_scores(ctx: Context) -> Outcome:
    """The notebook's toy net: ``seed(0); TwoLayerNet(4, 10, 3, std=1e-1)`` and its published scores."""
    X, _ = toy_data()
    ctx.student.seed(0)
    ctx.student.new("toy", CLASS, 4, 10, 3, std=1e-1, module=ctx.module)
    scores = net_scores(ctx, "toy", X)
    scores = expect_array(scores, f"the scores returned by {CLASS}.loss(X)", (5, 3))
    diff = float(np.sum(np.abs(scores - TOY_SCORES)))
    if diff > 1e-7:
        check_close("toy scores (the notebook's values, printed to 8 decimals)", scores, TOY_SCORES, 1e-6,
                    axis_names=("sample", "class"), param="scores")
    return Outcome(f"toy scores match the notebook (sum of absolute differences {diff:.2e} < 1e-7)",
                   {"error": diff, "tolerance": 1e-7})


def toy_loss(ctx: Context) -> Outcome:
    X, y = toy_data()
    ctx.student.seed(0)
    ctx.student.new("toy", CLASS, 4, 10, 3, std=1e-1, module=ctx.module)
    loss, _ = net_loss(ctx, "toy", X, y, 0.05, shapes(10, 4, 3), finite=False, need_grads=False)
    if abs(loss - TOY_LOSS) > 1e-10:
        hint = None
        if abs(loss - TOY_LOSS_HALF_REG) < 1e-9:
            hint = ("Your loss is the notebook's 0.5*reg value (1.28482247172): the 2017 assignment uses "
                    "reg * (sum(W1*W1) + sum(W2*W2)), without the 0.5")
        raise CheckFailed(f"{CLASS}.loss on the toy data at reg = 0.05 returned {loss!r}; the notebook's value is "
                          f"{TOY_LOSS} (difference {abs(loss - TOY_LOSS):.3e} > 1e-10)", hint=hint,
                          details={"student": loss, "expected": TOY_LOSS, "tolerance": 1e-10})
    return Outcome(f"toy loss {loss:.11f} matches the notebook's {TOY_LOSS}")


# --------------------------------------------------------------------------- against the reference


def scores_reference(ctx: Context) -> Outcome:
    """Scores with non-zero biases on random sizes (the toy net's biases are zero and hide bias bugs)."""
    for _ in range(2):
        params, X, _ = random_problem(ctx.rng)
        new_net(ctx, "net", params)
        scores = net_scores(ctx, "net", X)
        expected = ctx.reference.forward_scores(params, X)
        expect_array(scores, f"the scores returned by {CLASS}.loss(X)", expected.shape)
        hint = None
        if rel_error(scores, expected) > SCORES_TOL:
            no_bias = dict(params, b1=np.zeros_like(params["b1"]), b2=np.zeros_like(params["b2"]))
            if rel_error(scores, ctx.reference.forward_scores(no_bias, X)) < SCORES_TOL:
                hint = "Your scores ignore the biases b1 and b2: add them (X.dot(W1) + b1, hidden.dot(W2) + b2)"
        check_close(f"{CLASS}.loss(X) scores ({_shape_text(params, X)}, non-zero biases)", scores, expected,
                    SCORES_TOL, hint=hint, axis_names=("sample", "class"), param="scores")
    return Outcome("scores match the reference with non-zero biases on 2 random sizes")


def loss_reference(ctx: Context) -> Outcome:
    for reg in (0.0, 1.0):
        params, X, y = random_problem(ctx.rng)
        new_net(ctx, "net", params)
        loss, _ = net_loss(ctx, "net", X, y, reg, {k: v.shape for k, v in params.items()}, finite=False,
                           need_grads=False)
        expected, _ = ctx.reference.loss_and_grads(params, X, y, reg)
        data_loss, _ = ctx.reference.loss_and_grads(params, X, y, 0.0)
        hint = loss_hint(loss, data_loss, _reg_term(params), reg, X.shape[0], per_sample_constant=None)
        bias_term = float(np.sum(params["b1"] ** 2) + np.sum(params["b2"] ** 2))
        if hint is None and reg and abs(loss - (expected + reg * bias_term)) < 1e-9 * abs(expected):
            hint = "The biases are regularised too: only W1 and W2 enter reg * (sum(W1*W1) + sum(W2*W2))"
        check_close(f"{CLASS}.loss at reg = {reg:g} ({_shape_text(params, X)}, non-zero biases)", loss,
                    float(expected), LOSS_TOL, hint=hint)
    return Outcome("loss matches the reference at reg = 0 and 1 with non-zero biases")


def _grads_vs_reference(ctx: Context, regs: tuple[float, ...]) -> Outcome:
    for reg in regs:
        params, X, y = random_problem(ctx.rng)
        new_net(ctx, "net", params)
        _, grads = net_loss(ctx, "net", X, y, reg, {k: v.shape for k, v in params.items()})
        _, expected = ctx.reference.loss_and_grads(params, X, y, reg)
        _, data_grads = ctx.reference.loss_and_grads(params, X, y, 0.0)
        n = X.shape[0]
        for key in KEYS:
            axes = {"W1": ("input row", "hidden column"), "b1": ("hidden unit",), "W2": ("hidden row", "class column"),
                    "b2": ("class",)}[key]
            try:
                check_close(f"grads['{key}'] at reg = {reg:g} ({_shape_text(params, X)})", grads[key],
                            expected[key], GRAD_TOL, axis_names=axes, param=key)
            except CheckFailed as failure:
                failure.hint = _grad_hint(ctx, key, grads, expected, data_grads, params, X, y, reg, n)
                failure.details["reg"] = reg
                raise
    return Outcome(f"W1, b1, W2, b2 gradients match the reference at reg = {', '.join(f'{r:g}' for r in regs)} "
                   "with non-zero biases")


def _grad_hint(ctx: Context, key: str, grads: dict[str, np.ndarray], expected: dict[str, np.ndarray],
               data_grads: dict[str, np.ndarray], params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray,
               reg: float, n: int) -> str | None:
    student = grads[key]
    if key in WEIGHTS:
        hint = weight_gradient_hint(student, data_grads[key], params[key], reg, n, name=f"grads['{key}']", weight=key)
        if hint:
            return hint
    else:
        if reg and rel_error(student, expected[key] + 2 * reg * params[key]) < 1e-9:
            return f"grads['{key}'] includes 2*reg*{key}: the biases are not regularised"
        if rel_error(student, n * data_grads[key]) < 1e-9:
            return f"grads['{key}'] is N = {n} times too large: average over the samples (a factor of N)"
    if key in ("W1", "b1"):
        scores = ctx.reference.forward_scores(params, X)
        dW1, db1 = _grads_without_relu_mask(params, X, y, reg, scores)
        if rel_error(grads["W1"], dW1) < 1e-9 or rel_error(grads["b1"], db1) < 1e-9:
            return ("The gradient flows back through the hidden layer as if there were no ReLU: zero the "
                    "gradient where the hidden activation was <= 0 (dhidden[hidden <= 0] = 0)")
        if all(rel_error(grads[k], expected[k]) < GRAD_TOL for k in ("W2", "b2")):
            return "W2 and b2 are right, so the error is in backpropagating from the hidden layer to W1 and b1"
    return None


def grads_reference_noreg(ctx: Context) -> Outcome:
    return _grads_vs_reference(ctx, (0.0,))


def grads_reference_reg(ctx: Context) -> Outcome:
    return _grads_vs_reference(ctx, (0.05, 1.0))


# --------------------------------------------------------------------------- reference-free (public)


def grads_keys_shapes(ctx: Context) -> Outcome:
    params, X, y = random_problem(ctx.rng)
    new_net(ctx, "net", params)
    net_loss(ctx, "net", X, y, 0.1, {k: v.shape for k, v in params.items()}, strict=True)
    return Outcome(f"grads has exactly the keys W1, b1, W2, b2 with the shapes of params ({_shape_text(params, X)})")


def grads_consistency(ctx: Context) -> Outcome:
    """Each gradient against central differences of the student's own loss."""
    params, X, y = random_problem(ctx.rng)
    reg = 0.5
    grad_shapes = {k: v.shape for k, v in params.items()}
    new_net(ctx, "net", params)
    _, grads = net_loss(ctx, "net", X, y, reg, grad_shapes)
    details: dict[str, Any] = {}
    for key in KEYS:
        def f(value: np.ndarray, key: str = key) -> float:
            ctx.student.setitem("net", "params", key, value)
            return net_loss(ctx, "net", X, y, reg, grad_shapes)[0]

        gc = gradient_check(f, params[key], grads[key], ctx.rng, coordinates=4, directions=2)
        ctx.student.setitem("net", "params", key, params[key])
        details[key] = gc.details()
        worst = gc.worst()
        if worst is not None and worst.rel_error > CONSISTENCY_TOL:
            where = f"{key}{list(worst.index)}" if worst.index else "a random direction"
            raise CheckFailed(f"grads['{key}'] disagrees with the numerical gradient of your own loss "
                              f"({_shape_text(params, X)}, reg = {reg:g}): relative error {worst.rel_error:.3e} > "
                              f"{CONSISTENCY_TOL:g} at {where}: analytic {worst.analytic:.6g}, numerical "
                              f"{worst.numeric:.6g}", details=details)
    return Outcome("every gradient matches central differences of your own loss", details)


def no_param_mutation(ctx: Context) -> Outcome:
    """``loss`` must change neither ``self.params`` nor ``X`` (reg > 0, where in-place updates show)."""
    params, X, y = random_problem(ctx.rng)
    new_net(ctx, "net", params)
    ctx.student.put("input_X", X)
    ctx.student.call_method("net", "loss", Ref("input_X"), y, reg=0.5, label=f"{CLASS}.loss", reply=False)
    after = ctx.student.get("net", "params", label=f"reading {CLASS}.params")
    changed = []
    if not isinstance(after, dict):
        raise CheckFailed(f"{CLASS}.params is {type_name(after)} after calling loss, not a dict")
    for key in KEYS:
        value = after.get(key)
        if not isinstance(value, np.ndarray) or value.shape != params[key].shape or not np.array_equal(value, params[key]):
            changed.append(f"params['{key}']")
    X_after = ctx.student.get("input_X")
    if not isinstance(X_after, np.ndarray) or not np.array_equal(X_after, X):
        changed.append("X")
    if changed:
        raise CheckFailed(f"{CLASS}.loss modified {', '.join(changed)} in place",
                          hint="loss must only compute: it modifies arrays it was given or self.params; the update "
                               "belongs in train",
                          details={"modified": changed})
    return Outcome("loss leaves params and X unchanged")


def stable_large_scores(ctx: Context) -> Outcome:
    """Adding 1000 to ``b2`` adds it to every score: loss and gradients must not change (reg = 0)."""
    params, X, y = random_problem(ctx.rng)
    grad_shapes = {k: v.shape for k, v in params.items()}
    new_net(ctx, "net", params)
    loss, grads = net_loss(ctx, "net", X, y, 0.0, grad_shapes)
    ctx.student.setitem("net", "params", "b2", params["b2"] + 1000.0)
    loss_s, grads_s = net_loss(ctx, "net", X, y, 0.0, grad_shapes, hint=OVERFLOW_HINT)
    hint = "The softmax loss does not change when a constant is added to every score; yours does"
    check_close("loss after adding 1000 to b2 (every score)", loss_s, loss, 1e-6, hint=hint)
    for key in KEYS:
        check_close(f"grads['{key}'] after adding 1000 to b2", grads_s[key], grads[key], 1e-6, hint=hint, param=key)
    return Outcome("loss and gradients are unchanged when 1000 is added to every score")


def predict_argmax(ctx: Context) -> Outcome:
    params, X, _ = random_problem(ctx.rng)
    new_net(ctx, "net", params)
    scores = net_scores(ctx, "net", X)
    pred = ctx.student.call_method("net", "predict", X, label=f"{CLASS}.predict")
    pred = expect_array(pred, f"{CLASS}.predict(X)", (X.shape[0],), kinds="iu")
    expected = np.argmax(scores, axis=1)
    wrong = np.flatnonzero(pred != expected)
    if wrong.size:
        i = int(wrong[0])
        raise CheckFailed(f"{CLASS}.predict(X) differs from argmax(scores, axis=1) for {wrong.size} of {X.shape[0]} "
                          f"samples; sample {i}: predicted {int(pred[i])}, argmax is {int(expected[i])}",
                          details={"wrong": int(wrong.size)})
    return Outcome(f"predict(X) equals argmax of the scores for all {X.shape[0]} samples")


# --------------------------------------------------------------------------- training


def _expect_history(value: Any, num_iters: int, epochs: int) -> dict[str, list[float]]:
    if not isinstance(value, dict):
        raise CheckFailed(f"{CLASS}.train should return a dict with loss_history, train_acc_history and "
                          f"val_acc_history, but it returned {type_name(value)}")
    out = {}
    for key in ("loss_history", "train_acc_history", "val_acc_history"):
        seq = value.get(key)
        if isinstance(seq, np.ndarray) and seq.ndim == 1:
            seq = list(seq)
        if not isinstance(seq, (list, tuple)):
            raise CheckFailed(f"train()['{key}'] should be a list, but it is {type_name(seq)}")
        try:
            out[key] = [expect_float(v, f"train()['{key}'] entry") for v in seq]
        except CheckFailed as exc:
            raise CheckFailed(f"{exc.message} (the history must hold one number per entry)") from None
    if len(out["loss_history"]) != num_iters:
        raise CheckFailed(f"train()['loss_history'] has {len(out['loss_history'])} entries for num_iters = "
                          f"{num_iters}; record the minibatch loss once per iteration")
    for key in ("train_acc_history", "val_acc_history"):
        if not (epochs - 1 <= len(out[key]) <= epochs + 1):
            raise CheckFailed(f"train()['{key}'] has {len(out[key])} entries; expected one per epoch "
                              f"(about {epochs} for these settings)")
        bad = [v for v in out[key] if not 0.0 <= v <= 1.0]
        if bad:
            raise CheckFailed(f"train()['{key}'] holds {bad[0]!r}, not an accuracy in [0, 1]")
    return out


def train_toy(ctx: Context) -> Outcome:
    """The notebook's toy training: final loss below 0.2 (the canonical run ends at 0.0171)."""
    X, y = toy_data()
    ctx.student.seed(0)
    ctx.student.new("toy", CLASS, 4, 10, 3, std=1e-1, module=ctx.module)
    stats = ctx.student.call_method("toy", "train", X, y, X, y, learning_rate=1e-1, reg=5e-6, num_iters=100,
                                    verbose=False, label=f"{CLASS}.train")
    hist = _expect_history(stats, 100, 100)
    final = hist["loss_history"][-1]
    if not final < 0.2:
        raise CheckFailed(f"after the notebook's toy training the final training loss is {final:.6g}; "
                          "it should be below 0.2 (the reference reaches 0.0171)",
                          details={"final_loss": final, "threshold": 0.2})
    return Outcome(f"final toy training loss {final:.6g} < 0.2", {"final_loss": final})


@lru_cache(maxsize=1)
def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits (1,797 images, 10 classes), scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.data.astype(np.float64) / 16.0, data.target.astype(np.int64)


DIGITS_SETTINGS: dict[str, Any] = dict(learning_rate=0.5, learning_rate_decay=0.95, reg=1e-3, num_iters=500,
                                       batch_size=100)
DIGITS_MIN_VAL_ACC = 0.85


def train_digits(ctx: Context) -> Outcome:
    """Train on a random split of the digits and check accuracy and histories."""
    X_all, y_all = digits()
    order = ctx.rng.permutation(len(y_all))
    train_idx, val_idx = order[:1400], order[1400:]
    mean = X_all[train_idx].mean(axis=0)
    X, y = X_all[train_idx] - mean, y_all[train_idx]
    Xv, yv = X_all[val_idx] - mean, y_all[val_idx]
    ctx.student.seed(ctx.seed_int())
    ctx.student.new("digits", CLASS, 64, 50, 10, std=1e-1, module=ctx.module)
    stats = ctx.student.call_method("digits", "train", X, y, Xv, yv, verbose=False, label=f"{CLASS}.train",
                                    **DIGITS_SETTINGS)
    iters, batch = DIGITS_SETTINGS["num_iters"], DIGITS_SETTINGS["batch_size"]
    epochs = math.ceil(iters / max(len(y) // batch, 1))
    hist = _expect_history(stats, iters, epochs)
    losses = np.array(hist["loss_history"])
    if not np.all(np.isfinite(losses)):
        raise CheckFailed("train()['loss_history'] contains NaN or infinite losses on the digits data")
    first, last = float(losses[:50].mean()), float(losses[-50:].mean())
    pred = ctx.student.call_method("digits", "predict", Xv, label=f"{CLASS}.predict")
    pred = expect_array(pred, f"{CLASS}.predict(X)", (len(yv),), kinds="iu")
    val_acc = float(np.mean(pred == yv))
    details = {"val_accuracy": val_acc, "required": DIGITS_MIN_VAL_ACC, "first_50_loss": first,
               "last_50_loss": last, "settings": DIGITS_SETTINGS}
    if not last < 0.5 * first:
        raise CheckFailed(f"training on the digits barely reduced the loss: mean of the first 50 iterations "
                          f"{first:.4g}, of the last 50 {last:.4g}", details=details)
    if val_acc < DIGITS_MIN_VAL_ACC:
        raise CheckFailed(f"after training on 1,400 digits, predict reaches {val_acc:.3f} validation accuracy; "
                          f"at least {DIGITS_MIN_VAL_ACC} expected (the reference reaches about 0.97)",
                          details=details)
    reported = hist["val_acc_history"][-1]
    return Outcome(f"validation accuracy {val_acc:.3f} on the digits (loss {first:.3f} -> {last:.3f}; last "
                   f"recorded val accuracy {reported:.3f})", details)


def train_lr_decay(ctx: Context) -> Outcome:
    """With ``learning_rate_decay=0`` the weights stop changing after the first epoch's decay.

    Two runs from the same initialisation and seed, of 2 and 3 epochs, must end with identical
    weights, whatever iteration of the epoch the decay happens at.
    """
    X_all, y_all = digits()
    idx = ctx.rng.permutation(len(y_all))[:200]
    X, y = X_all[idx] - X_all[idx].mean(axis=0), y_all[idx]
    batch = 50
    per_epoch = len(y) // batch
    seed = ctx.seed_int()
    finals = []
    for epochs in (2, 3):
        ctx.student.seed(seed)
        ctx.student.new("decay", CLASS, 64, 20, 10, std=1e-1, module=ctx.module)
        ctx.student.call_method("decay", "train", X, y, X, y, learning_rate=0.1, learning_rate_decay=0.0,
                                reg=1e-3, num_iters=epochs * per_epoch, batch_size=batch, verbose=False,
                                label=f"{CLASS}.train", reply=False)
        params = ctx.student.get("decay", "params", label=f"reading {CLASS}.params")
        if not isinstance(params, dict) or not all(isinstance(params.get(k), np.ndarray) for k in KEYS):
            raise CheckFailed(f"{CLASS}.params after train is not a dict of the four arrays")
        finals.append(params)
    moved = [k for k in KEYS if finals[0][k].shape != finals[1][k].shape or
             not np.allclose(finals[0][k], finals[1][k], rtol=1e-10, atol=1e-12)]
    if moved:
        raise CheckFailed("with learning_rate_decay = 0 the weights kept changing after the first epoch "
                          f"({', '.join(moved)} differ between 2 and 3 epochs of training)",
                          hint="Multiply learning_rate by learning_rate_decay once per epoch (when "
                               "it % iterations_per_epoch == 0)", details={"changed": moved})
    return Outcome("the learning rate decays once per epoch")
