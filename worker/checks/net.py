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

from worker.checks.compare import check_close, fmt_pair, rel_error
from worker.checks.diagnosis import diagnose
from worker.checks.context import CheckFailed, Context, Outcome
from worker.checks.gradients import gradient_check
from worker.checks.hints import loss_hint, precision_hint, weight_gradient_hint
from worker.checks.layers import probabilities_hint
from worker.checks.values import expect_array, expect_float, expect_pair, type_name
from worker.sandbox import StudentCodeError
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


def random_problem(rng: np.random.Generator, *, n: int | None = None, d: int | None = None, h: int | None = None,
                   c: int | None = None) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Random sizes, weights of a realistic scale and non-zero biases."""
    n = n or int(rng.integers(8, 30))
    d = d or int(rng.integers(4, 20))
    h = h or int(rng.integers(5, 25))
    c = c or int(rng.integers(3, 8))
    params = {
        "W1": rng.standard_normal((d, h)) / math.sqrt(d),
        "b1": 0.5 * rng.standard_normal(h),
        "W2": rng.standard_normal((h, c)) / math.sqrt(h),
        "b2": 0.5 * rng.standard_normal(c),
    }
    X = rng.standard_normal((n, d))
    y = rng.integers(0, c, size=n).astype(np.int64)
    if n >= c:
        y[rng.permutation(n)[:c]] = np.arange(c)  # every class present (regimes without some are made apart)
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
    ctx.student.setitems(name, "params", {key: params[key] for key in KEYS})


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
    return check_loss_answer(value, grad_shapes, finite=finite, hint=hint, strict=strict, need_grads=need_grads)


def check_loss_answer(value: Any, grad_shapes: dict[str, tuple[int, ...]], *, finite: bool = True,
                      hint: str | None = None, strict: bool = False,
                      need_grads: bool = True) -> tuple[float, dict[str, np.ndarray]]:
    """``net_loss``'s validation of one answer of ``net.loss``."""
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
                    axis_names=("sample", "class"), param="scores", hint=_scores_hint(scores, TOY_SCORES))
    return Outcome(f"toy scores match the notebook (sum of absolute differences {diff:.2e} < 1e-7)",
                   {"error": diff, "tolerance": 1e-7})


def _precision_hint(student: Any, expected: Any, tol: float) -> str | None:
    """The net computed in float32 somewhere (a hidden layer, a cast)."""
    return precision_hint(student, expected, tol, " anywhere in the forward or backward pass")


def _scores_hint(scores: np.ndarray, expected: np.ndarray) -> str | None:
    """Scores that are the right ones transformed by a step of the softmax: its probabilities, or the row-max shift."""
    hint = probabilities_hint(scores, expected)
    if hint is None and scores.shape == expected.shape:
        shifted = expected - expected.max(axis=1, keepdims=True)
        if float(np.max(np.abs(scores - shifted))) < 1e-6 * max(1.0, float(np.max(np.abs(expected)))):
            hint = ("Your scores equal the right ones minus each row's maximum: loss(X) returns the scores after the "
                    "softmax's stability shift. Return the raw scores hidden.dot(W2) + b2 when y is None, and shift "
                    "a copy only inside the softmax (after the `if y is None: return scores`)")
    return hint or _precision_hint(scores, expected, 1e-7)


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


# --------------------------------------------------------------------------- input regimes


def net_regimes(rng: np.random.Generator) -> list[tuple[str, dict[str, np.ndarray], np.ndarray, np.ndarray]]:
    """Named problems that make the net's clauses observable (see worker/checks/regimes.py for the linear ones):
    typical sizes with non-zero biases; two classes; fewer samples than classes with the highest class
    absent; many hidden units dead (negative b1), where the ReLU mask matters most; N == H == C (square)."""
    out = []
    params, X, y = random_problem(rng)
    out.append(("non-zero biases", params, X, y))
    params, X, _ = random_problem(rng, c=2)
    out.append(("two classes (C = 2)", params, X, rng.integers(0, 2, size=X.shape[0]).astype(np.int64)))
    params, X, _ = random_problem(rng, c=int(rng.integers(6, 9)), n=int(rng.integers(2, 6)))
    c = params["W2"].shape[1]
    out.append(("fewer samples than classes (N < C), the highest class absent", params, X,
                rng.integers(0, c - 1, size=X.shape[0]).astype(np.int64)))
    params, X, y = random_problem(rng)
    params["b1"] = -np.abs(params["b1"]) - 0.3
    out.append(("many dead ReLUs (negative b1)", params, X, y))
    k = int(rng.integers(4, 8))
    params, X, y = random_problem(rng, n=k, d=k, h=k, c=k)
    out.append(("square: N == D == H == C", params, X, y))
    return out


NET_REGIME_HINTS = {
    "fewer samples than classes (N < C), the highest class absent":
        "It fails only when some classes do not appear in y: the number of classes is W2.shape[1], not "
        "max(y) + 1 or len(np.unique(y))",
    "two classes (C = 2)": "It fails only with two classes: something assumes C > 2",
    "square: N == D == H == C": "It fails only when N == D == H == C: an axis or a transpose is mixed up (the shapes "
                                "cannot tell them apart here)",
}


class _InRegime:
    """Turn an exception from the student's code into a failure that names the regime (and its usual cause)."""

    def __init__(self, name: str, params: dict[str, np.ndarray], X: np.ndarray):
        self.name, self.params, self.X = name, params, X

    def __enter__(self) -> "_InRegime":
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        if isinstance(exc, StudentCodeError):
            raise CheckFailed(f"{CLASS}.loss ({_shape_text(self.params, self.X)}; {self.name}): {exc}",
                              hint=NET_REGIME_HINTS.get(self.name), details={"exception": exc.exc_type,
                                                                             "regime": self.name}) from None
        return False


def _net_diagnose(ctx: Context, kind: str, args: tuple[Any, ...], student: dict[str, Any],
                  expected: dict[str, Any], failing: list[str], what: str) -> tuple[str | None, list[str]]:
    if not ctx.catalog:
        return None, []
    found = diagnose(ctx.catalog, f"{CLASS}.loss", kind, args, student, expected, failing)
    return found.hint(what), found.ids()


def _stage(grads: dict[str, np.ndarray], expected: dict[str, np.ndarray]) -> str | None:
    """Which stage of backprop is wrong, from which gradients are right."""
    wrong = [k for k in KEYS if rel_error(grads[k], expected[k]) > GRAD_TOL]
    if not wrong:
        return None
    if set(wrong) <= {"W1", "b1"}:
        return ("Where: grads['W2'] and grads['b2'] are right, so the scores, the softmax and dscores are right; "
                "the error is in backpropagating from the scores into the hidden layer (dhidden = dscores.dot(W2.T), "
                "the ReLU mask) or from there to W1 and b1.")
    if set(wrong) <= {"b1", "b2"}:
        return ("Where: the weight gradients are right and only the bias gradients are wrong: a bias gradient is "
                "the upstream gradient summed over the samples (axis 0).")
    if wrong == ["W2"]:
        return "Where: only grads['W2'] is wrong: it is hidden.T.dot(dscores), with hidden after the ReLU."
    if set(wrong) == set(KEYS):
        return ("Where: all four gradients are wrong, so the error is already in dscores (the gradient of the loss "
                "with respect to the scores: probs with 1 subtracted at the correct class, divided by N).")
    return None


# --------------------------------------------------------------------------- against the reference


def scores_reference(ctx: Context) -> Outcome:
    """Scores with non-zero biases on every regime (the toy net's biases are zero and hide bias bugs)."""
    for name, params, X, _ in net_regimes(ctx.rng):
        new_net(ctx, "net", params)
        with _InRegime(name, params, X):
            scores = net_scores(ctx, "net", X)
        expected = ctx.reference.forward_scores(params, X)
        expect_array(scores, f"the scores returned by {CLASS}.loss(X)", expected.shape)
        try:
            check_close(f"{CLASS}.loss(X) scores ({_shape_text(params, X)}; {name})", scores, expected,
                        SCORES_TOL, axis_names=("sample", "class"), param="scores")
        except CheckFailed as failure:
            failure.hint, ids = _net_diagnose(ctx, "scores", (params, X), {"scores": scores}, {"scores": expected},
                                              ["scores"], "scores")
            if failure.hint is None:
                failure.hint = _scores_hint(scores, expected)
            if ids:
                failure.details["mistakes"] = ids
            raise
    return Outcome("scores match the reference with non-zero biases in every input regime")


def loss_reference(ctx: Context) -> Outcome:
    for reg in (0.0, 1.0):
        for name, params, X, y in net_regimes(ctx.rng):
            new_net(ctx, "net", params)
            with _InRegime(name, params, X):
                loss, grads = net_loss(ctx, "net", X, y, reg, {k: v.shape for k, v in params.items()}, finite=False,
                                       need_grads=False)
            expected, exp_grads = ctx.reference.loss_and_grads(params, X, y, reg)
            try:
                check_close(f"{CLASS}.loss at reg = {reg:g} ({_shape_text(params, X)}; {name})", loss,
                            float(expected), LOSS_TOL)
            except CheckFailed as failure:
                hint, ids = _net_diagnose(ctx, "loss", (params, X, y, reg), {"loss": loss}, {"loss": float(expected)},
                                          ["loss"], "loss")
                if hint is None:
                    data_loss, _ = ctx.reference.loss_and_grads(params, X, y, 0.0)
                    hint = loss_hint(loss, data_loss, _reg_term(params), reg, X.shape[0], per_sample_constant=None)
                if hint is None and math.isfinite(loss):
                    hint = _precision_hint(loss, float(expected), LOSS_TOL)
                failure.hint = hint
                if ids:
                    failure.details["mistakes"] = ids
                failure.details["regime"] = name
                raise
    return Outcome("loss matches the reference at reg = 0 and 1 in every input regime")


def _grads_vs_reference(ctx: Context, regs: tuple[float, ...]) -> Outcome:
    for reg in regs:
        for name, params, X, y in net_regimes(ctx.rng):
            new_net(ctx, "net", params)
            with _InRegime(name, params, X):
                loss, grads = net_loss(ctx, "net", X, y, reg, {k: v.shape for k, v in params.items()}, finite=False)
            _, expected = ctx.reference.loss_and_grads(params, X, y, reg)
            _, data_grads = ctx.reference.loss_and_grads(params, X, y, 0.0)
            n = X.shape[0]
            for key in KEYS:
                axes = {"W1": ("input row", "hidden column"), "b1": ("hidden unit",),
                        "W2": ("hidden row", "class column"), "b2": ("class",)}[key]
                try:
                    expect_array(grads[key], f"grads['{key}']", params[key].shape)
                    check_close(f"grads['{key}'] at reg = {reg:g} ({_shape_text(params, X)}; {name})", grads[key],
                                expected[key], GRAD_TOL, axis_names=axes, param=key)
                except CheckFailed as failure:
                    failing = [k for k in KEYS if rel_error(grads[k], expected[k]) > GRAD_TOL] or [key]
                    student = dict(grads, loss=loss)
                    exp_loss, _ = ctx.reference.loss_and_grads(params, X, y, reg)
                    hint, ids = _net_diagnose(ctx, "loss", (params, X, y, reg), student,
                                              dict(expected, loss=float(exp_loss)), failing,
                                              " and ".join(f"grads['{k}']" for k in failing))
                    if hint is None:
                        hint = _grad_hint(key, grads, expected, data_grads, params, reg, n)
                    if hint is None:
                        hint = _precision_hint({k: grads[k] for k in KEYS}, expected, GRAD_TOL)
                    if hint is None:
                        hint = _stage(grads, expected)
                        if hint is not None and set(failing) == set(KEYS):
                            hint = _forward_first(ctx, params, X) or hint
                    failure.hint = hint
                    if ids:
                        failure.details["mistakes"] = ids
                    failure.details["reg"] = reg
                    failure.details["regime"] = name
                    raise
    return Outcome(f"W1, b1, W2, b2 gradients match the reference at reg = {', '.join(f'{r:g}' for r in regs)} "
                   "in every input regime")


