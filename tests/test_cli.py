"""`grader grade` and `grader check` as a user runs them: the installed console script."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SUBMISSIONS


def grader_command() -> list[str]:
    script = Path(sys.executable).parent / "grader"
    if script.exists():
        return [str(script)]
    found = shutil.which("grader")
    assert found, "the console script `grader` is not installed"
    return [found]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(grader_command() + list(args), capture_output=True, text=True, timeout=300, cwd=cwd,
                          env={**os.environ, "NO_COLOR": "1"})


def test_grade_prints_a_table_and_exits_0_even_for_a_low_score():
    result = run("grade", "svm", str(SUBMISSIONS / "svm" / "bug_no_reg_grad.py"), "--seed", "3")
    assert result.returncode == 0, result.stderr
    assert "FAIL" in result.stdout and "PASS" in result.stdout
    assert "2*reg*W" in result.stdout
    assert "Score:" in result.stdout and "seed 3" in result.stdout
    assert "Traceback" not in result.stderr


def test_json_output_is_only_the_report():
    result = run("grade", "softmax", str(SUBMISSIONS / "softmax" / "correct_loops.py"), "--json", "--seed", "8")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["score"] == report["max_score"] and report["seed"] == 8
    assert report["mode"] == "grade"


def test_check_runs_only_public_tests(tmp_path):
    target = tmp_path / "neural_net.py"
    target.write_bytes((SUBMISSIONS / "two_layer_net" / "correct_canonical.py").read_bytes())
    result = run("check", "two_layer_net", str(target), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["mode"] == "check" and report["score"] == report["max_score"]
    assert all("reference" not in t["name"] for t in report["tests"])


def test_unknown_assignment_is_a_usage_error():
    result = run("grade", "nope", str(SUBMISSIONS / "svm" / "correct_loops.py"))
    assert result.returncode == 2
    assert "unknown assignment 'nope'" in result.stderr and "svm" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreadable_file_is_a_usage_error(tmp_path):
    result = run("check", "svm", str(tmp_path / "missing.py"))
    assert result.returncode == 2
    assert "cannot read" in result.stderr and "Traceback" not in result.stderr


def test_syntax_error_is_reported_with_the_line(tmp_path):
    bad = tmp_path / "linear_svm.py"
    bad.write_text("import numpy as np\n\ndef svm_loss_naive(W, X, y, reg)\n    return 0\n")
    result = run("check", "svm", str(bad))
    assert result.returncode == 0
    assert "linear_svm.py, line 3" in result.stdout and "could not be graded" in result.stdout


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0
    for command in ("grade", "check"):
        assert command in result.stdout
