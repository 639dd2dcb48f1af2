"""Checks for the 2021+ edition's modular layers (``cs231n/layers.py``) and ``TwoLayerNet`` (``fc_net.py``).

Each layer is checked against its specification on inputs where every clause shows (4-D inputs to the
affine layer, ``N == M`` where a bias gradient summed over the wrong axis has the right shape, ties and
absent classes for the losses, +1000 on every score), against the reference, against numerical gradients
of the student's own forward pass, and for changes to its inputs. The net is checked with the notebook's
published values (``3.4702243556`` at ``reg = 0``, ``26.5948426952`` at ``reg = 1``: this edition's
``0.5 * reg * sum(W*W)``), its initialisation statistics, and its gradients with non-zero biases.
"""

from __future__ import annotations

import ast
import math
from typing import Any

import numpy as np

from worker.checks.compare import check_close, rel_error
from worker.checks.context import CheckFailed, Context, Outcome
from worker.checks.diagnosis import diagnose
from worker.checks.gradients import gradient_check
from worker.checks.values import expect_array, expect_float, expect_pair, type_name
from worker.sandbox.protocol import Ref

LAYERS = "cs231n.layers"
NET = "cs231n.classifiers.fc_net"
CLASS = "TwoLayerNet"
KEYS = ("W1", "b1", "W2", "b2")
TOL = 1e-7
LOSS_TOL = 1e-8
NUMERIC_TOL = 1e-5

# The notebook's published values (FullyConnectedNets.ipynb / two_layer_net.ipynb, 2021+).
AFFINE_OUT = np.array([[1.49834967, 1.70660132, 1.91485297], [3.25553199, 3.5141327, 3.77273342]])
NET_LOSS_REG0 = 3.4702243556
NET_LOSS_REG1 = 26.5948426952
# reg * (sum(W1^2) + sum(W2^2)) at reg = 1 is 2 * (26.5948426952 - 3.4702243556): the 2017 convention's value.
NET_LOSS_FULL_REG1 = NET_LOSS_REG0 + 2 * (NET_LOSS_REG1 - NET_LOSS_REG0)


def _call(ctx: Context, name: str, *args: Any) -> Any:
    return ctx.student.call(name, *args, module=LAYERS)


def _diagnose(ctx: Context, kind: str, args: tuple[Any, ...], student: dict[str, Any], expected: dict[str, Any],
              failing: list[str], what: str) -> tuple[str | None, list[str]]:
    if not ctx.catalog:
        return None, []
    found = diagnose(ctx.catalog, kind, kind, args, student, expected, failing)
    return found.hint(what), found.ids()


def _fail_with_diagnosis(ctx: Context, failure: CheckFailed, kind: str, args: tuple[Any, ...],
                         student: dict[str, Any], expected: dict[str, Any], failing: list[str], what: str,
                         notes: dict[str, str | None] | None = None) -> None:
    """Raise ``failure`` with the catalogue's hint; ``notes`` add a sentence when their mistake is the one named."""
    hint, ids = _diagnose(ctx, kind, args, student, expected, failing, what)
    if hint:
        note = (notes or {}).get(ids[0]) if ids else None
        failure.hint = f"{hint} {note}" if note else hint
        failure.details["mistakes"] = ids
    raise failure


# --------------------------------------------------------------------------- affine


def _affine_inputs(rng: np.random.Generator, shape: tuple[int, ...], m: int) -> tuple[np.ndarray, ...]:
    d = int(np.prod(shape[1:]))
    x = rng.standard_normal(shape)
    w = rng.standard_normal((d, m)) / math.sqrt(d)
    b = rng.standard_normal(m)
    return x, w, b


def affine_forward_notebook(ctx: Context) -> Outcome:
    """The notebook's test: x of shape (2, 4, 5, 6) from a linspace, published output to 8 decimals."""
    x = np.linspace(-0.1, 0.5, num=2 * 120).reshape(2, 4, 5, 6)
    w = np.linspace(-0.2, 0.3, num=120 * 3).reshape(120, 3)
    b = np.linspace(-0.3, 0.1, num=3)
    out, _ = expect_pair(_call(ctx, "affine_forward", x, w, b), "affine_forward", "out", "cache")
    out = expect_array(out, "the out returned by affine_forward", (2, 3),
                       hint="reshape x to (N, D) = (x.shape[0], -1) before the product")
    check_close("affine_forward on the notebook's (2, 4, 5, 6) input", out, AFFINE_OUT, 1e-7,
                axis_names=("sample", "output"), hint=flatten_hint(x, w, b, out))
    return Outcome("affine_forward reproduces the notebook's values (4-D input)")