def _forward_first(ctx: Context, params: dict[str, np.ndarray], X: np.ndarray) -> str | None:
    """All four gradients wrong: when the student's scores already differ, the error is in the forward pass (the
    scores test judges it), not in dscores."""
    new_net(ctx, "forward", params)
    try:
        scores = net_scores(ctx, "forward", X)
    except (CheckFailed, StudentCodeError):
        return None
    expected = ctx.reference.forward_scores(params, X)
    if not isinstance(scores, np.ndarray) or scores.shape != expected.shape or \
            rel_error(scores.astype(np.float64), expected) <= SCORES_TOL:
        return None
    return ("Where: all four gradients are wrong, and so are the scores loss(X) returns (see the scores test): the "
            "error is already in the forward pass; the gradients follow from the scores once they are right.")


def _grad_hint(key: str, grads: dict[str, np.ndarray], expected: dict[str, np.ndarray],
               data_grads: dict[str, np.ndarray], params: dict[str, np.ndarray], reg: float, n: int) -> str | None:
    """Exact fits of one gradient: a wrong regularisation coefficient, a factor of N, regularised biases."""
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
    return None  # a missing ReLU mask is in the catalogue; which stage is wrong is _stage's job


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
    """Each gradient against central differences of the student's own loss: typical sizes, the square case
    (where a transposed gradient has the right shape) and fewer samples than classes."""
    details: dict[str, Any] = {}
    regimes_ = [r for i, r in enumerate(net_regimes(ctx.rng)) if i in (0, 2, 4)]
    for i, (name, params, X, y) in enumerate(regimes_):
        with _InRegime(name, params, X):
            _consistency_one(ctx, name, params, X, y, details, probes=(4, 2) if i == 0 else (1, 1))
    return Outcome("every gradient matches central differences of your own loss", details)


def _consistency_one(ctx: Context, name: str, params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray,
                     details: dict[str, Any], probes: tuple[int, int]) -> None:
    reg = 0.5
    grad_shapes = {k: v.shape for k, v in params.items()}
    new_net(ctx, "net", params)
    _, grads = net_loss(ctx, "net", X, y, reg, grad_shapes)
    for key in KEYS:
        def f_many(values: list[np.ndarray], key: str = key) -> list[float]:
            answers = ctx.student.call_method_each("net", "loss", (X, y), "params", key, values, reg=reg,
                                                   label=f"{CLASS}.loss")
            return [check_loss_answer(a, grad_shapes)[0] for a in answers]

        gc = gradient_check(None, params[key], grads[key], ctx.rng, coordinates=probes[0], directions=probes[1],
                            tol=CONSISTENCY_TOL, f_many=f_many)
        ctx.student.setitem("net", "params", key, params[key])
        details[f"{name}: {key}"] = gc.details()
        worst = gc.worst()
        if worst is not None and worst.rel_error > CONSISTENCY_TOL:
            where = f"{key}{list(worst.index)}" if worst.index else "a random direction"
            raise CheckFailed(f"grads['{key}'] disagrees with the numerical gradient of your own loss "
                              f"({_shape_text(params, X)}; {name}; reg = {reg:g}): relative error "
                              f"{worst.rel_error:.3e} > {CONSISTENCY_TOL:g} at {where}: analytic {worst.analytic:.6g}, "
                              f"numerical {worst.numeric:.6g}", hint=NET_REGIME_HINTS.get(name), details=details)


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
    _one_sample_shift(ctx, params, X, y, loss, grads)
    return Outcome("loss and gradients are unchanged when 1000 is added to every score, and to one sample's scores")


def _one_sample_shift(ctx: Context, params: dict[str, np.ndarray], X: np.ndarray, y: np.ndarray, loss: float,
                      grads: dict[str, np.ndarray]) -> None:
    """+1000 on every score of one sample only (the softmax of each row is unchanged): an extra input column, 1 for
    that sample and 0 elsewhere, feeds an extra hidden unit whose outgoing weights add 1000 to every class. A shift
    by the batch's global maximum (instead of each row's) underflows the other rows here."""
    n, d = X.shape
    h, c = params["W2"].shape
    k = int(ctx.rng.integers(n))
    Xe = np.hstack([X, np.zeros((n, 1))])
    Xe[k, -1] = 1.0
    ext = {"W1": np.zeros((d + 1, h + 1)), "b1": np.append(params["b1"], 0.0), "W2": np.zeros((h + 1, c)),
           "b2": params["b2"].copy()}
    ext["W1"][:d, :h] = params["W1"]
    ext["W1"][d, h] = 100.0
    ext["W2"][:h] = params["W2"]
    ext["W2"][h] = 10.0
    new_net(ctx, "shift", ext)
    hint = ("Adding 1000 to one sample's scores must change nothing: subtract each row's own maximum "
            "(np.max(scores, axis=1, keepdims=True)), not the largest score of the whole batch")
    ext_shapes = {key: v.shape for key, v in ext.items()}
    loss_s, grads_s = net_loss(ctx, "shift", Xe, y, 0.0, ext_shapes, finite=False)
    blocks = (("W1", (slice(0, d), slice(0, h))), ("b1", (slice(0, h),)), ("W2", (slice(0, h), slice(None))),
              ("b2", (slice(None),)))
    finite = math.isfinite(loss_s) and all(np.all(np.isfinite(g)) for g in grads_s.values())
    if finite and rel_error(loss_s, loss) <= 1e-6 and all(
            rel_error(grads_s[key][block], grads[key]) <= 1e-6 for key, block in blocks):
        return
    # The extra input column and hidden unit change D and H: before naming the shift, compare with the student's
    # own loss on the same enlarged net without it (the extra unit off: the same scores as the original net), so a
    # loss that depends on D or H (judged by the loss tests) is not taken for an unstable softmax.
    plain = {key: v.copy() for key, v in ext.items()}
    plain["W1"][d, h] = 0.0
    new_net(ctx, "no_shift", plain)
    loss_p, grads_p = net_loss(ctx, "no_shift", Xe, y, 0.0, ext_shapes, finite=False)
    if rel_error(loss_p, loss) <= 1e-6 and all(rel_error(grads_p[key][block], grads[key]) <= 1e-6
                                               for key, block in blocks):
        ref_loss, ref_grads = loss, {key: (grads[key], block) for key, block in blocks}
    else:
        ref_loss, ref_grads = loss_p, {key: (grads_p[key][block], block) for key, block in blocks}
    if not finite:
        raise CheckFailed(f"{CLASS}.loss returned a non-finite loss or gradient when one sample's scores are 1000 above "
                          "the others' (the softmax of every row is unchanged)", hint=hint)
    check_close(f"loss when sample {k}'s scores are 1000 above the others'", loss_s, ref_loss, 1e-6, hint=hint)
    for key, (want, block) in ref_grads.items():
        check_close(f"grads['{key}'] when sample {k}'s scores are 1000 above the others'", grads_s[key][block],
                    want, 1e-6, hint=hint, param=key)


def _forward(params: dict[str, np.ndarray], X: np.ndarray, *, relu: bool = True, b1: bool = True,
             b2: bool = True) -> np.ndarray:
    pre = X.dot(params["W1"]) + (params["b1"] if b1 else 0.0)
    hidden = np.maximum(0.0, pre) if relu else pre
    return hidden.dot(params["W2"]) + (params["b2"] if b2 else 0.0)


def predict_problem(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, int]]:
    """Parameters and samples chosen so that the ReLU, b1 and b2 each change the argmax of some samples:
    a predict that leaves any of them out gets those samples wrong."""
    d, h, c = int(rng.integers(4, 10)), int(rng.integers(6, 16)), int(rng.integers(3, 7))
    params = {"W1": rng.standard_normal((d, h)) / math.sqrt(d), "b1": rng.standard_normal(h),
              "W2": rng.standard_normal((h, c)) / math.sqrt(h), "b2": 1.5 * rng.standard_normal(c)}
    pool = rng.standard_normal((600, d))
    full = np.argmax(_forward(params, pool), axis=1)
    chosen: list[int] = []
    counts = {}
    for name, variant in (("relu", dict(relu=False)), ("b1", dict(b1=False)), ("b2", dict(b2=False))):
        differ = np.flatnonzero(np.argmax(_forward(params, pool, **variant), axis=1) != full)  # type: ignore[arg-type]
        counts[name] = int(min(len(differ), 8))
        chosen += [int(i) for i in differ[:8]]
    chosen += [int(i) for i in rng.choice(len(pool), size=8, replace=False)]
    order = rng.permutation(len(chosen))
    return params, pool[np.array(chosen)[order]], counts


