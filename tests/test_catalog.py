"""The catalogues of known mistakes (assignments/<id>/catalog.py) and the input regimes.

Every catalogued mistake must be observable on the regimes the checks draw (some regime makes its output
differ from the reference's), must be recognised as itself by the diagnosis when a student's numbers are
exactly its numbers, and must never be named for the reference's own (correct) numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from worker.assignments import get_assignment
from worker.checks.compare import rel_error
from worker.checks.diagnosis import diagnose
from worker.checks.net import net_regimes
from worker.checks.regimes import regimes

LINEAR = {"svm": "svm_loss_vectorized", "softmax": "softmax_loss_vectorized"}
REGS = (0.0, 0.1, 50.0)
SEEDS = (1, 2, 3)


def _mistakes(aid):
    return get_assignment(aid).catalog()


def _outputs(value):
    if isinstance(value, tuple):
        loss, grad = value
        if isinstance(grad, dict):
            return dict({k: np.asarray(v, float) for k, v in grad.items()}, loss=float(loss))
        return {"loss": float(loss), "grad": np.asarray(grad, float)}
    return {"scores": np.asarray(value, float)}


def _cases(aid, kind):
    """(args, reference outputs) over the regimes the checks use, for three seeds."""
    ref = get_assignment(aid).reference()
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        if aid in LINEAR:
            func = getattr(ref, LINEAR[aid])
            for p in regimes(rng):
                for reg in REGS:
                    args = (p.W, p.X, p.y, reg)
                    yield args, _outputs(func(*(a.copy() if isinstance(a, np.ndarray) else a for a in args)))
        else:
            for _, params, X, y in net_regimes(rng):
                if kind == "scores":
                    yield (params, X), _outputs(ref.forward_scores(params, X))
                else:
                    for reg in (0.0, 0.05, 1.0):
                        yield (params, X, y, reg), _outputs(ref.loss_and_grads(params, X, y, reg))


def _differs(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return a.shape != b.shape or not np.all(np.isfinite(a)) or rel_error(a, b) > 1e-6


def test_there_are_at_least_40_catalogued_mistakes_with_unique_ids():
    ids = [m.id for aid in ("svm", "softmax", "two_layer_net") for m in _mistakes(aid)]
    assert len(ids) >= 40, len(ids)
    assert len(ids) == len(set(ids))
    assert len({m.id for m in _mistakes("fc_net")}) == len(_mistakes("fc_net"))
    for aid in ("svm", "softmax", "two_layer_net", "fc_net"):
        for m in _mistakes(aid):
            assert m.does and m.fix and m.outputs, m.id


@pytest.mark.parametrize("aid", ["svm", "softmax", "two_layer_net"])
def test_each_mistake_is_observable_and_recognised_as_itself(aid):
    mistakes = _mistakes(aid)
    function = LINEAR.get(aid, "TwoLayerNet.loss")
    unseen, unrecognised = [], []
    for m in mistakes:
        observed = recognised = False
        for args, expected in _cases(aid, m.kind):
            if m.applies is not None and not m.applies(*args):
                continue
            got = _outputs(m.compute(*args))
            failing = [k for k in got if k in expected and _differs(got[k], expected[k])]
            if not failing:
                continue
            observed = True
            # The mistake's own numbers are recognised as that mistake.
            found = diagnose(mistakes, function, m.kind, args, got, expected, failing)
            if m.id in [x.id for x in found.matches + found.partial]:
                recognised = True
                break
        if not observed:
            unseen.append(m.id)
        elif not recognised:
            unrecognised.append(m.id)
    assert not unseen, f"mistakes no regime makes observable: {unseen}"
    assert not unrecognised, f"mistakes not recognised as themselves: {unrecognised}"


@pytest.mark.parametrize("aid", ["svm", "softmax", "two_layer_net"])
def test_no_mistake_is_named_for_the_correct_answer(aid):
    mistakes = _mistakes(aid)
    function = LINEAR.get(aid, "TwoLayerNet.loss")
    for kind in ("loss", "scores") if aid == "two_layer_net" else ("loss",):
        for args, expected in _cases(aid, kind):
            found = diagnose(mistakes, function, kind, args, expected, expected, list(expected))
            assert not found.matches and not found.partial, [m.id for m in found.matches + found.partial]


@pytest.mark.parametrize("aid", ["svm", "softmax"])
def test_each_regime_is_what_it_says(aid):
    for seed in SEEDS:
        by_name = {p.regime: p for p in regimes(np.random.default_rng(seed))}
        assert by_name["binary"].W.shape[1] == 2
        few = by_name["few_samples"]
        assert few.X.shape[0] < few.W.shape[1] and few.W.shape[1] - 1 in few.absent_classes()
        absent = by_name["absent_classes"]
        assert absent.W.shape[1] - 1 in absent.absent_classes() and len(absent.absent_classes()) >= 2
        assert by_name["square"].W.shape[0] == by_name["square"].W.shape[1]
        rows = by_name["repeated_rows"].X
        assert len(np.unique(rows, axis=0)) < rows.shape[0]
        ties = by_name["ties"]
        scores = ties.X @ ties.W
        assert np.array_equal(scores, np.round(scores))  # exact integers: ties and zero margins are exact
        margins = scores - scores[np.arange(len(ties.y)), ties.y][:, None] + 1
        assert np.any(margins == 0) or np.any(np.sort(scores, axis=1)[:, -1] == np.sort(scores, axis=1)[:, -2])
        assert np.max(np.abs(by_name["tiny_weights"].W)) < 1e-4
        large = by_name["large_weights"]
        s = large.X @ large.W
        assert np.max(s.max(axis=1) - s.min(axis=1)) > 10


@pytest.mark.parametrize(("aid", "mistake"), [("svm", "svm_classes_from_y"), ("softmax", "softmax_classes_from_y"),
                                              ("svm", "svm_correct_class_by_value"), ("svm", "svm_grad_transposed"),
                                              ("softmax", "softmax_grad_transposed")])
def test_regime_specific_mistakes_are_right_on_typical_inputs(aid, mistake):
    """The point of the regimes: these mistakes give the reference's answer on typical random inputs."""
    m = next(x for x in _mistakes(aid) if x.id == mistake)
    ref = get_assignment(aid).reference()
    func = getattr(ref, LINEAR[aid])
    p = regimes(np.random.default_rng(5))[1]  # spread weights, every class present, D != C
    if m.applies is not None and not m.applies(p.W, p.X, p.y, 0.1):
        return  # undefined there (a transposed dW needs D == C): only the square regime shows it
    got, want = m.compute(p.W, p.X, p.y, 0.1), func(p.W, p.X, p.y, 0.1)
    assert rel_error(got[0], want[0]) < 1e-9 and rel_error(got[1], want[1]) < 1e-9


