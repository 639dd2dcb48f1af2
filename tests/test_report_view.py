"""The report page's view, without a browser: the order to fix things in, the summary, the lines of the
student's code a message names, numbers kept whole, and the pictures' texts (heatmap scale, score history).

The reports are shaped like the engine's (ids, names, statuses and details as ``grader grade --json``
writes them for the fixtures named in each test), cut down to what each test is about.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from grader.dashboard.charts import Point, fmt, heatmap_svg, history_svg, history_ticks
from grader.dashboard.report_view import (
    ASPECT_CRASH,
    ASPECT_GRADIENT,
    ASPECT_SIDE_EFFECTS,
    ASPECT_USE,
    ASPECT_VALUE,
    ASPECT_VECTORIZED,
    LineRef,
    aspect_of,
    function_of,
    gist,
    number_segments,
    report_view,
    segments,
)


def _test(test_id: str, name: str, status: str = "passed", output: str = "", **details: Any) -> dict[str, Any]:
    return {"id": test_id, "name": name, "status": status, "score": 1.0 if status == "passed" else 0.0,
            "max_score": 1.0, "visibility": "visible", "output": output or status, "details": details}


def _report(*tests: dict[str, Any]) -> dict[str, Any]:
    return {"status": "graded", "title": "t", "score": 1.0, "max_score": float(len(tests)), "tests": list(tests)}


LINEAR_CHECKS = ["loss_at_zero", "reg_known_value", "loss_reference_noreg", "loss_reference_reg",
                 "grad_reference_noreg", "grad_reference_reg", "grad_consistency", "no_input_mutation"]
VECTORIZED_ONLY = ["agrees_with_naive", "no_loops", "faster_than_naive", "large_batch"]
NAMES = {"loss_at_zero": "loss at W = 0 is C - 1", "reg_known_value": "regularisation is reg * sum(W*W)",
         "loss_reference_noreg": "loss matches reference (reg = 0)",
         "loss_reference_reg": "loss matches reference with regularisation (reg = 5e-6, 0.1, 50)",
         "grad_reference_noreg": "gradient matches reference (reg = 0)",
         "grad_reference_reg": "gradient matches reference with regularisation (reg = 5e-6, 0.1, 50)",
         "grad_consistency": "gradient matches the numerical gradient of your loss",
         "no_input_mutation": "does not modify W, X or y", "agrees_with_naive": "agrees with svm_loss_naive",
         "no_loops": "no loops (fully vectorized)", "faster_than_naive": "faster than svm_loss_naive",
         "large_batch": "matches reference on CIFAR-10 sized inputs"}


def svm_report(failing: dict[str, dict[str, Any]], crashed: set[str] = frozenset()) -> dict[str, Any]:
    """The SVM assignment's 20 tests in its order, the ones in ``failing`` failed (with those details)."""
    tests = []
    for kind, func in (("naive", "svm_loss_naive"), ("vectorized", "svm_loss_vectorized")):
        for check in LINEAR_CHECKS + (VECTORIZED_ONLY if kind == "vectorized" else []):
            test_id = f"{kind}_{check}"
            status = "error" if test_id in crashed else "failed" if test_id in failing else "passed"
            tests.append(_test(test_id, f"{func}: {NAMES[check]}", status, **failing.get(test_id, {})))
    return _report(*tests)


def ids(tests: list[Any]) -> list[str]:
    return [t.id for t in tests]


# --------------------------------------------------------------------------- what a check measures