def flatten_hint(x: np.ndarray, w: np.ndarray, b: np.ndarray, out: np.ndarray) -> str | None:
    """Name a flattening of x to (N, D) that has the right shape but not one row per sample in C order.

    The contract: row i of the flattened x is sample i's entries, in the order w's rows expect (C order, as
    x.reshape(N, -1) gives). x.reshape(D, -1).T (the same array as x.reshape(-1, N).T) has the shape (N, D)
    but fills each row with entries of several samples; x.reshape(N, -1, order='F') keeps the samples but
    permutes their entries. Only named when the student's out is exactly that product and differs from the
    right one (N > 1, or more than one dimension per sample).
    """
    n = x.shape[0]
    d = int(np.prod(x.shape[1:]))
    if out.shape != (n, w.shape[1]) or not np.all(np.isfinite(out)):
        return None
    right = x.reshape(n, -1).dot(w) + b
    wrong = (
        (x.reshape(d, -1).T, "x.reshape(D, -1).T (the same as x.reshape(-1, N).T): it has the right shape (N, D), "
                             "but x is flattened in the wrong order, so each row mixes entries of different "
                             "samples (the two agree only when N == 1). Flatten one row per sample: "
                             "x.reshape(x.shape[0], -1)"),
        (x.reshape(n, -1, order="F"), "x.reshape(N, -1, order='F'): each row is one sample, but its entries are in "
                                      "Fortran (column-major) order, not the order of w's rows. Use "
                                      "x.reshape(x.shape[0], -1) (C order)"),
    )
    for flat, text in wrong:
        variant = flat.dot(w) + b
        if rel_error(variant, right) > 1e-6 and rel_error(out, variant) <= 1e-6:
            return f"Your out equals x2.dot(w) + b with x2 = {text}"
    return None


# 4-D, 2-D, 3-D, and N == D == M (the last: 4 samples of shape (2, 2), M = 4), where a bias gradient summed
# over the wrong axis and a transposed dw have the right shapes.
AFFINE_SHAPES = ((7, 3, 4, 2), (5, 8), (6, 2, 3), (4, 2, 2))
AFFINE_M = (5, 3, 4, 4)


def affine_forward_reference(ctx: Context) -> Outcome:
    for shape, m in zip(AFFINE_SHAPES, AFFINE_M):
        x, w, b = _affine_inputs(ctx.rng, shape, m)
        out, _ = expect_pair(_call(ctx, "affine_forward", x, w, b), "affine_forward", "out", "cache")
        expected, _ = ctx.reference.affine_forward(x, w, b)
        out = expect_array(out, f"the out returned by affine_forward for x of shape {shape}", expected.shape,
                           hint="reshape x to (N, D) = (x.shape[0], -1): x may have any number of dimensions")
        check_close(f"affine_forward out, x of shape {shape}", out, expected, TOL, axis_names=("sample", "output"),
                    hint=flatten_hint(x, w, b, out))
    return Outcome("affine_forward matches the reference for 2-, 3- and 4-D inputs")


def _affine_backward(ctx: Context, x: np.ndarray, w: np.ndarray, b: np.ndarray, dout: np.ndarray,
                     forward: list[Any] | None = None) -> tuple[Any, ...]:
    """The student's backward pass, with the cache the student's own forward pass built (whose out is appended
    to ``forward`` when given)."""
    out, cache = expect_pair(_call(ctx, "affine_forward", x, w, b), "affine_forward", "out", "cache")
    if forward is not None:
        forward.append(out)
    if not isinstance(cache, (tuple, list)):
        raise CheckFailed(f"affine_forward's cache is {type_name(cache)}; the course's cache is (x, w, b)")
    value = _call(ctx, "affine_backward", dout, tuple(cache))
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise CheckFailed(f"affine_backward should return (dx, dw, db), but it returned {type_name(value)}")
    return tuple(value)


def affine_backward_reference(ctx: Context) -> Outcome:
    for shape, m in zip(AFFINE_SHAPES, AFFINE_M):
        x, w, b = _affine_inputs(ctx.rng, shape, m)
        dout = ctx.rng.standard_normal((shape[0], m))
        dx, dw, db = _affine_backward(ctx, x, w, b, dout)
        edx, edw, edb = ctx.reference.affine_backward(dout, (x, w, b))
        hints = {"dx": "dx has the shape of x, (N, d_1, ..., d_k): reshape dout.dot(w.T) to x.shape",
                 "dw": "dw = x.reshape(N, -1).T.dot(dout), shaped like w (D, M)",
                 "db": "db sums dout over the samples: np.sum(dout, axis=0), shaped like b (M,)"}
        got = {}
        for name, value, expected in (("dx", dx, edx), ("dw", dw, edw), ("db", db, edb)):
            got[name] = expect_array(value, f"the {name} returned by affine_backward (x of shape {shape})",
                                     expected.shape, hint=hints[name])
        for name, expected in (("dx", edx), ("dw", edw), ("db", edb)):
            try:  # noqa: SIM105
                check_close(f"affine_backward {name}, x of shape {shape}, M = {m}", got[name], expected, TOL,
                            param=name)
            except CheckFailed as failure:
                failing = [k for k, e in (("dx", edx), ("dw", edw), ("db", edb)) if rel_error(got[k], e) > TOL]
                _fail_with_diagnosis(ctx, failure, "affine_backward", (x, w, b, dout), got,
                                     {"dx": edx, "dw": edw, "db": edb}, failing, " and ".join(failing))
    return Outcome("affine_backward matches the reference for 2-, 3- and 4-D inputs, and with N == M")