def predict_argmax(ctx: Context) -> Outcome:
    """``predict(X)`` is the argmax of the scores, on samples where the ReLU and both biases change the argmax.

    The expected labels are the argmax of the student's own scores (``loss(X)``): a wrong forward pass is
    charged to the scores test, not here. With the reference, labels equal to the argmax of the correct
    scores are accepted too (a predict right on its own while the loss is wrong).
    """
    params, X, counts = predict_problem(ctx.rng)
    new_net(ctx, "net", params)
    scores = net_scores(ctx, "net", X)
    pred = ctx.student.call_method("net", "predict", X, label=f"{CLASS}.predict")
    c = params["W2"].shape[1]
    if isinstance(pred, np.ndarray) and pred.shape == (c,) and c != X.shape[0]:
        raise CheckFailed(f"{CLASS}.predict(X) has shape {pred.shape}, one label per class, expected one per sample "
                          f"({X.shape[0]},)", hint="The argmax is taken over the samples (axis=0): take it over the "
                          "classes, np.argmax(scores, axis=1)")
    pred = expect_array(pred, f"{CLASS}.predict(X)", (X.shape[0],), kinds="iu")
    expected = np.argmax(scores, axis=1)
    wrong = np.flatnonzero(pred != expected)
    if wrong.size and ctx.has_reference:
        correct = np.argmax(ctx.reference.forward_scores(params, X), axis=1)
        if np.array_equal(pred, correct):
            return Outcome(f"predict(X) equals the argmax of the correct scores for all {X.shape[0]} samples")
    if wrong.size:
        i = int(wrong[0])
        hint = None
        for what, variant in (("without the ReLU", dict(relu=False)), ("without b1", dict(b1=False)),
                              ("without b2", dict(b2=False)), ("without either bias", dict(b1=False, b2=False))):
            if np.array_equal(pred, np.argmax(_forward(params, X, **variant), axis=1)):  # type: ignore[arg-type]
                hint = (f"Your predictions are the argmax of the scores computed {what}: predict must use the "
                        "same forward pass as loss, np.maximum(0, X.dot(W1) + b1).dot(W2) + b2")
                break
        if hint is None and np.array_equal(pred, np.argmax(np.maximum(scores, 0), axis=1)):
            hint = ("Your predictions are the argmax of the scores clipped at 0: the predicted class is the one with the "
                    "highest score, whatever its sign: np.argmax(scores, axis=1) on the raw scores")
        if hint is None and np.array_equal(pred, np.argmin(scores, axis=1)):
            hint = "Your predictions are the argmin of the scores: the predicted class has the highest score"
        raise CheckFailed(f"{CLASS}.predict(X) differs from argmax(scores, axis=1) for {wrong.size} of {X.shape[0]} "
                          f"samples (chosen so that the ReLU, b1 and b2 each decide some of them); sample {i}: "
                          f"predicted {int(pred[i])}, argmax is {int(expected[i])}", hint=hint,
                          details={"wrong": int(wrong.size), "samples": int(X.shape[0]), "decided_by": counts})
    # As many samples as classes: an argmax over the wrong axis has the right shape here.
    Xs = X[:c]
    scores_s = net_scores(ctx, "net", Xs)
    pred_s = ctx.student.call_method("net", "predict", Xs, label=f"{CLASS}.predict")
    pred_s = expect_array(pred_s, f"{CLASS}.predict(X) with N == C", (c,), kinds="iu")
    if not np.array_equal(pred_s, np.argmax(scores_s, axis=1)):
        hint = None
        if np.array_equal(pred_s, np.argmax(scores_s, axis=0)):
            hint = "The argmax is taken over the samples (axis=0): take it over the classes, np.argmax(scores, axis=1)"
        raise CheckFailed(f"{CLASS}.predict(X) on {c} samples (as many as classes) differs from argmax(scores, axis=1): "
                          f"predicted {pred_s.tolist()}, argmax is {np.argmax(scores_s, axis=1).tolist()}", hint=hint,
                          details={"samples": c})
    # Every score negative (b2 lowered by 100): the argmax does not depend on the sign of the scores.
    ctx.student.setitem("net", "params", "b2", params["b2"] - 100.0)
    scores_n = net_scores(ctx, "net", X)
    pred_n = expect_array(ctx.student.call_method("net", "predict", X, label=f"{CLASS}.predict"),
                          f"{CLASS}.predict(X)", (X.shape[0],), kinds="iu")
    if not np.array_equal(pred_n, np.argmax(scores_n, axis=1)):
        wrong = np.flatnonzero(pred_n != np.argmax(scores_n, axis=1))
        raise CheckFailed(f"{CLASS}.predict(X) differs from argmax(scores, axis=1) for {wrong.size} of {X.shape[0]} "
                          "samples when every score is negative (b2 lowered by 100)",
                          hint="The predicted class is the one with the highest score, whatever its sign: "
                               "np.argmax(scores, axis=1) on the raw scores (no ReLU, threshold or clipping)",
                          details={"wrong": int(wrong.size)})
    # Every score large (b2 raised by 1000): np.exp of the raw scores overflows, the argmax does not change.
    # The argmax of a nan row is class 0: where most samples' class is 0, the classes are taken in reverse order.
    how = "b2 raised by 1000"
    if np.mean(np.argmax(_forward(params, X), axis=1) == 0) > 0.5:
        how = "b2 raised by 1000, the classes (columns of W2 and b2) in reverse order"
        ctx.student.setitems("net", "params", {"W2": params["W2"][:, ::-1].copy(),
                                               "b2": params["b2"][::-1] + 1000.0})
    else:
        ctx.student.setitem("net", "params", "b2", params["b2"] + 1000.0)
    scores_l = net_scores(ctx, "net", X)
    pred_l = expect_array(ctx.student.call_method("net", "predict", X, label=f"{CLASS}.predict"),
                          f"{CLASS}.predict(X)", (X.shape[0],), kinds="iu")
    # Near-ties at this scale are left to float precision (a float32 predict keeps about 1e-4 here).
    top = np.max(scores_l, axis=1)
    picked = np.where((pred_l >= 0) & (pred_l < c), scores_l[np.arange(X.shape[0]), np.clip(pred_l, 0, c - 1)], -np.inf)
    if np.any(picked < top - 1e-6 * np.maximum(1.0, np.abs(top))):
        wrong = np.flatnonzero(picked < top - 1e-6 * np.maximum(1.0, np.abs(top)))
        i = int(wrong[0])
        raise CheckFailed(f"{CLASS}.predict(X) differs from argmax(scores, axis=1) for {wrong.size} of {X.shape[0]} "
                          f"samples when every score is about 1000 ({how}; predict was right at ordinary "
                          f"scores); sample {i}: predicted {int(pred_l[i])}, argmax is "
                          f"{int(np.argmax(scores_l[i]))}",
                          hint="At these scores np.exp overflows to inf, and inf / inf is nan, whose argmax is 0: "
                               "predict needs no probabilities (the softmax keeps the order of the scores), take "
                               "np.argmax(scores, axis=1); if you do compute probabilities, subtract each row's "
                               "maximum first",
                          details={"wrong": int(wrong.size)})
    return Outcome(f"predict(X) equals argmax of the scores for all {X.shape[0]} samples, including those where the "
                   "ReLU, b1 and b2 change the argmax, when N == C, when every score is negative and when every "
                   "score is about 1000")


# --------------------------------------------------------------------------- training


def _labels(pred: Any, n: int) -> np.ndarray:
    """predict's labels as train uses them: whole numbers of any dtype (predict's own test asks for an integer
    dtype; train's tests only compare the labels)."""
    pred = expect_array(pred, f"{CLASS}.predict(X)", (n,), kinds="iuf")
    if pred.dtype.kind == "f":
        if not np.all(np.isfinite(pred)) or np.any(pred != np.round(pred)):
            raise CheckFailed(f"{CLASS}.predict(X) returned values that are not class labels: {pred[:5].tolist()}")
    return pred.astype(np.int64)


def _expect_train_stats(value: Any) -> dict[str, list[float]]:
    if not isinstance(value, dict):
        raise CheckFailed(f"{CLASS}.train should return a dict with loss_history, train_acc_history and "
                          f"val_acc_history, but it returned {type_name(value)}")
    out = {}
    for key in ("loss_history", "train_acc_history", "val_acc_history"):
        seq = value.get(key)
        if isinstance(seq, np.ndarray) and seq.ndim == 1:
            seq = list(seq)
        if not isinstance(seq, (list, tuple)):
            if key not in value:
                raise CheckFailed(f"the dict train returns has no key '{key}' (its keys: "
                                  f"{', '.join(repr(k) for k in value) or 'none'})",
                                  hint="Return the starter's dict: {'loss_history': loss_history, 'train_acc_history': "
                                       "train_acc_history, 'val_acc_history': val_acc_history}; the notebook reads "
                                       "these keys")
            raise CheckFailed(f"train()['{key}'] should be a list, but it is {type_name(seq)}")
        out[key] = [expect_float(v, f"train()['{key}'] entry") for v in seq]
    return out


def _expect_history(value: Any, num_iters: int, epochs: int) -> dict[str, list[float]]:
    try:
        out = _expect_train_stats(value)
    except CheckFailed as exc:
        if "entry" not in exc.message:
            raise
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
    try:
        stats = ctx.student.call_method("toy", "train", X, y, X, y, learning_rate=1e-1, reg=5e-6, num_iters=100,
                                        verbose=False, label=f"{CLASS}.train")
    except StudentCodeError as err:
        if "larger sample than population" in err.exc_message:
            raise CheckFailed(str(err), hint="The toy training draws minibatches of batch_size = 200 from 5 samples, "
                              "which needs sampling with replacement: np.random.choice(num_train, batch_size) (or "
                              "replace=batch_size > num_train)", details={"exception": err.exc_type}) from None
        raise
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
    pred = _labels(pred, len(yv))
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


# --------------------------------------------------------------------------- train, specified exactly
#
# The contract of train (the 2017 starter fixes the schedule and the histories): every iteration draws a
# fresh minibatch of batch_size samples, computes loss, grads = self.loss(X_batch, y=y_batch, reg=reg),
# appends the loss, and updates every parameter with params[k] -= learning_rate * grads[k]; whenever
# it % iterations_per_epoch == 0 (iterations_per_epoch = max(num_train / batch_size, 1)) it records the
# accuracy of predict on the minibatch and on the validation set, then multiplies the learning rate by
# learning_rate_decay.
#
# To check that step for step whatever random number generator the student uses, the training rows are
# all identical (every minibatch is the same), and the expected trajectory is replayed on the trusted
# side with the student's own loss and predict (so a wrong loss is charged to the loss tests, not here).
# Sampling is checked apart, on one-hot rows, where a row of W1 moves only if its sample was drawn.

# num_train = 10, batch_size = 4: iterations_per_epoch = 2.5, so an epoch counted with // (2) or int() shows.
TRAIN_N, TRAIN_BATCH, TRAIN_ITERS = 10, 4, 7
# learning_rate and learning_rate_decay differ, so a rate replaced by the decay factor (learning_rate =
# learning_rate_decay) is not mistaken for a rate never decayed.
TRAIN_LR, TRAIN_DECAY, TRAIN_REG = 0.5, 0.3, 0.3
# A second run with fewer samples than batch_size: iterations_per_epoch = max(3 / 4, 1) = 1.
SMALL_N = 3