@pytest.mark.parametrize("test_id, status, param, aspect", [
    ("naive_loss_at_zero", "failed", "", ASPECT_VALUE),
    ("naive_reg_known_value", "failed", "", ASPECT_VALUE),  # the loss part failed: no gradient param
    ("naive_reg_known_value", "failed", "dW", ASPECT_GRADIENT),
    ("naive_grad_consistency", "failed", "", ASPECT_GRADIENT),
    ("grads_reference_reg", "failed", "W1", ASPECT_GRADIENT),
    ("affine_backward_numeric", "failed", "dx", ASPECT_GRADIENT),
    ("scores_reference", "failed", "scores", ASPECT_VALUE),
    ("vectorized_no_input_mutation", "failed", "", ASPECT_SIDE_EFFECTS),
    ("losses_no_mutation", "failed", "", ASPECT_SIDE_EFFECTS),
    ("vectorized_large_batch", "failed", "dW", ASPECT_VECTORIZED),
    ("vectorized_agrees_with_naive", "failed", "", ASPECT_VECTORIZED),
    ("train_sgd_steps", "failed", "", ASPECT_USE),
    ("predict_argmax", "failed", "", ASPECT_USE),
    ("naive_grad_consistency", "error", "", ASPECT_CRASH),
])
def test_the_aspect_of_a_check_comes_from_its_id_and_param(test_id: str, status: str, param: str,
                                                           aspect: int) -> None:
    assert aspect_of(test_id, status, param) == aspect


def test_the_function_is_the_part_of_the_name_before_the_colon() -> None:
    assert function_of("svm_loss_naive: loss at W = 0 is C - 1") == "svm_loss_naive"
    assert function_of("TwoLayerNet.loss: toy scores match the notebook") == "TwoLayerNet.loss"
    assert function_of("svm_loss, softmax_loss: do not modify x") == "svm_loss, softmax_loss"
    assert function_of("a test without a function") == ""


# --------------------------------------------------------------------------- the order to fix things in


def test_a_wrong_loss_comes_before_the_gradient_checks_that_fail_because_of_it() -> None:
    """bug_loss_not_averaged: the loss checks fail, and so does the numerical-gradient check of the student's
    own (wrong) loss; the loss is the root, the gradient check follows from it."""
    hint = "The loss is summed but not averaged over the N = 60 samples (a factor of N)"
    view = report_view(svm_report({
        "naive_grad_consistency": {},  # listed first on purpose: the order is not the report's
        "naive_loss_at_zero": {"hint": hint}, "naive_loss_reference_noreg": {},
        "vectorized_grad_consistency": {}, "vectorized_loss_at_zero": {"hint": hint}}))
    assert ids(view.failing) == ["naive_loss_at_zero", "naive_loss_reference_noreg", "naive_grad_consistency",
                                 "vectorized_loss_at_zero", "vectorized_grad_consistency"]
    follows = {t.id: t.follows.id if t.follows else None for t in view.failing}
    assert follows == {"naive_loss_at_zero": None, "naive_loss_reference_noreg": None,
                       "naive_grad_consistency": "naive_loss_at_zero",
                       # the vectorized version's own loss is wrong too: not a consequence of the naive one
                       "vectorized_loss_at_zero": None,
                       "vectorized_grad_consistency": "vectorized_loss_at_zero"}
    summary = view.summary
    assert [(s.function, len(s.failing), s.root.id) for s in summary] == [
        ("svm_loss_naive", 3, "naive_loss_at_zero"), ("svm_loss_vectorized", 2, "vectorized_loss_at_zero")]
    assert summary[0].message == hint


def test_the_naive_version_comes_before_the_vectorized_one_that_is_compared_with_it() -> None:
    view = report_view(svm_report({"vectorized_agrees_with_naive": {}, "vectorized_no_loops": {},
                                   "naive_grad_reference_reg": {"param": "dW"}}))
    assert ids(view.failing) == ["naive_grad_reference_reg", "vectorized_agrees_with_naive", "vectorized_no_loops"]
    agrees, loops = view.failing[1], view.failing[2]
    assert agrees.follows is not None and agrees.follows.id == "naive_grad_reference_reg"  # compared with naive
    assert loops.follows is None  # loops are the vectorized version's own business
    assert [s.function for s in view.summary] == ["svm_loss_naive", "svm_loss_vectorized"]
    assert view.summary[1].follows is not None and view.summary[1].follows.function == "svm_loss_naive"