def affine_backward_numeric(ctx: Context) -> Outcome:
    """dx, dw, db against central differences of sum(affine_forward(x, w, b) * dout).

    The forward pass differentiated is the student's own, unless the reference is at hand and the student's
    forward pass disagrees with it on these inputs: then the backward pass is checked against the correct
    forward pass, so that a wrong affine_forward costs only affine_forward's tests (the output says which was
    used). Without the reference (``grader check``) it is always the student's.
    """
    x, w, b = _affine_inputs(ctx.rng, (4, 3, 2, 2), 5)
    dout = ctx.rng.standard_normal((4, 5))
    forward: list[Any] = []
    dx, dw, db = _affine_backward(ctx, x, w, b, dout, forward)
    inputs = {"dx": x, "dw": w, "db": b}
    got = {"dx": dx, "dw": dw, "db": db}
    for name, value in got.items():
        got[name] = expect_array(value, f"the {name} returned by affine_backward", inputs[name].shape)

    use_reference = False
    if ctx.has_reference:
        expected_out = ctx.reference.affine_forward(x, w, b)[0]
        out = forward[0]
        use_reference = not (isinstance(out, np.ndarray) and out.shape == expected_out.shape
                             and np.all(np.isfinite(out)) and rel_error(out, expected_out) <= TOL)
    which = ("the correct affine_forward (yours disagrees with it on these inputs, so its numerical gradient "
             "would not say whether affine_backward is right; see affine_forward's tests)" if use_reference
             else "your affine_forward")

    for position, (name, at) in enumerate(inputs.items()):
        def f_many(vs: list[np.ndarray], position: int = position) -> list[float]:
            if use_reference:
                outs = []
                for v in vs:
                    args = [x, w, b]
                    args[position] = v
                    outs.append(ctx.reference.affine_forward(*args)[0])
                return [float(np.sum(out * dout)) for out in outs]
            values = ctx.student.call_each("affine_forward", (x, w, b), position, vs, module=LAYERS)
            outs = [expect_pair(value, "affine_forward", "out", "cache")[0] for value in values]
            return [float(np.sum(expect_array(out, "the out returned by affine_forward", dout.shape) * dout))
                    for out in outs]

        gc = gradient_check(None, at, got[name], ctx.rng, coordinates=4, directions=2, tol=NUMERIC_TOL,
                            f_many=f_many)
        worst = gc.worst()
        if worst is not None and worst.rel_error > NUMERIC_TOL:
            hint = None
            out = forward[0]
            if not use_reference and isinstance(out, np.ndarray) and out.shape == dout.shape:
                right = x.reshape(x.shape[0], -1).dot(w) + b
                if not np.all(np.isfinite(out)) or rel_error(out, right) > TOL:
                    hint = ("Your affine_forward's out is not x.reshape(N, -1).dot(w) + b on these inputs, and this "
                            "test differentiates it: fix affine_forward first (its own tests say how), then "
                            "look at affine_backward again")
            raise CheckFailed(f"affine_backward's {name} disagrees with the numerical gradient of {which}: "
                              f"relative error {worst.rel_error:.3e} > {NUMERIC_TOL:g} (analytic "
                              f"{worst.analytic:.6g}, numerical {worst.numeric:.6g})", hint=hint,
                              details=gc.details())
    return Outcome(f"dx, dw and db match central differences of {which}")


# --------------------------------------------------------------------------- relu


def relu_forward_spec(ctx: Context) -> Outcome:
    x = ctx.rng.standard_normal((6, 3, 4))
    ctx.student.put("relu_x", x)
    value = ctx.student.call("relu_forward", Ref("relu_x"), module=LAYERS)
    out, _ = expect_pair(value, "relu_forward", "out", "cache")
    out = expect_array(out, "the out returned by relu_forward", x.shape)
    after = ctx.student.get("relu_x")
    if not isinstance(after, np.ndarray) or not np.array_equal(after, x):
        raise CheckFailed("relu_forward modified its input x in place",
                          hint="x[x < 0] = 0 changes the caller's array (and the cache): use np.maximum(0, x)")
    check_close("relu_forward out", out, np.maximum(0, x), 0.0 + 1e-12)
    return Outcome("relu_forward is max(0, x), leaving x unchanged")