def _per_epoch(num_train: int, batch_size: int, variant: str = "spec") -> float:
    if variant == "floor":
        return max(num_train // batch_size, 1)
    if variant == "no_max":
        return num_train / batch_size
    return max(num_train / batch_size, 1)


def _epoch_starts(num_train: int, batch_size: int, num_iters: int, variant: str = "spec") -> list[int]:
    per_epoch = _per_epoch(num_train, batch_size, variant)
    return [it for it in range(num_iters) if it % per_epoch == 0]


def _sgd_step_local(params: dict[str, np.ndarray], x: np.ndarray, label: int, lr: float,
                    reg: float) -> dict[str, np.ndarray]:
    """One correct SGD step on a batch of identical rows (x, label): used only to design the problem."""
    pre = x.dot(params["W1"]) + params["b1"]
    hidden = np.maximum(0.0, pre)
    scores = hidden.dot(params["W2"]) + params["b2"]
    p = np.exp(scores - scores.max())
    p /= p.sum()
    dscores = p.copy()
    dscores[label] -= 1.0
    dhidden = params["W2"].dot(dscores) * (pre > 0)
    grads = {"W1": np.outer(x, dhidden) + 2 * reg * params["W1"], "b1": dhidden,
             "W2": np.outer(hidden, dscores) + 2 * reg * params["W2"], "b2": dscores}
    return {k: params[k] - lr * grads[k] for k in KEYS}


def _identical_rows_problem(rng: np.random.Generator, n: int = TRAIN_N) -> dict[str, Any]:
    """Every training row is the same point x0 with the highest class as label, so every minibatch is the same
    whatever was drawn. b2 is set so that the net predicts another class before the first update and the label
    after it: an accuracy recorded before the update (or at the wrong iteration) differs from the spec's."""
    d, h, c = 6, 5, 3
    params, _, _ = random_problem(rng, n=n, d=d, h=h, c=c)
    x0 = rng.standard_normal(d)
    label = c - 1  # the highest class: a class count taken from the labels is right here (the loss tests judge it)
    base = _forward(params, x0[None, :])[0]
    best, best_t = 0.0, None
    for margin in np.linspace(-0.02, -1.5, 60):
        trial = {k: v.copy() for k, v in params.items()}
        trial["b2"][label] += margin - (base[label] - np.max(np.delete(base, label)))
        s1 = _forward(_sgd_step_local(trial, x0, label, TRAIN_LR, TRAIN_REG), x0[None, :])[0]
        after = s1[label] - np.max(np.delete(s1, label))
        if min(-margin, after) > best:
            best, best_t = min(-margin, after), trial
    if best_t is not None:
        params = best_t
    X = np.tile(x0, (n, 1))
    y = np.full(n, label, dtype=np.int64)
    # Validation: the same point with labels whose class shares are all different (1/6, 2/6, 3/6), so an
    # accuracy computed on the wrong data, or counted instead of averaged, shows.
    classes = rng.permutation(c)
    y_val = np.array([classes[0]] + [classes[1]] * 2 + [classes[2]] * 3, dtype=np.int64)
    X_val = np.tile(x0, (len(y_val), 1))
    return {"params": params, "X": X, "y": y, "X_val": X_val, "y_val": y_val}


def _student_train(ctx: Context, name: str, prob: dict[str, Any], verbose: bool = False, **settings: Any) -> Any:
    new_net(ctx, name, prob["params"])
    return ctx.student.call_method(name, "train", prob["X"], prob["y"], prob["X_val"], prob["y_val"],
                                   verbose=verbose, label=f"{CLASS}.train", **settings)


def _params_after(ctx: Context, name: str) -> dict[str, np.ndarray]:
    params = ctx.student.get(name, "params", label=f"reading {CLASS}.params after train")
    if not isinstance(params, dict) or not all(isinstance(params.get(k), np.ndarray) for k in KEYS):
        raise CheckFailed(f"{CLASS}.params after train is not a dict of the four arrays W1, b1, W2, b2")
    return {k: np.asarray(params[k], dtype=np.float64) for k in KEYS}


def _replay(ctx: Context, prob: dict[str, Any], *, lrs: list[float], reg: float, keys: tuple[str, ...] = KEYS,
            batch: int = TRAIN_BATCH) -> dict[str, Any]:
    """SGD on the identical rows with the student's own loss and predict: the trajectory train must follow."""
    params = {k: v.copy() for k, v in prob["params"].items()}
    Xb, yb = prob["X"][:batch], prob["y"][:batch]
    if Xb.shape[0] < batch:  # fewer rows than batch_size: a minibatch repeats them (all identical)
        Xb, yb = np.tile(prob["X"][:1], (batch, 1)), np.full(batch, prob["y"][0])
    new_net(ctx, "replay", params)
    losses, train_acc, val_acc = [], [], []
    starts = set(_epoch_starts(prob["X"].shape[0], batch, len(lrs)))
    for it, lr in enumerate(lrs):
        # The student's own loss, its gradients used as they come (a (1, H) bias gradient broadcasts in the
        # update exactly as it does in the student's train): the loss tests judge the values, not this one.
        value = ctx.student.call_method("replay", "loss", Xb, yb, reg=reg, label=f"{CLASS}.loss")
        loss, grads = expect_pair(value, f"{CLASS}.loss(X, y)", "loss", "grads")
        loss = expect_float(loss, f"the loss returned by {CLASS}.loss")
        if not isinstance(grads, dict):
            raise CheckFailed(f"grads returned by {CLASS}.loss should be a dict, but it is {type_name(grads)}")
        losses.append(loss)
        # Update what the net holds now, as the student's train does (a loss that changes params in place is
        # judged by its own test; here it must not make train look wrong).
        held = ctx.student.get("replay", "params", label=f"reading {CLASS}.params")
        if isinstance(held, dict):
            params = {k: (np.asarray(held[k], dtype=np.float64) if isinstance(held.get(k), np.ndarray) else params[k])
                      for k in KEYS}
        for k in keys:
            g = grads.get(k)
            if not isinstance(g, np.ndarray) or g.dtype.kind not in "fiu":
                raise CheckFailed(f"grads['{k}'] returned by {CLASS}.loss is {type_name(g)}, not a numpy array")
            try:
                params[k] = params[k] - lr * g.astype(np.float64)
            except ValueError:
                raise CheckFailed(f"grads['{k}'] of shape {g.shape} cannot update params['{k}'] of shape "
                                  f"{params[k].shape}") from None
        ctx.student.setitems("replay", "params", {k: params[k] for k in keys})
        if it in starts:
            for data, labels, out in ((Xb, yb, train_acc), (prob["X_val"], prob["y_val"], val_acc)):
                pred = ctx.student.call_method("replay", "predict", data, label=f"{CLASS}.predict")
                pred = _labels(pred, data.shape[0])
                out.append(float(np.mean(pred == labels)))
    return {"params": params, "loss_history": losses, "train_acc_history": train_acc, "val_acc_history": val_acc}


def _schedule(kind: str, lr: float, decay: float, num_iters: int, num_train: int = TRAIN_N,
              batch_size: int = TRAIN_BATCH) -> list[float]:
    """The learning rate used at each iteration under a decay schedule (the spec's, or a mistaken one)."""
    starts = _epoch_starts(num_train, batch_size, num_iters)
    per_epoch = _per_epoch(num_train, batch_size)
    out = []
    for it in range(num_iters):
        factor = decay
        if kind == "spec":
            decays = sum(1 for s in starts if s < it)
        elif kind == "never":
            decays = 0
        elif kind == "every_iteration":
            decays = it
        elif kind == "end_of_epoch":  # (it + 1) % iterations_per_epoch == 0
            decays = sum(1 for s in range(it) if (s + 1) % per_epoch == 0)
        elif kind == "twice_per_epoch":
            decays = 2 * sum(1 for s in starts if s < it)
        elif kind == "twice_around_update":  # once before the epoch's first update, once after it
            decays = sum(1 for s in starts if s <= it) + sum(1 for s in starts if s < it)
        elif kind == "floor":  # iterations_per_epoch = max(num_train // batch_size, 1)
            decays = sum(1 for s in _epoch_starts(num_train, batch_size, num_iters, "floor") if s < it)
        elif kind == "skip_first":  # `if it > 0 and it % iterations_per_epoch == 0`
            decays = sum(1 for s in starts if 0 < s < it)
        elif kind == "default_decay":  # the default 0.95 instead of the learning_rate_decay argument
            decays, factor = sum(1 for s in starts if s < it), 0.95
        elif kind == "assigned":  # learning_rate = learning_rate_decay
            out.append(decay if any(s < it for s in starts) else lr)
            continue
        else:  # "before_update": decayed before this iteration's step
            decays = sum(1 for s in starts if s <= it)
        out.append(lr * factor ** decays)
    return out


SCHEDULE_HINTS = {
    "never": "the learning rate is never decayed: multiply learning_rate by learning_rate_decay once per epoch",
    "every_iteration": "the learning rate is decayed every iteration; decay it once per epoch, when "
                       "it % iterations_per_epoch == 0",
    "end_of_epoch": "the learning rate is decayed at the end of each epoch ((it + 1) % iterations_per_epoch == 0); "
                    "the assignment decays it when it % iterations_per_epoch == 0, after that iteration's update",
    "before_update": "the learning rate is decayed before the update of the epoch's first iteration; decay it "
                     "after the update, in the `if it % iterations_per_epoch == 0` block",
    "twice_per_epoch": "the learning rate is decayed twice per epoch; multiply it by learning_rate_decay once, in the "
                       "starter's `if it % iterations_per_epoch == 0` block",
    "twice_around_update": "the learning rate is decayed twice per epoch (before and after the epoch's first "
                           "update); multiply it by learning_rate_decay once, in the starter's epoch block",
    "floor": "the learning rate is decayed every num_train // batch_size iterations: the starter's "
             "iterations_per_epoch = max(num_train / batch_size, 1) is a true division (2.5 here, not 2)",
    "skip_first": "the learning rate is not decayed at iteration 0: the starter decays it whenever "
                  "it % iterations_per_epoch == 0, iteration 0 included",
    "default_decay": "the learning rate is multiplied by 0.95 (the default) instead of the learning_rate_decay "
                     "argument",
    "assigned": "the learning rate is replaced by learning_rate_decay (learning_rate = learning_rate_decay) after "
                "the first epoch; multiply it instead: learning_rate *= learning_rate_decay",
}


def _first_step_hint(ctx: Context, prob: dict[str, Any]) -> str | None:
    """One iteration of the student's train against one SGD step with the student's own gradients: name the
    parameters whose step has the wrong sign, size, or an extra regularisation term."""
    _student_train(ctx, "one_step", prob, learning_rate=TRAIN_LR, learning_rate_decay=TRAIN_DECAY, reg=TRAIN_REG,
                   num_iters=1, batch_size=TRAIN_BATCH)
    after = _params_after(ctx, "one_step")
    new_net(ctx, "one_grad", prob["params"])
    value = ctx.student.call_method("one_grad", "loss", prob["X"][:TRAIN_BATCH], prob["y"][:TRAIN_BATCH],
                                    reg=TRAIN_REG, label=f"{CLASS}.loss")
    _, grads = expect_pair(value, f"{CLASS}.loss(X, y)", "loss", "grads")
    if not isinstance(grads, dict):
        return None
    texts = []
    for k in KEYS:
        g = grads.get(k)
        if not isinstance(g, np.ndarray) or g.size != prob["params"][k].size or after[k].shape != prob["params"][k].shape:
            return None
        g = g.reshape(prob["params"][k].shape).astype(np.float64)
        step = after[k] - prob["params"][k]
        if rel_error(step, -TRAIN_LR * g) <= 1e-8:
            continue
        for factor, text in ((TRAIN_LR, "moves along the gradient (+= instead of -=)"),
                             (-TRAIN_LR / TRAIN_BATCH, "is divided by batch_size (the loss already averages over "
                                                       "the minibatch)"),
                             (0.0, "")):
            if rel_error(step, factor * g) <= 1e-8:
                texts.append(f"params['{k}'] never changed (it is not updated)" if factor == 0.0 else
                             f"the step of params['{k}'] {text}")
                break
        else:
            if k in WEIGHTS and rel_error(step, -TRAIN_LR * (g + 2 * TRAIN_REG * prob["params"][k])) <= 1e-8:
                texts.append(f"the step of params['{k}'] adds 2*reg*{k} to grads['{k}'] again (self.loss already "
                             "includes the regularisation gradient)")
            elif k in WEIGHTS and rel_error(step, -TRAIN_LR * (g + TRAIN_REG * prob["params"][k])) <= 1e-8:
                texts.append(f"the step of params['{k}'] adds reg*{k} to grads['{k}'] again (self.loss already "
                             "includes the regularisation gradient)")
            else:
                scale = float(np.sum(step * g) / max(np.sum(g * g), 1e-300))
                if rel_error(step, scale * g) <= 1e-8:
                    texts.append(f"the step of params['{k}'] is {scale:.6g} * grads['{k}'], not "
                                 f"-learning_rate * grads['{k}'] = {-TRAIN_LR:g} * grads['{k}']")
    if not texts:
        return None
    return ("In the first iteration " + "; ".join(texts) + ": update every parameter with "
            "self.params[k] -= learning_rate * grads[k]")


def _learning_rates_hint(ctx: Context, prob: dict[str, Any]) -> str | None:
    """The learning rate the student's train used at each iteration, read from its steps (train run for 1, 2, ...
    iterations; each step divided by the student's own gradient there), next to the spec's schedule."""
    spec = _schedule("spec", TRAIN_LR, TRAIN_DECAY, TRAIN_ITERS)
    used: dict[str, list[float]] = {k: [] for k in KEYS}
    before = {k: v.copy() for k, v in prob["params"].items()}
    for t in range(TRAIN_ITERS):
        _student_train(ctx, "steps", prob, learning_rate=TRAIN_LR, learning_rate_decay=TRAIN_DECAY, reg=TRAIN_REG,
                       num_iters=t + 1, batch_size=TRAIN_BATCH)
        after = _params_after(ctx, "steps")
        new_net(ctx, "steps_grad", before)
        value = ctx.student.call_method("steps_grad", "loss", prob["X"][:TRAIN_BATCH], prob["y"][:TRAIN_BATCH],
                                        reg=TRAIN_REG, label=f"{CLASS}.loss")
        _, grads = expect_pair(value, f"{CLASS}.loss(X, y)", "loss", "grads")
        for k in KEYS:
            g = np.asarray(grads.get(k), dtype=np.float64) if isinstance(grads, dict) else None
            if g is None or g.size != before[k].size or after[k].shape != before[k].shape:
                return None
            g = g.reshape(before[k].shape)
            step = after[k] - before[k]
            lr = -float(np.sum(step * g) / max(np.sum(g * g), 1e-300))
            if rel_error(step, -lr * g) > 1e-6:
                return None  # not a plain gradient step: nothing to read
            used[k].append(lr)
        before = after
    rows = {tuple(round(v, 12) for v in used[k]) for k in KEYS}
    fmt = lambda values: ", ".join(f"{v:.6g}" for v in values)  # noqa: E731
    starts = _epoch_starts(TRAIN_N, TRAIN_BATCH, TRAIN_ITERS)
    spec_text = (f"the spec's schedule (decayed by {TRAIN_DECAY:g} after the update of iterations "
                 f"{', '.join(map(str, starts))}) gives {fmt(spec)}")
    if len(rows) == 1:
        wrong = [t for t in range(TRAIN_ITERS) if rel_error(used["W1"][t], spec[t]) > 1e-6]
        if not wrong:
            return None
        return (f"The learning rates your train used, iteration by iteration (read from its steps): "
                f"{fmt(used['W1'])}; {spec_text}. The first one that differs is at iteration {wrong[0]}")
    parts = "; ".join(f"{k}: {fmt(used[k])}" for k in KEYS)
    return (f"Not every parameter was updated with the same learning rate (read from the steps): {parts}; "
            f"{spec_text}. Update every parameter with the current learning_rate")


def _decays_only_when_verbose(ctx: Context, prob: dict[str, Any], settings: dict[str, Any],
                              losses: list[float]) -> str | None:
    """The schedule of a rate never decayed at verbose=False: when the same run with verbose=True changes the
    steps, the decay sits under the verbose condition."""
    try:
        stats = _expect_train_stats(_student_train(ctx, "verbose_steps", prob, verbose=True, **settings))
    except (CheckFailed, StudentCodeError):
        return None
    again = stats["loss_history"]
    if len(again) == len(losses) and all(rel_error(a, b) <= 1e-8 for a, b in zip(again, losses)):
        return None
    return ("The learning rate is never decayed when verbose is False, and train takes other steps when verbose is "
            "True: the decay sits under the verbose condition (e.g. inside `if verbose and it % 100 == 0`). Decay "
            "it once per epoch whatever verbose is: learning_rate *= learning_rate_decay in the "
            "`if it % iterations_per_epoch == 0` block")


def train_sgd_steps(ctx: Context) -> Outcome:
    """Step for step: the SGD update of every parameter, the learning rate decayed once per epoch, reg passed
    through (identical training rows, so the minibatches cannot matter)."""
    prob = _identical_rows_problem(ctx.rng)
    settings = dict(learning_rate=TRAIN_LR, learning_rate_decay=TRAIN_DECAY, reg=TRAIN_REG, num_iters=TRAIN_ITERS,
                    batch_size=TRAIN_BATCH)
    stats = _expect_train_stats(_student_train(ctx, "trained", prob, **settings))
    final = _params_after(ctx, "trained")
    losses = stats["loss_history"]
    if len(losses) != TRAIN_ITERS:
        hint = "Append the loss inside the loop, once per iteration (loss_history.append(loss))" \
            if len(losses) < TRAIN_ITERS else None
        if 0 < len(losses) < TRAIN_ITERS:
            # As many SGD steps as losses recorded: the loop ran that many iterations.
            short = _replay(ctx, prob, lrs=_schedule("spec", TRAIN_LR, TRAIN_DECAY, TRAIN_ITERS)[:len(losses)],
                            reg=TRAIN_REG)
            if all(rel_error(a, b) <= 1e-8 for a, b in zip(losses, short["loss_history"])) and \
                    all(rel_error(final[k], short["params"][k]) <= 1e-8 for k in KEYS):
                hint = (f"Your train ran {len(losses)} iterations for num_iters = {TRAIN_ITERS} (its losses and final "
                        f"parameters are those of {len(losses)} SGD steps): run exactly num_iters iterations, one loop "
                        "`for it in range(num_iters)`; a loop over epochs of int(iterations_per_epoch) steps each "
                        "runs another number")
        raise CheckFailed(f"train()['loss_history'] has {len(losses)} entries for num_iters = {TRAIN_ITERS}; record "
                          "the minibatch loss once per iteration", hint=hint)
    expected = _replay(ctx, prob, lrs=_schedule("spec", TRAIN_LR, TRAIN_DECAY, TRAIN_ITERS), reg=TRAIN_REG)
    details: dict[str, Any] = {"settings": settings, "num_train": TRAIN_N,
                               "loss_history": losses, "expected_loss_history": expected["loss_history"]}
    setting = (f"(N = {TRAIN_N} identical rows, batch_size = {TRAIN_BATCH}, so iterations_per_epoch = "
               f"{_per_epoch(TRAIN_N, TRAIN_BATCH):g}; learning_rate = {TRAIN_LR}, "
               f"learning_rate_decay = {TRAIN_DECAY}, reg = {TRAIN_REG}, num_iters = {TRAIN_ITERS})")
    bad_loss = [t for t in range(TRAIN_ITERS) if rel_error(losses[t], expected["loss_history"][t]) > 1e-8]
    bad_params = [k for k in KEYS if final[k].shape != expected["params"][k].shape
                  or rel_error(final[k], expected["params"][k]) > 1e-8]
    if not bad_loss and not bad_params:
        return Outcome(f"every step matches SGD with the spec's schedule {setting}", details)
    # Name the mistake: the loss at the first step (reg, data), a schedule, a parameter left alone.
    hint = None
    t0 = bad_loss[0] if bad_loss else None
    if t0 == 0:
        for other_reg, text in ((0.0, "train calls self.loss without reg=reg (it trains with reg = 0)"),
                                (5e-6, "train calls self.loss with the default reg, not the reg it was given")):
            again = _replay(ctx, prob, lrs=[0.0], reg=other_reg)
            if rel_error(losses[0], again["loss_history"][0]) <= 1e-8:
                hint = text
                if not bad_params:  # the steps were right: only what was recorded differs
                    hint = ("loss_history records the loss without its regularisation term; record the loss that "
                            "self.loss(X_batch, y=y_batch, reg=reg) returns")
                break
        if hint is None:
            hint = ("the first recorded loss is not self.loss(X_batch, y=y_batch, reg=reg) on the minibatch: record "
                    "the loss that self.loss returns for this iteration's minibatch")
    else:
        for kind, text in SCHEDULE_HINTS.items():
            alt = _replay(ctx, prob, lrs=_schedule(kind, TRAIN_LR, TRAIN_DECAY, TRAIN_ITERS), reg=TRAIN_REG)
            if all(rel_error(a, b) <= 1e-8 for a, b in zip(losses, alt["loss_history"])) and \
                    all(rel_error(final[k], alt["params"][k]) <= 1e-8 for k in KEYS):
                hint = text[0].upper() + text[1:]
                if kind == "never":
                    hint = _decays_only_when_verbose(ctx, prob, settings, losses) or hint
                break
        if hint is None and len(set(losses)) == 1 and len(set(expected["loss_history"])) > 1:
            hint = ("Every entry of loss_history is the same: self.loss was evaluated with the parameters from before "
                    "training. self.loss reads self.params, so update self.params inside the loop")
        if hint is None:
            hint = _first_step_hint(ctx, prob)
        if hint is None:
            hint = _learning_rates_hint(ctx, prob)
        if hint is None:
            frozen = [k for k in bad_params if np.array_equal(final[k], prob["params"][k])]
            if frozen:
                hint = (f"{', '.join(f'params[{k!r}]' for k in frozen)} never changed: update every parameter, "
                        "params[k] -= learning_rate * grads[k] for each of W1, b1, W2, b2")
    parts = []
    if bad_loss:
        t = bad_loss[0]
        yours, wanted = fmt_pair(losses[t], expected["loss_history"][t])
        parts.append(f"loss_history[{t}] is {yours}, but SGD with your own loss gives {wanted}")
    if bad_params:
        parts.append(f"after training, {', '.join(f'params[{k!r}]' for k in bad_params)} differ from that SGD's")
    details["wrong_parameters"] = bad_params
    raise CheckFailed(f"{CLASS}.train does not follow SGD step for step {setting}: " + "; ".join(parts), hint=hint,
                      details=details)


def _count_hint(got: int, num_train: int, batch_size: int, num_iters: int, d: int | None = None) -> str | None:
    """Name the rule that records this many accuracy entries."""
    spec = len(_epoch_starts(num_train, batch_size, num_iters))
    if got == num_iters and spec != num_iters:
        return ("Record the accuracies once per epoch, inside the `if it % iterations_per_epoch == 0` block, not "
                "every iteration")
    if num_train >= batch_size and got == len(_epoch_starts(num_train, batch_size, num_iters, "floor")):
        return ("iterations_per_epoch = max(num_train / batch_size, 1) is a true division in the starter "
                f"({_per_epoch(num_train, batch_size):g} here); with // or int() it is "
                f"{_per_epoch(num_train, batch_size, 'floor'):g}")
    if num_train < batch_size and got == len(_epoch_starts(num_train, batch_size, num_iters, "no_max")):
        return ("With fewer samples than batch_size, num_train / batch_size is below 1: keep the starter's "
                "iterations_per_epoch = max(num_train / batch_size, 1)")
    if d is not None and d != num_train and got == len(_epoch_starts(d, batch_size, num_iters)):
        return (f"{got} entries is what an epoch of iterations_per_epoch = max({d} / {batch_size}, 1) = "
                f"{_per_epoch(d, batch_size):g} iterations gives, with D = {d} (X.shape[1]) in place of num_train: "
                "num_train = X.shape[0], the number of training samples")
    if got == spec - 1:
        return ("One entry is missing: record the accuracies at every iteration where it % iterations_per_epoch == 0 "
                f"({', '.join(map(str, _epoch_starts(num_train, batch_size, num_iters)))} here, iteration 0 included, "
                "with it running over range(num_iters))")
    if got > spec:
        return "Record the accuracies once per epoch, inside the `if it % iterations_per_epoch == 0` block"
    return "Record the accuracies at every epoch's first iteration (it % iterations_per_epoch == 0)"


def _check_counts(stats: dict[str, list[float]], num_train: int, batch_size: int, num_iters: int,
                  details: dict[str, Any], d: int | None = None) -> None:
    starts = _epoch_starts(num_train, batch_size, num_iters)
    for key in ("train_acc_history", "val_acc_history"):
        got = stats[key]
        if len(got) != len(starts):
            raise CheckFailed(f"train()['{key}'] has {len(got)} entries for num_iters = {num_iters}, num_train = "
                              f"{num_train}, batch_size = {batch_size}, so iterations_per_epoch = max(num_train / "
                              f"batch_size, 1) = {_per_epoch(num_train, batch_size):g}; expected {len(starts)}, one at "
                              f"each iteration where it % iterations_per_epoch == 0 ({starts})",
                              hint=_count_hint(len(got), num_train, batch_size, num_iters, d), details=details)


def train_histories(ctx: Context) -> Outcome:
    """One train and one validation accuracy per epoch (iterations_per_epoch = max(num_train / batch_size, 1)),
    recorded after the epoch's first update, computed with predict on the minibatch and on the validation set.

    1. Identical training and validation rows (every minibatch the same): at any moment the net predicts one
       class p for all rows, so the train accuracy is 0 or 1 and the validation accuracy the share of p in y_val
       (1/6, 2/6 or 3/6). When the student's steps follow SGD (the SGD test), the histories must also equal those
       of the replayed trajectory, where the first update changes the prediction (so the moment shows).
    2. Fewer training rows than batch_size: iterations_per_epoch = 1, one entry per iteration.
    3. learning_rate = 0 on distinct rows: the predictions never change, the whole training set's accuracy (4/9)
       is no multiple of 1/batch_size, and the validation accuracy is exactly 2/5.
    """
    prob = _identical_rows_problem(ctx.rng)
    settings = dict(learning_rate=TRAIN_LR, learning_rate_decay=TRAIN_DECAY, reg=TRAIN_REG, num_iters=TRAIN_ITERS,
                    batch_size=TRAIN_BATCH)
    try:
        raw = _student_train(ctx, "trained", prob, verbose=True, **settings)
    except StudentCodeError as err:
        raise CheckFailed(f"{CLASS}.train(..., verbose=True) raised {err}",
                          hint="train must work with verbose=True as the notebook calls it: the verbose branch "
                               "only prints", details={"exception": err.exc_type}) from None
    stats = _expect_train_stats(raw)
    final = _params_after(ctx, "trained")
    starts = _epoch_starts(TRAIN_N, TRAIN_BATCH, TRAIN_ITERS)
    label = int(prob["y"][0])
    c = prob["params"]["W2"].shape[1]
    consistent = {(float(p == label), float(np.mean(prob["y_val"] == p))) for p in range(c)}
    details = {"epoch_starts": starts, "train_acc_history": stats["train_acc_history"],
               "val_acc_history": stats["val_acc_history"],
               "possible_pairs": sorted([list(pair) for pair in consistent])}
    _check_counts(stats, TRAIN_N, TRAIN_BATCH, TRAIN_ITERS, details, d=prob["X"].shape[1])
    shares = ", ".join(f"{np.mean(prob['y_val'] == p):.4g}" for p in range(c))
    for i, (tr, va) in enumerate(zip(stats["train_acc_history"], stats["val_acc_history"])):
        if any(abs(tr - a) < 1e-12 and abs(va - b) < 1e-12 for a, b in consistent):
            continue
        hint = None
        counts_val = {float(np.sum(prob["y_val"] == p)) for p in range(c)}
        va_share = any(abs(va - float(np.mean(prob["y_val"] == p))) < 1e-12 for p in range(c))
        if tr > 1 or va > 1:
            hint = "An accuracy is a mean (the share of correct predictions), not a count"
        elif va_share and tr not in (0.0, 1.0):
            hint = ("The train accuracy is neither 0 nor 1, so the rows it was computed on do not all carry the "
                    "training label: compute it on the minibatch drawn from X, y, (self.predict(X_batch) == "
                    "y_batch).mean(); validation rows belong neither in the train accuracy nor in the minibatch")
        elif any(abs(va - k / TRAIN_BATCH) < 1e-12 for k in counts_val):
            hint = ("The validation accuracy is the number of right predictions divided by batch_size: divide by the "
                    "number of validation samples, (self.predict(X_val) == y_val).mean()")
        elif va in (0.0, 1.0):
            hint = ("The validation accuracy is not computed on all of X_val (it looks computed on the training data or "
                    "on a subsample): use (self.predict(X_val) == y_val).mean()")
        elif tr not in (0.0, 1.0):
            hint = ("The train accuracy is neither 0 nor 1, so the rows it was computed on do not all carry the "
                    "training label: compute it on the minibatch drawn from X, y, (self.predict(X_batch) == "
                    "y_batch).mean(); validation rows belong neither in the train accuracy nor in the minibatch")
        else:
            hint = ("The validation accuracy is not the share of correct predictions over all of X_val: use "
                    "(self.predict(X_val) == y_val).mean()")
        raise CheckFailed(f"entry {i} of the histories is train {tr!r}, validation {va!r}; with every row the same "
                          f"point, predict gives one class for all rows, so the train accuracy must be 0 or 1 and the "
                          f"validation accuracy one of {shares} (the validation labels' class shares)", hint=hint,
                          details=details)
    # When the steps follow SGD, the accuracies must be those of that trajectory, recorded after the update.
    expected = _replay(ctx, prob, lrs=_schedule("spec", TRAIN_LR, TRAIN_DECAY, TRAIN_ITERS), reg=TRAIN_REG)
    on_track = (all(rel_error(a, b) <= 1e-8 for a, b in zip(stats["loss_history"], expected["loss_history"]))
                and len(stats["loss_history"]) == TRAIN_ITERS
                and all(rel_error(final[k], expected["params"][k]) <= 1e-8 for k in KEYS))
    if on_track:
        for key in ("train_acc_history", "val_acc_history"):
            got, want = stats[key], expected[key]
            bad = [i for i, (a, b) in enumerate(zip(got, want)) if abs(a - b) > 1e-12]
            if bad:
                i = bad[0]
                before = _replay(ctx, prob, lrs=_schedule("spec", TRAIN_LR, TRAIN_DECAY, TRAIN_ITERS)[:starts[i]],
                                 reg=TRAIN_REG) if starts[i] else None
                hint = None
                if i == 0 and starts[0] == 0:
                    hint = ("The accuracy at iteration 0 is that of the parameters before the update: the starter "
                            "records the accuracies after the SGD step (the `if it % iterations_per_epoch == 0` "
                            "block comes after the update)")
                raise CheckFailed(f"train()['{key}'][{i}] is {got[i]!r}, but predict after iteration {starts[i]}'s "
                                  f"update gives {want[i]!r} (identical rows; the first update changes the predicted "
                                  "class)", hint=hint, details=dict(details, expected=want,
                                                                   replayed_before=bool(before)))
    # Fewer samples than batch_size: iterations_per_epoch = max(num_train / batch_size, 1) = 1.
    small = _identical_rows_problem(ctx.rng, n=SMALL_N)
    try:
        small_stats = _expect_train_stats(_student_train(ctx, "small", small, **settings))
    except StudentCodeError as err:
        if "larger sample than population" not in err.exc_message:
            raise
        small_stats = None  # sampling without replacement: the toy training's test charges it
    if small_stats is not None:
        _check_counts(small_stats, SMALL_N, TRAIN_BATCH, TRAIN_ITERS, details)
    _fixed_predictions_histories(ctx)
    return Outcome(f"train and validation accuracies recorded once per epoch ({len(starts)} entries with "
                   f"iterations_per_epoch = 2.5, {TRAIN_ITERS} with 1), after the update, on the minibatch and on "
                   "all of X_val", details)


def _moved(after: np.ndarray, before: np.ndarray) -> bool:
    """A parameter changed its values (a (1, H) bias left by a (1, H) gradient keeps its values: the shape is the
    gradient tests' business)."""
    return after.size != before.size or rel_error(after.reshape(before.shape), before) > 1e-6


def _fixed_predictions_histories(ctx: Context) -> None:
    """learning_rate = 0: predictions never change. 4 of the 9 training rows and 2 of the 5 validation rows are
    predicted right, so every train accuracy is a multiple of 1/3 (batch_size = 3), never 4/9 (the whole
    training set) or 2/5 (the validation set), and every validation accuracy is exactly 2/5."""
    n, b, iters = 9, 3, 7
    params, X, _ = random_problem(ctx.rng, n=n, d=5, h=7, c=3)
    X_val = ctx.rng.standard_normal((5, 5))
    new_net(ctx, "fixed", params)
    pred = _labels(ctx.student.call_method("fixed", "predict", X, label=f"{CLASS}.predict"), n)
    pred_val = _labels(ctx.student.call_method("fixed", "predict", X_val, label=f"{CLASS}.predict"), 5)
    c = params["W2"].shape[1]
    right = ctx.rng.permutation(n)[:4]
    y = (pred + 1) % c
    y[right] = pred[right]
    right_val = ctx.rng.permutation(5)[:2]
    y_val = (pred_val + 1) % c
    y_val[right_val] = pred_val[right_val]
    prob = {"params": params, "X": X, "y": y.astype(np.int64), "X_val": X_val, "y_val": y_val.astype(np.int64)}
    stats = _expect_train_stats(_student_train(ctx, "fixed", prob, learning_rate=0.0, learning_rate_decay=0.5,
                                               reg=0.0, num_iters=iters, batch_size=b))
    details = {"train_acc_history": stats["train_acc_history"], "val_acc_history": stats["val_acc_history"],
               "num_train": n, "batch_size": b, "train_set_accuracy": 4 / 9, "val_accuracy": 0.4}
    _check_counts(stats, n, b, iters, details)
    moved = [k for k, v in _params_after(ctx, "fixed").items() if _moved(v, params[k])]
    if moved:
        # The accuracies cannot be judged when the predictions may have changed: say why they could.
        _student_train(ctx, "fixed_one", prob, learning_rate=0.0, learning_rate_decay=0.5, reg=0.0, num_iters=1,
                       batch_size=b)
        first = [k for k, v in _params_after(ctx, "fixed_one").items() if _moved(v, params[k])]
        if first:
            hint = ("The parameters moved in the very first iteration with learning_rate = 0: update them with the "
                    "learning_rate argument, self.params[k] -= learning_rate * grads[k]")
        else:
            hint = ("The parameters stayed put in iteration 0 but moved later, so the learning rate was no longer 0 "
                    "after the first epoch's decay: decay it by multiplying, learning_rate *= learning_rate_decay "
                    "(0 stays 0)")
        raise CheckFailed(f"train with learning_rate = 0 (learning_rate_decay = 0.5, num_iters = {iters}) changed "
                          f"{', '.join(f'params[{k!r}]' for k in moved)}; with a zero learning rate nothing may move, "
                          "so the recorded accuracies cannot be checked", hint=hint, details=details)
    setting = (f"learning_rate = 0, so the predictions never change; 4 of the {n} training rows and 2 of the 5 "
               f"validation rows are predicted right; batch_size = {b}")
    for i, va in enumerate(stats["val_acc_history"]):
        if abs(va - 0.4) > 1e-12:
            hint = "Compute the validation accuracy on all of X_val: (self.predict(X_val) == y_val).mean()"
            if abs(va - 2 / b) < 1e-12:
                hint = ("The validation accuracy is the number of right predictions divided by batch_size: divide by "
                        "the number of validation samples, (self.predict(X_val) == y_val).mean()")
            elif abs(va - 4 / 9) < 1e-12 or any(abs(va - k / b) < 1e-12 for k in range(b + 1)):
                hint = ("The validation accuracy is not computed on all of X_val (it looks computed on the training "
                        "data or on a subsample): use (self.predict(X_val) == y_val).mean()")
            elif va > 1:
                hint = "An accuracy is a mean (the share of correct predictions), not a count"
            raise CheckFailed(f"train()['val_acc_history'][{i}] is {va!r}; expected 0.4 ({setting})", hint=hint,
                              details=details)
    for i, tr in enumerate(stats["train_acc_history"]):
        if not any(abs(tr - k / b) < 1e-12 for k in range(b + 1)):
            hint = None
            if abs(tr - 4 / 9) < 1e-12:
                hint = ("The train accuracy is computed on the whole training set; the starter computes it on the "
                        "minibatch: (self.predict(X_batch) == y_batch).mean()")
            elif abs(tr - 0.4) < 1e-12:
                hint = ("The train accuracy looks computed on the validation data: use "
                        "(self.predict(X_batch) == y_batch).mean()")
            raise CheckFailed(f"train()['train_acc_history'][{i}] is {tr!r}; the accuracy on a minibatch of "
                              f"batch_size = {b} samples is a multiple of 1/{b} ({setting})", hint=hint,
                              details=details)


SAMPLING_N, SAMPLING_BATCH, SAMPLING_ITERS, SAMPLING_C = 16, 4, 100, 4
SAMPLING_LR = 0.1


def _train_on_refs(ctx: Context, name: str, prob: dict[str, Any], **settings: Any) -> tuple[Any, list[str]]:
    """train with the data passed by reference, so that changes to the caller's arrays show."""
    new_net(ctx, name, prob["params"])
    keys = ("X", "y", "X_val", "y_val")
    for key in keys:
        ctx.student.put(f"train_{key}", prob[key])
    stats = ctx.student.call_method(name, "train", *(Ref(f"train_{key}") for key in keys), verbose=False,
                                    label=f"{CLASS}.train", **settings)
    changed = []
    for key in keys:
        after = ctx.student.get(f"train_{key}")
        if not isinstance(after, np.ndarray) or not np.array_equal(after, prob[key]):
            changed.append(key)
    return stats, changed


def train_sampling(ctx: Context) -> Outcome:
    """Fresh minibatches of batch_size samples with their own labels, every sample reachable, the minibatch's loss
    recorded, the caller's data left alone.

    One-hot training rows at reg = 0 with a large positive b1: row i of W1 moves only when sample i is in the
    minibatch, by -learning_rate * (number of times it was drawn) * (its gradient as one sample of a minibatch,
    computed here with the student's own loss). So one iteration tells which samples were drawn and how often,
    whatever the random number generator: they must add up to batch_size, each row must move along its own
    label's gradient (a y_batch drawn apart from X_batch does not), and loss_history[0] must be the loss of that
    very minibatch. Any honest sampler passes (with or without replacement, permutations, np.random.default_rng,
    seeded or not)."""
    n, h, c, b = SAMPLING_N, 6, SAMPLING_C, SAMPLING_BATCH
    # C = c + 1 classes: the training labels use the first c, the validation rows only the last. The validation
    # rows are the training rows again, so a validation row drawn into a minibatch moves its row of W1 along a
    # direction no training label gives (a y_batch drawn apart from X_batch only mixes training labels).
    params = {"W1": 0.1 * ctx.rng.standard_normal((n, h)), "b1": 1.0 + ctx.rng.random(h),
              "W2": ctx.rng.standard_normal((h, c + 1)) / math.sqrt(h), "b2": 0.1 * ctx.rng.standard_normal(c + 1)}
    X = np.eye(n)
    y = (ctx.rng.permutation(n) % c).astype(np.int64)
    prob = {"params": params, "X": X, "y": y, "X_val": np.eye(n), "y_val": np.full(n, c, dtype=np.int64)}
    # What one occurrence of sample i in a minibatch of b samples does to row i of dW1, with the student's loss.
    # Two groupings of the samples into minibatches: if they disagree, the student's loss couples the samples of
    # a minibatch (a loss bug, charged to the loss tests) and the draws cannot be read from W1 here.
    shapes_ = {k: v.shape for k, v in params.items()}
    units = []
    for order in (np.arange(n), ctx.rng.permutation(n)):
        unit = np.zeros((n, h))
        for start in range(0, n, b):
            idx = order[start:start + b]
            new_net(ctx, "unit", params)
            _, grads = net_loss(ctx, "unit", X[idx], y[idx], 0.0, shapes_)
            unit[idx] = grads["W1"][idx]
        units.append(unit)
    unit = units[0]
    readable = rel_error(units[0], units[1]) <= 1e-9
    details: dict[str, Any] = {"num_train": n, "batch_size": b, "iterations": SAMPLING_ITERS}
    settings = dict(learning_rate=SAMPLING_LR, learning_rate_decay=1.0, reg=0.0, batch_size=b)
    for run in range(3):
        stats, changed = _train_on_refs(ctx, "sampled", prob, num_iters=1, **settings)
        if changed:
            raise CheckFailed(f"{CLASS}.train modified the caller's {', '.join(changed)} in place",
                              hint="train must not change the data it is given: X[:] = X[order] or np.random.shuffle(X) "
                                   "shuffles the caller's arrays; index a minibatch instead (X_batch = X[indices])",
                              details=dict(details, modified=changed))
        final = _params_after(ctx, "sampled")
        if final["W1"].shape != params["W1"].shape:
            raise CheckFailed(f"params['W1'] changed shape during train: {final['W1'].shape}")
        delta = final["W1"] - params["W1"]
        one = [int(i) for i in np.flatnonzero(np.any(delta != 0, axis=1))]
        details["rows_moved_after_1"] = one
        if not one:
            raise CheckFailed("after one iteration of train (one-hot training rows, reg = 0) W1 did not change at all: "
                              "the minibatch's gradient was not applied", details=details)
        recorded = stats.get("loss_history") if isinstance(stats, dict) else None
        if isinstance(recorded, (list, tuple, np.ndarray)) and len(recorded) > 1 and len(one) > b:
            raise CheckFailed(f"train(num_iters = 1, batch_size = {b}) recorded {len(recorded)} losses and moved "
                              f"the W1 rows of {len(one)} different samples of {n} (one-hot rows: W1 row i moves only "
                              f"when sample i is in a minibatch): it ran {len(recorded)} iterations, not num_iters = 1",
                              hint="Run exactly num_iters iterations, one loop `for it in range(num_iters)` with the "
                                   "epoch bookkeeping inside it (it % iterations_per_epoch == 0); a loop over epochs "
                                   "of int(iterations_per_epoch) steps each runs another number of iterations",
                              details=dict(details, iterations_recorded=len(recorded)))
        if len(one) > b:
            raise CheckFailed(f"one iteration with batch_size = {b} used {len(one)} different samples of "
                              f"{n} (one-hot rows: W1 row i moves only when sample i is in the minibatch)",
                              hint="Each iteration uses a minibatch of batch_size samples (X_batch = X[indices] with "
                                   "batch_size indices), not the whole training set or a fixed number of samples",
                              details=details)
        if not readable:
            continue
        counts: dict[int, float] = {}
        mismatched = []
        for i in one:
            u = unit[i]
            if not np.any(u):
                continue
            k = float(np.dot(delta[i], u) / (-SAMPLING_LR * np.dot(u, u)))
            if rel_error(delta[i], -SAMPLING_LR * k * u) > 1e-6:
                mismatched.append(i)
            counts[i] = k
        if mismatched and _validation_rows_drawn(ctx, prob, delta, unit, mismatched, shapes_, 1.0):
            _validation_rows_failure(mismatched, details)
        if mismatched:
            raise CheckFailed(f"after one iteration, row {mismatched[0]} of W1 (sample {mismatched[0]}, label "
                              f"{int(y[mismatched[0]])}) moved in a direction that no number of draws of that sample "
                              "with its own label gives (one-hot rows, reg = 0): the minibatch pairs samples with "
                              "other samples' labels",
                              hint="Draw the indices once and use them for both: idx = np.random.choice(num_train, "
                                   "batch_size); X_batch = X[idx]; y_batch = y[idx]", details=details)
        whole = all(abs(k - round(k)) < 1e-6 and round(k) >= 1 for k in counts.values())
        if not whole:
            # With the step -learning_rate * grads of a loss averaged over the minibatch, the counts read here
            # always add up to batch_size; counts that are not whole numbers then come from a minibatch of
            # another size. Otherwise the step itself is scaled wrongly: the SGD test charges that.
            _minibatch_size_check(counts, b, details)
            continue
        batch_idx = [i for i, k in counts.items() for _ in range(int(round(k)))]
        details["drawn"] = {str(i): int(round(k)) for i, k in counts.items()}
        if len(batch_idx) != b:
            raise CheckFailed(f"one iteration with batch_size = {b} drew {len(batch_idx)} samples (one-hot rows: each "
                              "draw of sample i moves row i of W1 by one step of its gradient)",
                              hint="A minibatch has exactly batch_size samples: np.random.choice(num_train, batch_size)",
                              details=details)
        losses = stats.get("loss_history") if isinstance(stats, dict) else None
        if isinstance(losses, (list, tuple, np.ndarray)) and len(losses) >= 1:
            recorded = expect_float(losses[0], "train()['loss_history'] entry")
            new_net(ctx, "unit", params)
            batch_loss, _ = net_loss(ctx, "unit", X[batch_idx], y[batch_idx], 0.0, shapes_, need_grads=False)
            if rel_error(recorded, batch_loss) > 1e-8:
                full_loss, _ = net_loss(ctx, "unit", X, y, 0.0, shapes_, need_grads=False)
                hint = ("Record the loss of this iteration's minibatch: loss, grads = self.loss(X_batch, y=y_batch, "
                        "reg=reg); loss_history.append(loss)")
                if rel_error(recorded, full_loss) <= 1e-8:
                    hint = ("loss_history records the loss of the whole training set; the starter records the "
                            "minibatch's loss (the one self.loss(X_batch, y=y_batch, reg=reg) returned)")
                yours, wanted = fmt_pair(recorded, batch_loss)
                raise CheckFailed(f"loss_history[0] is {yours}, but the loss of the minibatch that iteration used "
                                  f"(samples {sorted(batch_idx)}, read from the moves of W1) is {wanted}", hint=hint,
                                  details=details)
    if readable:
        _large_batch_check(ctx, prob, unit * (b / SAMPLING_BIG_BATCH), details)
        _fresh_batches_check(ctx, prob, details)
    _train_on_refs(ctx, "sampled", prob, num_iters=SAMPLING_ITERS, **settings)
    final = _params_after(ctx, "sampled")
    reached = [int(i) for i in np.flatnonzero(np.any(final["W1"] != params["W1"], axis=1))]
    details["rows_moved_after_many"] = len(reached)
    if len(reached) < n:
        never = sorted(set(range(n)) - set(reached))
        prefix = bool(reached) and set(reached) == set(range(max(reached) + 1))
        if len(reached) <= b and not prefix:
            hint = "Draw a fresh minibatch inside the loop, every iteration: the same samples were used every time"
        elif prefix:
            hint = (f"Draw the indices from all num_train samples (np.random.choice(num_train, batch_size)); only "
                    f"the first {len(reached)} samples were ever drawn")
        else:
            hint = "Every training sample must be reachable by the sampler"
        raise CheckFailed(f"after {SAMPLING_ITERS} iterations with batch_size = {b}, samples "
                          f"{', '.join(map(str, never[:8]))}{' ...' if len(never) > 8 else ''} of {n} were never "
                          "used (one-hot rows: W1 row i moves only when sample i is in a minibatch)", hint=hint,
                          details=details)
    return Outcome(f"each iteration drew batch_size = {b} samples with their own labels and recorded that minibatch's "
                   f"loss; batch_size = {SAMPLING_BIG_BATCH} > num_train = {n} drew {SAMPLING_BIG_BATCH} samples; "
                   f"{SAMPLING_ITERS} iterations reached all {n}; at learning_rate = 0 the minibatch losses show a "
                   "fresh minibatch every iteration; X, y, X_val, y_val unchanged", details)


def _validation_rows_failure(rows: list[int], details: dict[str, Any]) -> None:
    many = len(rows) > 1
    raise CheckFailed(f"after one iteration, the W1 row{'s' if many else ''} of sample{'s' if many else ''} "
                      f"{', '.join(map(str, rows))} moved as draws of the validation row with the same one-hot "
                      "vector and its label would (X_val repeats the training rows here, with a label y_val no "
                      "training sample has), with or without draws of the training sample itself: your minibatches "
                      "include validation rows (X_val, y_val)",
                      hint="Draw the minibatch from the training data only: idx = np.random.choice(num_train, "
                           "batch_size); X_batch = X[idx]; y_batch = y[idx]. X_val and y_val only measure "
                           "the validation accuracy; training on them makes it meaningless",
                      details=details)


def _validation_rows_drawn(ctx: Context, prob: dict[str, Any], delta: np.ndarray, unit: np.ndarray,
                           rows: list[int], shapes_: dict[str, tuple[int, ...]], scale: float) -> bool:
    """Whether the rows of W1 that moved along no multiple of their own label's gradient moved as a mix of the
    training sample (its label) and the validation row of the same one-hot vector (its label y_val): validation
    rows drawn into the minibatch. ``scale`` converts one occurrence in a minibatch of SAMPLING_BATCH to the
    minibatch size of the run. Asked only once the check has failed."""
    X_val, y_val, X = prob["X_val"], prob["y_val"], prob["X"]
    nv, b = X_val.shape[0], SAMPLING_BATCH
    if nv % b or not np.array_equal(X_val, X):
        return False
    val_unit = np.zeros_like(unit)
    for start in range(0, nv, b):
        idx = np.arange(start, start + b)
        new_net(ctx, "unit_val", prob["params"])
        _, grads = net_loss(ctx, "unit_val", X_val[idx], y_val[idx], 0.0, shapes_)
        val_unit[idx] = grads["W1"][idx] * scale
    for i in rows:
        v = val_unit[i]
        A = np.stack([unit[i], v], axis=1) * -SAMPLING_LR
        coef, *_ = np.linalg.lstsq(A, delta[i], rcond=None)
        if rel_error(A @ coef, delta[i]) > 1e-6 or coef[1] < 0.5 or coef[0] < -1e-6:
            return False
    return True


def _read_draws(delta: np.ndarray, unit: np.ndarray, lr: float) -> tuple[dict[int, float], list[int]]:
    """How often each sample was drawn, read from the move of its one-hot row of W1 in units of what one draw does
    (``unit``: one occurrence in a minibatch of the size asked for); rows whose move is along no multiple of it."""
    counts: dict[int, float] = {}
    mismatched = []
    for i in (int(i) for i in np.flatnonzero(np.any(delta != 0, axis=1))):
        u = unit[i]
        if not np.any(u):
            continue
        k = float(np.dot(delta[i], u) / (-lr * np.dot(u, u)))
        if rel_error(delta[i], -lr * k * u) > 1e-6:
            mismatched.append(i)
        counts[i] = k
    return counts, mismatched


BATCH_SIZE_HINT = ("Every iteration trains on exactly batch_size samples, drawn with replacement: idx = "
                   "np.random.choice(num_train, batch_size); X_batch = X[idx]; y_batch = y[idx] (without replacement "
                   "only when batch_size <= num_train). A slice that runs past the end of X, np.unique of the indices, "
                   "or batch_size capped at num_train give minibatches of another size")


def _minibatch_size_check(counts: dict[int, float], b: int, details: dict[str, Any]) -> None:
    """Counts that add up to batch_size but are not whole numbers: the minibatch had another size. Each sample's
    share of the minibatch is count / batch_size; the smallest minibatch with those shares has the common
    denominator of the shares as its size (the true one is a multiple of it)."""
    from fractions import Fraction

    total = sum(counts.values())
    if not counts or abs(total - b) > 1e-6 * b:
        return
    shares = {i: Fraction(k / b).limit_denominator(4 * b + 64) for i, k in counts.items()}
    if any(abs(float(f) - k / b) > 1e-6 for f, k in zip(shares.values(), counts.values())):
        return
    m = 1
    for f in shares.values():
        m = m * f.denominator // math.gcd(m, f.denominator)
    if m == b:
        return
    drawn = {i: int(shares[i] * m) for i in sorted(shares)}
    details["minibatch_size_read"] = m
    details["drawn_in_smallest_batch"] = {str(i): c for i, c in drawn.items()}
    listing = ", ".join(f"sample {i}" + (f" x{c}" if c > 1 else "") for i, c in list(drawn.items())[:8])
    listing += ", ..." if len(drawn) > 8 else ""
    raise CheckFailed(f"one iteration with batch_size = {b}: your minibatch had {m} samples"
                      f"{'' if m > b else f' (or a multiple of {m})'}, not {b} "
                      f"({listing}; one-hot rows: each sample's share of the minibatch is read from the move of its "
                      f"row of W1, and shares of 1/{m} are no whole number of draws out of {b})",
                      hint=BATCH_SIZE_HINT, details=details)


SAMPLING_BIG_BATCH = 17  # > SAMPLING_N and prime: any minibatch of fewer samples gives shares no 17 draws give


def _large_batch_check(ctx: Context, prob: dict[str, Any], unit: np.ndarray, details: dict[str, Any]) -> None:
    """batch_size = 17 > num_train = 16 (the toy training's 200 > 5): a minibatch still has batch_size samples,
    drawn with replacement. 17 is prime, so a minibatch of m < 17 samples (some of them repeated) gives shares
    c_i / m that are no whole number of 17 draws, unless it holds a single sample (17 draws of one sample out of
    16: probability 16**-16 for a correct sampler)."""
    n, b = prob["X"].shape[0], SAMPLING_BIG_BATCH
    try:
        _student_train(ctx, "big_batch", prob, learning_rate=SAMPLING_LR, learning_rate_decay=1.0, reg=0.0,
                       num_iters=1, batch_size=b)
    except StudentCodeError as err:
        if "larger sample than population" in err.exc_message:
            return  # sampling without replacement: the toy training's test charges it
        raise
    final = _params_after(ctx, "big_batch")
    if final["W1"].shape != prob["params"]["W1"].shape:
        return
    delta = final["W1"] - prob["params"]["W1"]
    counts, mismatched = _read_draws(delta, unit, SAMPLING_LR)
    if mismatched and _validation_rows_drawn(ctx, prob, delta, unit, mismatched,
                                             {k: v.shape for k, v in prob["params"].items()}, SAMPLING_BATCH / b):
        _validation_rows_failure(mismatched, dict(details, batch_size=b))
    if mismatched or not counts:
        return  # the one-iteration runs above name these
    details["drawn_batch_17"] = {str(i): round(k, 6) for i, k in counts.items()}
    whole = all(abs(k - round(k)) < 1e-6 and round(k) >= 1 for k in counts.values())
    if not whole:
        _minibatch_size_check(counts, b, dict(details, batch_size=b))
        return
    if len(counts) == 1 and abs(sum(counts.values()) - b) < 1e-6:
        (i,) = counts
        raise CheckFailed(f"one iteration with batch_size = {b} > num_train = {n} trained on sample {i} alone (its row "
                          f"of W1 moved as {b} draws of it would; {b} draws from {n} samples all landing on one has "
                          f"probability {n}**-{b - 1}): your minibatch had 1 sample, not {b}",
                          hint=BATCH_SIZE_HINT, details=details)


SAMPLING_FRESH_ITERS = 8  # two epochs of 4 iterations at num_train = 16, batch_size = 4


def _fresh_batches_check(ctx: Context, prob: dict[str, Any], details: dict[str, Any]) -> None:
    """A fresh minibatch every iteration. At learning_rate = 0 the parameters never change, so loss_history holds
    the loss of each iteration's minibatch as it was drawn; the samples' losses differ (random W1 rows), so two
    minibatches give the same loss only when they hold the same samples: for 4 draws out of 16 about once in
    4,000 pairs. A minibatch drawn once per epoch (or once) repeats its loss at every iteration of the epoch."""
    n, b, iters = prob["X"].shape[0], SAMPLING_BATCH, SAMPLING_FRESH_ITERS
    stats = _student_train(ctx, "fresh", prob, learning_rate=0.0, learning_rate_decay=1.0, reg=0.0,
                           num_iters=iters, batch_size=b)
    losses = stats.get("loss_history") if isinstance(stats, dict) else None
    if not isinstance(losses, (list, tuple, np.ndarray)) or len(losses) != iters:
        return  # the SGD test charges the history's length
    try:
        values = [float(v) for v in losses]
    except (TypeError, ValueError):
        return
    if not all(math.isfinite(v) for v in values):
        return
    same = [t for t in range(1, iters) if abs(values[t] - values[t - 1]) <= 1e-12 * max(1.0, abs(values[t]))]
    details["fresh_loss_history"] = values
    if len(same) < 3:
        return
    per_epoch = _per_epoch(n, b)
    if len(same) == iters - 1:
        how = "the same minibatch was used at every iteration"
    elif all(t % per_epoch != 0 for t in same):
        how = (f"the minibatch changed only at the epochs' first iterations ({', '.join(map(str, _epoch_starts(n, b, iters)))}, "
               f"iterations_per_epoch = {per_epoch:g}): it was drawn once per epoch and reused")
    else:
        how = "minibatches were reused across iterations"
    raise CheckFailed(f"with learning_rate = 0 (the parameters never change) and one-hot training rows whose losses "
                      f"all differ, loss_history over {iters} iterations with batch_size = {b} of {n} samples is "
                      f"{', '.join(f'{v:.10g}' for v in values)}: {len(same)} of {iters - 1} consecutive entries are "
                      f"equal, so {how} (fresh minibatches of {b} out of {n} repeat one about once in 4,000 pairs)",
                      hint="Draw a fresh minibatch inside the loop, at every iteration (idx = np.random.choice("
                           "num_train, batch_size) before self.loss), not once per epoch or once before the loop",
                      details=details)