def _fc_cases(kind, seed):
    """(args, reference outputs) for each kind of the 2021+ catalogue, on the inputs its checks use."""
    from worker.checks import layers

    ref = get_assignment("fc_net").reference()
    rng = np.random.default_rng(seed)
    if kind == "affine_backward":
        for shape, m in zip(layers.AFFINE_SHAPES, layers.AFFINE_M):
            x, w, b = layers._affine_inputs(rng, shape, m)
            dout = rng.standard_normal((shape[0], m))
            dx, dw, db = ref.affine_backward(dout, (x, w, b))
            yield (x, w, b, dout), {"dx": dx, "dw": dw, "db": db}
    elif kind == "relu_backward":
        x, dout = rng.standard_normal((5, 4, 3)), rng.standard_normal((5, 4, 3))
        yield (x, dout), {"dx": ref.relu_backward(dout, x)}
    elif kind in ("svm_loss", "softmax_loss"):
        for _, x, y in layers._loss_regimes(rng):
            loss, dx = getattr(ref, kind)(x, y)
            yield (x, y), {"loss": loss, "dx": dx}
    else:
        for reg in (0.0, 0.7):
            params, X, y = layers._random_net(rng)
            yield (params, X, y, reg), _outputs(ref.net_loss(params, X, y, reg))