def relu_backward_spec(ctx: Context) -> Outcome:
    x = ctx.rng.standard_normal((5, 4, 3))
    dout = ctx.rng.standard_normal(x.shape)
    _, cache = expect_pair(ctx.student.call("relu_forward", x, module=LAYERS), "relu_forward", "out", "cache")
    ctx.student.put("relu_dout", dout)
    ctx.student.put("relu_cache", cache)
    dx = ctx.student.call("relu_backward", Ref("relu_dout"), Ref("relu_cache"), module=LAYERS)
    dx = expect_array(dx, "the dx returned by relu_backward", x.shape)
    if not np.array_equal(ctx.student.get("relu_dout"), dout):
        raise CheckFailed("relu_backward modified its input dout in place",
                          hint="dout[x <= 0] = 0 changes the upstream gradient the caller still holds: compute "
                               "dx = dout * (x > 0) into a new array")
    expected = dout * (x > 0)
    try:
        check_close("relu_backward dx", dx, expected, 1e-12)
    except CheckFailed as failure:
        _fail_with_diagnosis(ctx, failure, "relu_backward", (x, dout), {"dx": dx}, {"dx": expected}, ["dx"], "dx")
    return Outcome("relu_backward is dout where x > 0 and 0 elsewhere, leaving dout unchanged")


# --------------------------------------------------------------------------- losses


def _loss_regimes(rng: np.random.Generator) -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    n, c = int(rng.integers(20, 50)), int(rng.integers(3, 11))
    y = rng.integers(0, c, size=n)
    y[:c] = rng.permutation(c)
    out.append(("random scores", rng.standard_normal((n, c)), y))
    out.append(("two classes", rng.standard_normal((15, 2)), rng.integers(0, 2, size=15)))
    c = int(rng.integers(6, 10))
    out.append(("fewer samples than classes, the highest absent", rng.standard_normal((4, c)),
                rng.integers(0, c - 1, size=4)))
    x = rng.integers(-2, 3, size=(30, 5)).astype(np.float64)
    out.append(("integer scores: ties and margins exactly 0", x, rng.integers(0, 5, size=30)))
    return [(name, x, np.asarray(y, dtype=np.int64)) for name, x, y in out]


def _loss_vs_reference(ctx: Context, func: str) -> Outcome:
    reference = getattr(ctx.reference, func)
    for name, x, y in _loss_regimes(ctx.rng):
        loss, dx = expect_pair(_call(ctx, func, x, y), func, "loss", "dx")
        loss = expect_float(loss, f"the loss returned by {func}")
        dx = expect_array(dx, f"the dx returned by {func}", x.shape)
        exp_loss, exp_dx = reference(x, y)
        accepted = [exp_dx]
        if func == "svm_loss" and "ties" in name:
            accepted += ctx.reference.svm_subgradient_alternatives(x, y)
        student, expected = {"loss": loss, "dx": dx}, {"loss": exp_loss, "dx": exp_dx}
        try:
            check_close(f"{func} loss ({name}: N={x.shape[0]}, C={x.shape[1]})", loss, exp_loss, LOSS_TOL)
        except CheckFailed as failure:
            _fail_with_diagnosis(ctx, failure, func, (x, y), student, expected, ["loss"], "loss")
        if any(rel_error(dx, a) <= TOL for a in accepted[1:]):
            continue
        try:
            check_close(f"{func} dx ({name}: N={x.shape[0]}, C={x.shape[1]})", dx, exp_dx, TOL,
                        axis_names=("sample", "class"), param="dx")
        except CheckFailed as failure:
            _fail_with_diagnosis(ctx, failure, func, (x, y), student, expected, ["dx"], "dx")
    return Outcome(f"{func} matches the reference: random scores, two classes, N < C, ties")


def svm_loss_reference(ctx: Context) -> Outcome:
    return _loss_vs_reference(ctx, "svm_loss")


def softmax_loss_reference(ctx: Context) -> Outcome:
    return _loss_vs_reference(ctx, "softmax_loss")