def test_a_crash_comes_before_everything() -> None:
    view = report_view(svm_report({"naive_loss_at_zero": {}, "vectorized_loss_reference_noreg": {}},
                                  crashed={"vectorized_grad_consistency"}))
    assert ids(view.failing) == ["vectorized_grad_consistency", "naive_loss_at_zero",
                                 "vectorized_loss_reference_noreg"]
    assert view.failing[2].follows is not None and view.failing[2].follows.id == "vectorized_grad_consistency"


def test_a_side_effect_is_its_own_root() -> None:
    view = report_view(svm_report({"naive_no_input_mutation": {}, "naive_grad_consistency": {}}))
    assert ids(view.failing) == ["naive_grad_consistency", "naive_no_input_mutation"]
    assert all(t.follows is None for t in view.failing)


def test_a_class_is_fixed_from_its_loss_to_predict_and_train_and_after_the_layers_it_is_built_from() -> None:
    report = _report(
        _test("train_sgd_steps", "TwoLayerNet.train: SGD step for step", "failed"),
        _test("predict_argmax", "TwoLayerNet.predict: equals argmax of the scores", "failed"),
        _test("grads_reference_reg", "TwoLayerNet.loss: gradients match reference", "failed", param="W1"),
        _test("net_init", "TwoLayerNet.__init__: zero biases", "passed"),
        _test("affine_forward_reference", "affine_forward: matches reference", "failed"),
        _test("relu_backward_spec", "relu_backward: dout where x > 0", "failed", param="dx"),
    )
    view = report_view(report)
    assert ids(view.failing) == ["affine_forward_reference", "relu_backward_spec", "grads_reference_reg",
                                 "predict_argmax", "train_sgd_steps"]
    by_id = {t.id: t for t in view.failing}
    assert by_id["grads_reference_reg"].follows.id == "affine_forward_reference"  # the net uses the layers
    assert by_id["train_sgd_steps"].follows is not None
    assert by_id["relu_backward_spec"].follows is None  # one layer does not use another


def test_a_report_with_every_test_passed_has_nothing_to_fix() -> None:
    view = report_view(svm_report({}))
    assert view.failing == [] and view.summary == []
    assert len(view.passed) == 20


def test_hidden_tests_take_no_part_in_the_order() -> None:
    report = svm_report({"naive_loss_at_zero": {}})
    report["tests"].append({"id": "hidden_one", "name": "svm_loss_vectorized: hidden", "status": "hidden",
                            "score": None, "max_score": 2, "visibility": "hidden",
                            "output": "Hidden test: it counts toward your grade, but its result is not shown.",
                            "details": {}})
    view = report_view(report)
    assert ids(view.failing) == ["naive_loss_at_zero"]
    assert view.passed[-1].id == "hidden_one" and view.passed[-1].masked


# --------------------------------------------------------------------------- what is wrong, in one line


def test_the_summary_line_is_the_hints_first_sentence_without_its_closing_detail() -> None:
    hint = ("Your dW equals what you get when you leave the regularisation gradient 2*reg*W out of dW: add "
            "2 * reg * W to dW (the derivative of reg * sum(W*W)). (It also equals what you get when you leave "
            "regularisation out of both the loss and dW.)")
    view = report_view(svm_report({"naive_grad_reference_reg": {"hint": hint, "param": "dW"}}))
    # The mistake, without its fix (the test's own section has the whole hint).
    assert gist(view.failing[0]) == ("Your dW equals what you get when you leave the regularisation gradient "
                                     "2*reg*W out of dW")
    short = report_view(svm_report({"naive_reg_known_value": {"hint": "dW is missing the regularisation gradient "
                                    "2*reg*W (the loss has reg*sum(W*W), whose derivative is 2*reg*W)."}}))
    assert gist(short.failing[0]) == "dW is missing the regularisation gradient 2*reg*W"
    crash = report_view(svm_report({}, crashed={"naive_loss_at_zero"}))
    crash.tests[0].output = ("svm_loss_naive raised IndexError: index 9 is out of bounds\nTraceback (your code, "
                             "most recent call last):\n  File \"linear_svm.py\", line 70, in svm_loss_naive")
    assert gist(crash.tests[0]) == "svm_loss_naive raised IndexError: index 9 is out of bounds"
    long = report_view(svm_report({"naive_loss_at_zero": {"hint": "word " * 80}}))
    assert len(gist(long.failing[0])) <= 162 and gist(long.failing[0]).endswith("…")