def test_the_2021_catalogue_is_observable_recognised_and_never_names_the_correct_answer():
    mistakes = _mistakes("fc_net")
    assert len(mistakes) >= 15
    for m in mistakes:
        observed = recognised = False
        for seed in SEEDS:
            for args, expected in _fc_cases(m.kind, seed):
                # the correct answer is never named
                found = diagnose(mistakes, m.kind, m.kind, args, expected, expected, list(expected))
                assert not found.matches and not found.partial
                if m.applies is not None and not m.applies(*args):
                    continue
                got = m.compute(*args)
                got = dict(got) if isinstance(got, dict) else _outputs(got)
                failing = [k for k in got if k in expected and _differs(got[k], expected[k])]
                if not failing:
                    continue
                observed = True
                found = diagnose(mistakes, m.kind, m.kind, args, got, expected, failing)
                recognised = recognised or m.id in [x.id for x in found.matches + found.partial]
        assert observed, f"{m.id}: no input of the checks makes it observable"
        assert recognised, f"{m.id}: not recognised as itself"


def _linear_with_elsewhere(aid, student_fn, seed, reg=0.0):
    """The linear regimes of one seed at ``reg`` and, for each, the student's and the reference's outputs and an
    ``elsewhere`` over the other regimes (as worker/checks/linear.py builds it)."""
    ref = getattr(get_assignment(aid).reference(), LINEAR[aid])
    problems = regimes(np.random.default_rng(seed))
    cases = []
    for p in problems:
        args = (p.W, p.X, p.y, reg)
        cases.append((p, args, _outputs(student_fn(*args)), _outputs(ref(*args))))

    def elsewhere_of(p):
        return lambda: ((a, s, e) for q, a, s, e in cases if q is not p)
    return cases, elsewhere_of


def _reg_only(W, X, y, reg):
    return {"loss": reg * float(np.sum(np.square(W))), "grad": 2 * reg * np.asarray(W, float)}


def test_a_match_on_degenerate_numbers_is_not_a_coincidence_with_another_wrong_answer():
    """At small weights `scores - (correct + 1)` (delta subtracted) gives loss 0 and dW 0, and so does
    `margins[:, y] = 0` (every class is some sample's label). Confirmed on a regime where the variant's numbers
    are wrong and not degenerate, only the true mistake is named; without the right entry, nothing is."""
    mistakes = _mistakes("svm")
    by_id = {m.id: m for m in mistakes}
    student_fn = by_id["svm_delta_subtracted"].compute
    without = [m for m in mistakes if m.id != "svm_delta_subtracted"]
    degenerate_seen = False
    for seed in SEEDS:
        cases, elsewhere_of = _linear_with_elsewhere("svm", student_fn, seed)
        for p, args, student, expected in cases:
            failing = [k for k in student if _differs(student[k], expected[k])]
            if not failing:
                continue
            if student["loss"] == 0.0:
                degenerate_seen = True
                # Without confirmation the coincidence is there (what the check used to say) ...
                assert "svm_zero_label_columns" in diagnose(without, LINEAR["svm"], "loss", args, student, expected,
                                                            failing).ids()
            for pool in (mistakes, without):
                found = diagnose(pool, LINEAR["svm"], "loss", args, student, expected, failing,
                                 elsewhere=elsewhere_of(p), degenerate=_reg_only)
                assert "svm_zero_label_columns" not in found.ids(), (p.regime, found.ids())
                if pool is mistakes:
                    assert found.ids()[:1] == ["svm_delta_subtracted"], (p.regime, found.ids())
    assert degenerate_seen


@pytest.mark.parametrize("aid", ["svm", "softmax"])
def test_each_linear_mistake_is_still_recognised_with_confirmation(aid):
    """Real matches survive the confirmation on other regimes: each variant's own numbers name it."""
    mistakes = _mistakes(aid)
    unrecognised = []
    for m in mistakes:
        recognised = False
        for seed, reg in ((s, r) for s in SEEDS for r in REGS):
            cases, elsewhere_of = _linear_with_elsewhere(aid, m.compute, seed, reg)
            for p, args, student, expected in cases:
                if m.applies is not None and not m.applies(*args):
                    continue
                failing = [k for k in student if _differs(student[k], expected[k])]
                if not failing:
                    continue
                found = diagnose(mistakes, LINEAR[aid], "loss", args, student, expected, failing,
                                 elsewhere=elsewhere_of(p), degenerate=_reg_only)
                if m.id in found.ids():
                    recognised = True
                    break
            if recognised:
                break
        if not recognised:
            unrecognised.append(m.id)
    assert not unrecognised, unrecognised