def losses_known_values(ctx: Context) -> Outcome:
    """All scores equal: svm_loss is C - 1 and softmax_loss log C; +1000 on every score changes nothing."""
    n, c = 13, 7
    y = ctx.rng.integers(0, c, size=n).astype(np.int64)
    x = np.zeros((n, c))
    for func, expected, formula in (("svm_loss", c - 1.0, "C - 1"), ("softmax_loss", math.log(c), "log C")):
        loss, _ = expect_pair(_call(ctx, func, x, y), func, "loss", "dx")
        loss = expect_float(loss, f"the loss returned by {func}")
        if abs(loss - expected) > 1e-9 * expected:
            hint = None
            if abs(loss - expected * n) < 1e-6 * n:
                hint = "The loss is summed but not averaged over the N samples"
            elif func == "svm_loss" and abs(loss - c) < 1e-9:
                hint = "The correct class's own margin (always 1) is counted: skip j == y[i]"
            raise CheckFailed(f"{func} with all scores equal (N={n}, C={c}) returned {loss!r}; expected {formula} = "
                              f"{expected:.10g}", hint=hint)
    scores = ctx.rng.standard_normal((n, c))
    base_loss, base_dx = expect_pair(_call(ctx, "softmax_loss", scores, y), "softmax_loss", "loss", "dx")
    shifted = expect_pair(_call(ctx, "softmax_loss", scores + 1000.0, y), "softmax_loss", "loss", "dx")
    hint = ("The exponentials overflow at large scores: subtract each row's maximum before np.exp (the softmax "
            "does not change)")
    loss_s = expect_float(shifted[0], "the loss returned by softmax_loss at scores + 1000", hint=hint)
    dx_s = expect_array(shifted[1], "the dx returned by softmax_loss at scores + 1000", scores.shape, hint=hint)
    check_close("softmax_loss after adding 1000 to every score", loss_s, expect_float(base_loss, "loss"), 1e-6,
                hint=hint)
    check_close("softmax_loss dx after adding 1000 to every score", dx_s,
                expect_array(base_dx, "dx", scores.shape), 1e-6, hint=hint)
    return Outcome("svm_loss is C - 1 and softmax_loss log C at equal scores; softmax_loss is stable at +1000")


def losses_numeric(ctx: Context) -> Outcome:
    """dx against central differences of the student's own loss (kink-aware for the SVM)."""
    for func in ("svm_loss", "softmax_loss"):
        x = ctx.rng.standard_normal((9, 5))
        y = ctx.rng.integers(0, 5, size=9).astype(np.int64)
        _, dx = expect_pair(_call(ctx, func, x, y), func, "loss", "dx")
        dx = expect_array(dx, f"the dx returned by {func}", x.shape)

        def f_many(vs: list[np.ndarray], func: str = func, y: np.ndarray = y) -> list[float]:
            return [expect_float(expect_pair(value, func, "loss", "dx")[0], f"the loss returned by {func}")
                    for value in ctx.student.call_each(func, (x, y), 0, vs, module=LAYERS)]

        gc = gradient_check(None, x, dx, ctx.rng, coordinates=6, directions=3, tol=NUMERIC_TOL, f_many=f_many)
        worst = gc.worst()
        if worst is not None and worst.rel_error > NUMERIC_TOL:
            raise CheckFailed(f"{func}'s dx disagrees with the numerical gradient of its own loss: relative error "
                              f"{worst.rel_error:.3e} > {NUMERIC_TOL:g} (analytic {worst.analytic:.6g}, numerical "
                              f"{worst.numeric:.6g})", details=gc.details())
    return Outcome("svm_loss's and softmax_loss's dx match central differences of their losses")


def losses_no_mutation(ctx: Context) -> Outcome:
    """The losses must not change the scores they are given (real 2022 code did: logits = x; logits -= max)."""
    changed = []
    for func in ("svm_loss", "softmax_loss"):
        x = ctx.rng.standard_normal((8, 4)) + 3.0
        y = ctx.rng.integers(0, 4, size=8).astype(np.int64)
        ctx.student.put("loss_x", x)
        ctx.student.call(func, Ref("loss_x"), y, module=LAYERS, reply=False)
        after = ctx.student.get("loss_x")
        if not isinstance(after, np.ndarray) or not np.array_equal(after, x):
            changed.append(func)
    if changed:
        raise CheckFailed(f"{' and '.join(changed)} modified the scores x in place",
                          hint="logits = x does not copy: logits -= max changes the caller's x. Use "
                               "x - np.max(x, axis=1, keepdims=True), which makes a new array")
    return Outcome("svm_loss and softmax_loss leave x unchanged")


# --------------------------------------------------------------------------- TwoLayerNet


def _new_net(ctx: Context, name: str, d: int, h: int, c: int, *, reg: float = 0.0, weight_scale: float = 1e-3,
             params: dict[str, np.ndarray] | None = None) -> None:
    ctx.student.seed(ctx.seed_int())
    ctx.student.new(name, CLASS, input_dim=d, hidden_dim=h, num_classes=c, weight_scale=weight_scale, reg=reg,
                    module=NET)
    if params:
        ctx.student.setitems(name, "params", params)


