"""The engine's contracts: reproducible seeds, the report shape, check mode without the reference,
starters, and a new assignment needing nothing but a folder."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from conftest import FILES, fixture_files
from worker.assignments import assignments_root, get_assignment
from worker.engine import grade

VOLATILE = {"execution_time", "student_time", "seconds", "naive_seconds", "vectorized_seconds", "speedup",
            "student_output", "student_output_truncated_bytes"}


def _stable(obj):
    """The report without wall-clock measurements."""
    if isinstance(obj, dict):
        return {k: _stable(v) for k, v in obj.items() if k not in VOLATILE}
    if isinstance(obj, list):
        return [_stable(v) for v in obj]
    return obj


@pytest.mark.parametrize("assignment,name", [("svm", "bug_half_reg"), ("softmax", "bug_grad_missing_onehot"),
                                             ("two_layer_net", "bug_no_relu_backprop")])
def test_same_seed_reproduces_the_same_report(assignment, name):
    files = fixture_files(assignment, name)
    a = grade(assignment, files, seed=1234)
    b = grade(assignment, files, seed=1234)
    timing_free = [t for t in a["tests"] if "faster than" not in t["name"]]
    assert _stable(timing_free) == _stable([t for t in b["tests"] if "faster than" not in t["name"]])
    assert a["score"] == b["score"] and a["seed"] == b["seed"] == 1234


def test_different_seeds_draw_different_inputs():
    files = fixture_files("svm", "bug_grad_not_averaged")
    outputs = {grade("svm", files, seed=s)["tests"][4]["output"] for s in (1, 2, 3)}
    assert len(outputs) == 3  # the failure message quotes the random shape and values


def test_unseeded_runs_record_their_seed_and_it_reproduces():
    files = fixture_files("svm", "bug_no_reg_grad")
    first = grade("svm", files)
    again = grade("svm", files, seed=first["seed"])
    assert [t["output"] for t in first["tests"] if "faster" not in t["name"]] == \
           [t["output"] for t in again["tests"] if "faster" not in t["name"]]


def test_report_has_the_design_fields_and_is_json():
    report = grade("softmax", fixture_files("softmax", "correct_loops"), seed=9)
    json.dumps(report, allow_nan=False)
    for key in ("assignment", "score", "max_score", "execution_time", "seed", "grader_version", "status", "tests"):
        assert key in report
    for t in report["tests"]:
        assert set(t) >= {"name", "score", "max_score", "status", "visibility", "output", "details"}
        assert t["status"] in ("passed", "failed", "error")
        assert t["visibility"] in ("visible", "hidden", "after_due_date")
    assert report["max_score"] == get_assignment("softmax").max_score


@pytest.mark.parametrize("assignment", list(FILES))
def test_check_mode_never_touches_the_reference(assignment, monkeypatch):
    a = get_assignment(assignment)

    def forbidden():
        raise AssertionError("check mode imported the reference")

    monkeypatch.setattr(a, "reference", forbidden)
    name = {"svm": "correct_masks", "softmax": "correct_choose", "two_layer_net": "correct_alt",
            "fc_net": "correct_course"}[assignment]
    report = grade(a, fixture_files(assignment, name), seed=2, mode="check")
    assert {t["id"] for t in report["tests"]} == {t.id for t in a.tests if t.public}
    assert report["score"] == report["max_score"] > 0
    assert all(t["details"].get("kind") != "internal" for t in report["tests"])


@pytest.mark.parametrize("assignment", list(FILES))
def test_starter_files_import_and_grade_with_low_scores(assignment):
    a = get_assignment(assignment)
    # The starter's files are uploaded by their names (the 2021+ starter's layers.py and fc_net.py are
    # cs231n/layers.py and cs231n/classifiers/fc_net.py)
    files = {f.rsplit("/", 1)[-1]: (a.starter_dir / f.rsplit("/", 1)[-1]).read_bytes() for f in a.files}
    report = grade(a, files, seed=1)
    assert report["status"] == "graded"
    assert report["score"] < 0.5 * report["max_score"]
    assert not [t for t in report["tests"] if t["details"].get("kind") == "internal"]
    assert not [t for t in report["tests"] if "import" in t["output"] and "failed" in t["output"]]


def test_a_new_assignment_is_just_a_folder(tmp_path, monkeypatch):
    root = tmp_path / "assignments"
    shutil.copytree(assignments_root(), root)
    folder = root / "relu"
    (folder / "starter").mkdir(parents=True)
    (folder / "assignment.toml").write_text(textwrap.dedent('''
        title = "ReLU forward and backward"
        files = ["relu.py"]
        [[tests]]
        id = "forward"
        name = "relu_forward: matches reference"
        points = 2
        public = false
        [[tests]]
        id = "backward"
        name = "relu_backward: gradient is zero where x <= 0"
        points = 1
        public = true
    '''))
    (folder / "reference.py").write_text("import numpy as np\ndef relu_forward(x):\n    return np.maximum(x, 0)\n")
    (folder / "tests.py").write_text(textwrap.dedent('''
        import numpy as np
        from worker.checks import CheckFailed, check_close

        def forward(ctx):
            x = ctx.rng.standard_normal((5, 7))
            out = ctx.student.call("relu_forward", x)
            check_close("relu_forward(x)", out, ctx.reference.relu_forward(x), 1e-12)

        def backward(ctx):
            x = ctx.rng.standard_normal(20)
            dout = ctx.rng.standard_normal(20)
            dx = ctx.student.call("relu_backward", dout, x)
            if not np.array_equal(dx, dout * (x > 0)):
                raise CheckFailed("relu_backward is wrong")
    '''))
    (folder / "starter" / "relu.py").write_text("def relu_forward(x):\n    pass\n")
    monkeypatch.setenv("GRADER_ASSIGNMENTS_DIR", str(root))
    good = "import numpy as np\ndef relu_forward(x):\n    return np.maximum(x, 0)\n" \
           "def relu_backward(dout, x):\n    return dout * (x > 0)\n"
    report = grade("relu", {"relu.py": good}, seed=1)
    assert report["score"] == report["max_score"] == 3
    bad = good.replace("np.maximum(x, 0)", "np.abs(x)")
    report = grade("relu", {"relu.py": bad}, seed=1)
    assert report["score"] == 1
    assert "relu_forward(x): relative error" in report["tests"][0]["output"]


def test_editions_are_data_the_reg_convention_comes_from_assignment_toml(tmp_path, monkeypatch):
    """A course on the 2016 convention (0.5 * reg) sets it in its folder; the known-value checks follow it."""
    root = tmp_path / "assignments"
    shutil.copytree(assignments_root(), root)
    toml = root / "svm" / "assignment.toml"
    toml.write_text(toml.read_text().replace('edition = "2017"', 'edition = "2016"').replace('reg = "full"', 'reg = "half"'))
    monkeypatch.setenv("GRADER_ASSIGNMENTS_DIR", str(root))
    ids = ("naive_reg_known_value", "vectorized_reg_known_value")
    half = grade("svm", fixture_files("svm", "bug_half_reg"), seed=3, mode="check")
    full = grade("svm", fixture_files("svm", "correct_masks"), seed=3, mode="check")
    assert all(t["status"] == "passed" for t in half["tests"] if t["id"] in ids)
    assert all(t["status"] == "failed" and "0.5 * reg" in t["output"] for t in full["tests"] if t["id"] in ids)
    monkeypatch.delenv("GRADER_ASSIGNMENTS_DIR")
    assert get_assignment("svm").edition == "2017" and get_assignment("fc_net").conventions == {"reg": "half"}