# --------------------------------------------------------------------------- lines of the student's code


TRACEBACK = ("svm_loss_vectorized raised IndexError: index 100000 is out of bounds for axis 0 with size 21\n"
             "Traceback (your code, most recent call last):\n"
             "  File \"linear_svm.py\", line 70, in svm_loss_vectorized\n    W[100000, 0]")


def test_a_traceback_names_a_line_and_the_code_panel_marks_it() -> None:
    report = svm_report({"vectorized_no_loops": {}}, crashed={"vectorized_loss_at_zero"})
    for t in report["tests"]:
        if t["id"] == "vectorized_loss_at_zero":
            t["output"] = TRACEBACK
        if t["id"] == "vectorized_no_loops":
            t["output"] = ("svm_loss_vectorized is supposed to be fully vectorized, but ... Most executed: "
                           "line 80 (49 times): for i in range(num_train):; line 81 (48 times): margins = ...")
    view = report_view(report)
    crash = view.failing[0]
    assert crash.refs == [LineRef("linear_svm.py", 70)]
    linked = [s for s in crash.output_parts if s.ref]
    assert [s.text for s in linked] == ['File "linear_svm.py", line 70']
    assert "".join(s.text for s in crash.output_parts) == TRACEBACK  # nothing lost or added
    loops = view.failing[1]
    assert loops.refs == [LineRef(None, 80), LineRef(None, 81)]
    # One file: a bare "line 80" means it; with two files only a named file can be resolved.
    assert view.code_target(LineRef(None, 80), ["linear_svm.py"]) == "code-linear_svm-py-L80"
    assert view.code_target(LineRef(None, 80), ["cs231n/layers.py", "cs231n/classifiers/fc_net.py"]) is None
    assert view.code_target(LineRef("/tmp/x/cs231n/layers.py", 3), ["cs231n/layers.py", "fc_net.py"]) \
        == "code-cs231n-layers-py-L3"
    assert view.code_target(LineRef("other.py", 3), ["linear_svm.py"]) is None
    flagged = view.flagged_lines("linear_svm.py", ["linear_svm.py"])
    assert list(flagged) == [70, 80, 81]
    assert [t.id for t in flagged[70]] == ["vectorized_loss_at_zero"]


def test_a_hint_that_names_a_line_links_it_too() -> None:
    parts, refs = segments("Replace the loop on line 12 with array operations")
    assert refs == [LineRef(None, 12)]
    assert [s.text for s in parts if s.ref] == ["line 12"]
    assert segments("176 line executions at N=24")[1] == []  # not a line number


def test_numbers_with_a_sign_or_an_exponent_are_kept_whole() -> None:
    parts = number_segments("relative error 8.1e-4 at reg = 5e-6, -0.0247859 and 3 (N=22)")
    assert [s.text for s in parts if s.number] == ["8.1e-4", "5e-6", "-0.0247859"]
    assert "".join(s.text for s in parts) == "relative error 8.1e-4 at reg = 5e-6, -0.0247859 and 3 (N=22)"
    view = report_view(svm_report({}))
    assert [s.text for s in view.tests[3].name_parts if s.number] == ["5e-6"]