def _notebook_problem() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    n, d, h, c = 3, 5, 50, 7
    params = {"W1": np.linspace(-0.7, 0.3, num=d * h).reshape(d, h), "b1": np.linspace(-0.1, 0.9, num=h),
              "W2": np.linspace(-0.3, 0.4, num=h * c).reshape(h, c), "b2": np.linspace(-0.9, 0.1, num=c)}
    X = np.linspace(-5.5, 4.5, num=n * d).reshape(d, n).T
    return params, X, np.array([0, 5, 1], dtype=np.int64)


def _net_loss(ctx: Context, name: str, X: np.ndarray, y: np.ndarray, shapes: dict[str, tuple[int, ...]],
              need_grads: bool = True) -> tuple[float, dict[str, np.ndarray]]:
    value = ctx.student.call_method(name, "loss", X, y, label=f"{CLASS}.loss")
    loss, grads = expect_pair(value, f"{CLASS}.loss(X, y)", "loss", "grads")
    loss = expect_float(loss, f"the loss returned by {CLASS}.loss")
    if not need_grads:
        return loss, {}
    if not isinstance(grads, dict) or set(grads) != set(KEYS):
        raise CheckFailed(f"grads returned by {CLASS}.loss should be a dict with exactly the keys W1, b1, W2, b2; it "
                          f"is {type_name(grads) if not isinstance(grads, dict) else sorted(map(str, grads))}")
    return loss, {k: expect_array(grads[k], f"grads['{k}']", shapes[k]).astype(np.float64) for k in KEYS}


def net_init(ctx: Context) -> Outcome:
    """Weights drawn from N(0, weight_scale^2), biases zero, shapes (D, H), (H,), (H, C), (C,); reg kept."""
    d, h, c, scale = 120, 80, 10, 0.05
    _new_net(ctx, "init", d, h, c, weight_scale=scale, reg=0.3)
    params = ctx.student.get("init", "params", label=f"reading {CLASS}.params")
    if not isinstance(params, dict):
        raise CheckFailed(f"{CLASS}.params is {type_name(params)}, not a dict")
    shapes = {"W1": (d, h), "b1": (h,), "W2": (h, c), "b2": (c,)}
    for key, shape in shapes.items():
        value = expect_array(params.get(key), f"params['{key}'] after __init__", shape)
        if key.startswith("b"):
            if np.any(value != 0):
                raise CheckFailed(f"params['{key}'] is not zero after __init__", hint="biases start at zero")
            continue
        std, mean = float(value.std()), float(value.mean())
        # 9,600 and 800 draws: the standard deviation is within 10% and the mean within 0.15 * scale with
        # overwhelming probability for a correct N(0, scale^2) draw.
        if not (0.9 * scale < std < 1.1 * scale) or abs(mean) > 0.15 * scale:
            raise CheckFailed(f"params['{key}'] has mean {mean:.3g} and standard deviation {std:.3g} with "
                              f"weight_scale = {scale}; expected mean 0 and standard deviation {scale}",
                              hint="weights are weight_scale * np.random.randn(...): a Gaussian with standard "
                                   "deviation weight_scale, not a uniform draw or a variance of weight_scale")
    reg = ctx.student.get("init", "reg", label=f"reading {CLASS}.reg")
    if not isinstance(reg, (int, float)) or abs(float(reg) - 0.3) > 1e-12:
        raise CheckFailed(f"{CLASS}.reg is {reg!r} after TwoLayerNet(..., reg=0.3); keep the reg argument as self.reg")
    return Outcome("initialisation: zero biases, weights N(0, weight_scale^2), shapes and reg as specified")


def net_notebook_values(ctx: Context) -> Outcome:
    """The notebook's linspace net: scores when y is None, and the losses 3.4702243556 (reg 0), 26.5948426952 (reg 1)."""
    params, X, y = _notebook_problem()
    d, h = params["W1"].shape
    c = params["W2"].shape[1]
    hidden = np.maximum(0, X.dot(params["W1"]) + params["b1"])
    expected_scores = hidden.dot(params["W2"]) + params["b2"]
    _new_net(ctx, "nb", d, h, c, params=params)
    scores = ctx.student.call_method("nb", "loss", X, label=f"{CLASS}.loss")
    if isinstance(scores, tuple):
        raise CheckFailed(f"{CLASS}.loss(X) without y should return the scores, but it returned {type_name(scores)}")
    scores = expect_array(scores, f"the scores returned by {CLASS}.loss(X)", (3, c))
    check_close("scores of the notebook's net (y is None)", scores, expected_scores, 1e-6,
                axis_names=("sample", "class"), param="scores", hint=probabilities_hint(scores, expected_scores))
    # Random parameters with non-zero biases: some scores are negative (the notebook's are not all), so a ReLU on
    # the output layer, or a bias left out, shows without the reference.
    rparams, rX, _ = _random_net(ctx.rng)
    rd, rh = rparams["W1"].shape
    rc = rparams["W2"].shape[1]
    rexpected = np.maximum(0, rX.dot(rparams["W1"]) + rparams["b1"]).dot(rparams["W2"]) + rparams["b2"]
    _new_net(ctx, "rnd", rd, rh, rc, params=rparams)
    rscores = ctx.student.call_method("rnd", "loss", rX, label=f"{CLASS}.loss")
    if isinstance(rscores, tuple):
        raise CheckFailed(f"{CLASS}.loss(X) without y should return the scores, but it returned {type_name(rscores)}")
    rscores = expect_array(rscores, f"the scores returned by {CLASS}.loss(X)", rexpected.shape)
    hint = probabilities_hint(rscores, rexpected)
    if hint is None and rel_error(rscores, np.maximum(0, rexpected)) < 1e-9:
        hint = ("Your scores are the right scores with a ReLU applied (negative ones are 0): the output layer is a "
                "plain affine layer (affine_forward, and affine_backward in the backward pass)")
    check_close(f"scores of a random net with non-zero biases (N={rX.shape[0]}, D={rd}, H={rh}, C={rc}; y is None)",
                rscores, rexpected, 1e-7, axis_names=("sample", "class"), param="scores", hint=hint)
    sum_w1, sum_w2 = float(np.sum(params["W1"] ** 2)), float(np.sum(params["W2"] ** 2))
    for reg, expected in ((0.0, NET_LOSS_REG0), (1.0, NET_LOSS_REG1)):
        _new_net(ctx, "nb", d, h, c, reg=reg, params=params)
        loss, _ = _net_loss(ctx, "nb", X, y, {}, need_grads=False)
        if abs(loss - expected) > 1e-6:
            hint = None
            if reg and abs(loss - NET_LOSS_FULL_REG1) < 1e-6:
                hint = ("Your loss uses reg * (sum(W1*W1) + sum(W2*W2)); this edition's fc_net.py asks for "
                        "0.5 * reg * (...) (gradient reg * W), which the notebook's 26.5948426952 assumes")
            elif abs(loss - (NET_LOSS_REG0 + 0.5 * reg * sum_w1 + sum_w2)) < 1e-6:
                at_zero = (f" (at reg = 0 your loss still exceeds the notebook's, by np.sum(W2 * W2) = {sum_w2:.6g})"
                           if not reg else "")
                hint = ("Your loss is the data loss plus 0.5 * reg * np.sum(W1 * W1) + np.sum(W2 * W2): without "
                        f"parentheses the W2 term is not multiplied by 0.5 * reg{at_zero}. Write "
                        "0.5 * reg * (np.sum(W1 * W1) + np.sum(W2 * W2))")
            elif reg and abs(loss - NET_LOSS_REG0) < 1e-6:
                hint = ("Your loss at reg = 1 equals the notebook's loss at reg = 0: no regularisation reached the "
                        "loss. The net's regularisation strength is self.reg, which __init__ keeps from "
                        "TwoLayerNet(..., reg=...): add 0.5 * self.reg * (np.sum(W1 * W1) + np.sum(W2 * W2))")
                note = reg_argument_note(ctx)
                if note:
                    hint += ". " + note
            raise CheckFailed(f"{CLASS}.loss of the notebook's net at reg = {reg:g} is {loss!r}; the notebook's "
                              f"value is {expected}", hint=hint,
                              details={"student": loss, "expected": expected, "tolerance": 1e-6})
    return Outcome("the notebook's scores and losses (3.4702243556 at reg 0, 26.5948426952 at reg 1)")


def reg_argument_note(ctx: Context) -> str | None:
    """A sentence when the student's TwoLayerNet.loss takes a reg parameter (the 2017 net's habit): the solver and
    the notebook call loss(X, y), so it always keeps its default and self.reg goes unused."""
    tree = ctx.trees.get(NET)
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == CLASS:
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "loss":
                    args = item.args
                    positional = args.posonlyargs + args.args
                    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
                    pairs = list(zip(positional, defaults)) + list(zip(args.kwonlyargs, args.kw_defaults))
                    for arg, default in pairs:
                        if arg.arg == "reg":
                            shown = f" (default {ast.unparse(default)})" if default is not None else ""
                            return (f"Your {CLASS}.loss has a reg parameter{shown}, as the 2017 net's did; the "
                                    f"notebook and the Solver call loss(X, y), so reg keeps its default. Use "
                                    f"self.reg instead and drop the parameter")
    return None