def test_the_worst_entries_leave_the_message_for_their_table() -> None:
    output = ("svm_loss_naive dW with X = 0: relative error 1 exceeds the tolerance 1e-07; 88 of 88 entries are "
              "off. Worst:\n  feature row 21, class column 3: yours 0, expected 0.197001\n"
              "  feature row 21, class column 2: yours 0, expected 0.0274672\nWrong in 10 of 10 input regimes.")
    worst = [{"index": [21, 3], "student": 0.0, "expected": 0.197, "rel_error": 1.0}]
    report = svm_report({"naive_reg_known_value": {"worst": worst, "axis_names": ["feature row", "class column"],
                                                   "param": "dW", "error": 1.0, "tolerance": 1e-7}})
    report["tests"][1]["output"] = output
    test = report_view(report).failing[0]
    assert test.output == ("svm_loss_naive dW with X = 0: relative error 1 exceeds the tolerance 1e-07; 88 of 88 "
                           "entries are off.\nWrong in 10 of 10 input regimes.")
    assert [w.location for w in test.worst] == [[("feature row", 21), ("class column", 3)]]


# --------------------------------------------------------------------------- pictures that say what they show


def test_the_heatmap_names_the_quantity_it_colours_everywhere() -> None:
    error_map = {"values": [[0.1, 0.0, 2.0], [1e-6, 0.5, 0.25]], "rows_per_cell": 1, "cols_per_cell": 1,
                 "shape": [2, 3]}
    svg = str(heatmap_svg(error_map, axis_names=["feature row", "class column"], param="dW", worst=[1, 1]))
    assert re.search(r"<title [^>]*>Absolute error of each entry of dW</title>", svg)
    desc = re.search(r"<desc [^>]*>(.*?)</desc>", svg).group(1)
    assert desc.startswith("Absolute error |yours - expected| of each entry of dW (2 x 3)")
    assert "log scale from 2e-6 (pale) to 2 (dark red)" in desc  # six decades below the largest error
    assert "largest relative error, at feature row 1, class column 1" in desc
    legend = re.findall(r'font-weight="600">(absolute|error)</text>', svg)
    assert legend == ["absolute", "error"]
    assert ">log scale</text>" in svg
    assert "relative" not in svg.split("</desc>")[1]  # the picture's own texts speak of the absolute error only


@pytest.mark.parametrize("low", [5.3e-4, 1e-3, 2e-3, 0.05, 0.3])
def test_the_colour_bars_labels_never_overlap(low: float) -> None:
    """The labels of the colour bar (its ends always, round values between where they fit) are 15 px apart."""
    error_map = {"values": [[0.535, low], [0.1, 0.2]], "shape": [2, 2]}
    svg = str(heatmap_svg(error_map, axis_names=["row", "column"], param="dW"))
    labels = re.findall(r'<text x="[\d.]+" y="([\d.]+)" fill="#24292f">([0-9.e-]+)</text>', svg)
    ys = sorted(float(y) for y, _ in labels)
    bottom = fmt(low) if 0.535 / low >= 20 else "0"  # a log scale from the smallest error, else linear from 0
    assert {"0.535", bottom} <= {text for _, text in labels}  # both ends are labelled
    assert all(b - a >= 15 for a, b in zip(ys, ys[1:])), labels


@pytest.mark.parametrize("shape", [(40, 3), (64, 64), (10, 64), (1, 20)])
def test_the_heatmap_stays_small_for_narrow_and_wide_maps(shape: tuple[int, int]) -> None:
    rows, cols = shape
    error_map = {"values": [[float(r * cols + c) for c in range(cols)] for r in range(rows)], "shape": [rows, cols]}
    svg = str(heatmap_svg(error_map, axis_names=["row", "column"] if rows > 1 else ["class"], param="dW"))
    width, height = (int(v) for v in re.search(r'width="(\d+)" height="(\d+)"', svg).groups())
    assert width <= 330 and height <= 240, (width, height)