def probabilities_hint(scores: np.ndarray, expected: np.ndarray) -> str | None:
    """The softmax of the right scores returned in their place (loss(X) without y must return the raw scores)."""
    e = np.exp(expected - expected.max(axis=1, keepdims=True))
    if scores.shape == expected.shape and rel_error(scores, e / e.sum(axis=1, keepdims=True)) < 1e-6:
        return ("These are the softmax probabilities of the right scores: when y is None, loss returns the class "
                "scores themselves (the last affine layer's output); the softmax belongs to the loss")
    return None


def _random_net(rng: np.random.Generator) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    n, d, h, c = int(rng.integers(6, 20)), int(rng.integers(4, 12)), int(rng.integers(5, 15)), int(rng.integers(3, 8))
    params = {"W1": rng.standard_normal((d, h)) / math.sqrt(d), "b1": 0.5 * rng.standard_normal(h),
              "W2": rng.standard_normal((h, c)) / math.sqrt(h), "b2": 0.5 * rng.standard_normal(c)}
    y = rng.integers(0, c, size=n).astype(np.int64)
    return params, rng.standard_normal((n, d)), y


def net_grads_reference(ctx: Context) -> Outcome:
    for reg in (0.0, 0.7):
        params, X, y = _random_net(ctx.rng)
        d, h = params["W1"].shape
        c = params["W2"].shape[1]
        _new_net(ctx, "net", d, h, c, reg=reg, params=params)
        loss, grads = _net_loss(ctx, "net", X, y, {k: v.shape for k, v in params.items()})
        exp_loss, expected = ctx.reference.net_loss(params, X, y, reg)
        student = dict(grads, loss=loss)
        everything = dict(expected, loss=exp_loss)
        shape = f"N={X.shape[0]}, D={d}, H={h}, C={c}, reg = {reg:g}, non-zero biases"
        notes = {"net_reg_ignored": reg_argument_note(ctx)}
        try:
            check_close(f"{CLASS}.loss ({shape})", loss, exp_loss, LOSS_TOL)
        except CheckFailed as failure:
            _fail_with_diagnosis(ctx, failure, "net_loss", (params, X, y, reg), student, everything, ["loss"], "loss",
                                 notes)
        for key in KEYS:
            try:
                check_close(f"grads['{key}'] ({shape})", grads[key], expected[key], TOL, param=key)
            except CheckFailed as failure:
                failing = [k for k in KEYS if rel_error(grads[k], expected[k]) > TOL]
                _fail_with_diagnosis(ctx, failure, "net_loss", (params, X, y, reg), student, everything, failing,
                                     " and ".join(f"grads['{k}']" for k in failing), notes)
    return Outcome("loss and gradients match the reference at reg = 0 and 0.7 with non-zero biases")


def net_grads_numeric(ctx: Context) -> Outcome:
    params, X, y = _random_net(ctx.rng)
    d, h = params["W1"].shape
    c = params["W2"].shape[1]
    reg = 0.4
    shapes = {k: v.shape for k, v in params.items()}
    _new_net(ctx, "num", d, h, c, reg=reg, params=params)
    _, grads = _net_loss(ctx, "num", X, y, shapes)
    for key in KEYS:
        def f_many(values: list[np.ndarray], key: str = key) -> list[float]:
            answers = ctx.student.call_method_each("num", "loss", (X, y), "params", key, values,
                                                   label=f"{CLASS}.loss")
            return [expect_float(expect_pair(a, f"{CLASS}.loss(X, y)", "loss", "grads")[0],
                                 f"the loss returned by {CLASS}.loss") for a in answers]

        gc = gradient_check(None, params[key], grads[key], ctx.rng, coordinates=4, directions=2, tol=NUMERIC_TOL,
                            f_many=f_many)
        ctx.student.setitem("num", "params", key, params[key])
        worst = gc.worst()
        if worst is not None and worst.rel_error > NUMERIC_TOL:
            hint = None
            if ctx.has_reference:
                _, expected = ctx.reference.net_loss(params, X, y, reg)
                if rel_error(grads[key], expected[key]) <= TOL:
                    hint = (f"Your grads['{key}'] is the correct gradient: it is your loss that is wrong (it is not "
                            f"the function this gradient belongs to). Look at how the loss is computed")
            raise CheckFailed(f"grads['{key}'] disagrees with the numerical gradient of your own loss (reg = {reg:g}): "
                              f"relative error {worst.rel_error:.3e} > {NUMERIC_TOL:g} (analytic {worst.analytic:.6g}, "
                              f"numerical {worst.numeric:.6g})", hint=hint, details=gc.details())
    return Outcome("every gradient matches central differences of your own loss")