@pytest.mark.parametrize("count", list(range(1, 51)))
def test_the_score_history_labels_never_overlap(count: int) -> None:
    points = [Point(f"#{100 + k}", (37 * k) % 101 if k % 7 else None) for k in range(count)]
    points[0] = Point("#100", 10.0)
    svg = str(history_svg(points, title="Your scores"))
    xs = [float(x) for x in re.findall(r'<text class="x-tick" x="([\d.]+)"', svg)]
    labels = re.findall(r'<text class="x-tick"[^>]*>(\d+)</text>', svg)
    assert labels and labels == sorted(labels, key=int) and int(labels[-1]) <= count
    # Labels at 12 px are at most 7.5 px a digit wide: centred, two never touch.
    for (x1, a), (x2, b) in zip(zip(xs, labels), zip(xs[1:], labels[1:])):
        assert x2 - x1 >= (len(a) + len(b)) * 7.5 / 2 + 4, (count, a, b, x2 - x1)
    assert re.findall(r'class="y-tick"[^>]*>(\d+%)</text>', svg) == ["0%", "25%", "50%", "75%", "100%"]
    assert ">submission (1 = your first)</text>" in svg and ">score</text>" in svg
    desc = re.search(r"<desc [^>]*>(.*?)</desc>", svg).group(1)
    assert desc.startswith(f"{count} submission") and "best" in desc
    assert svg.count("<circle") == sum(p.percent is not None for p in points)


def test_the_score_history_ticks() -> None:
    assert history_ticks(1, 350) == [1]
    assert history_ticks(2, 350) == [1, 2]
    assert history_ticks(50, 350) == [5, 10, 15, 20, 25, 30, 35, 40, 45, 50]
    assert history_svg([Point("#1", None)], title="t") is None  # nothing graded, nothing to draw


# --------------------------------------------------------------------------- the template


def _render(app: Any, report: dict[str, Any], files: list[str]) -> str:
    with app.test_request_context():
        macro = app.jinja_env.get_template("_report.html").module.report
        return str(macro(report_view(report), files))


def test_the_page_renders_the_summary_sections_and_links(app: Any) -> None:
    report = svm_report({"vectorized_no_loops": {}}, crashed={"vectorized_loss_at_zero"})
    for t in report["tests"]:
        if t["id"] == "vectorized_loss_at_zero":
            t["output"] = TRACEBACK
        if t["id"] == "vectorized_no_loops":
            t["details"]["hint"] = "Replace the loop on line 80 with array operations"
    html = _render(app, report, ["linear_svm.py"])
    summary = html[html.index('id="summary"'):html.index('id="failing"')]
    assert "Fix first:" in summary and summary.count("<li>") == 1  # one function is failing
    assert 'href="#fn-svm_loss_vectorized"' in summary and 'href="#test-vectorized_loss_at_zero"' in summary
    assert '<a class="code-ref" href="#code-linear_svm-py-L70">line 70</a>' in summary  # where it crashed
    # The crash is shown first, with its traceback's line linked to the code panel.
    assert html.index('id="test-vectorized_loss_at_zero"') < html.index('id="test-vectorized_no_loops"')
    assert '<a class="code-ref" href="#code-linear_svm-py-L70">File &#34;linear_svm.py&#34;, line 70</a>' in html
    assert '<a class="code-ref" href="#code-linear_svm-py-L80">line 80</a>' in html  # from the hint
    assert "May follow from <a href=\"#test-vectorized_loss_at_zero\">" in html
    # Passed tests are folded, one <details> each, with their own anchors; numbers kept whole in names.
    assert html.count('<details class="test test-passed test-folded"') == 18
    assert '<span class="nowrap">5e-6</span>' in html
    for anchor in ("fix-order", "fn-svm_loss_vectorized", "test-vectorized_no_loops", "passed"):
        assert f'id="{anchor}"' in html and f'href="#{anchor}"' in html, anchor
    # Two files and a bare "line 80": it could be either, so it is not linked.
    assert 'href="#code-linear_svm-py-L80"' not in _render(app, report, ["a.py", "b.py"])


def test_the_page_renders_a_report_that_could_not_run_and_one_that_passed(app: Any) -> None:
    error = {"status": "error", "error_kind": "submission", "output": "linear_svm.py, line 3: SyntaxError",
             "tests": []}
    html = _render(app, error, ["linear_svm.py"])
    assert "This submission could not be graded." in html and 'id="failing"' not in html
    passed = _render(app, svm_report({}), ["linear_svm.py"])
    assert "Every test passed." in passed and 'id="failing"' not in passed and "Fix first" not in passed
