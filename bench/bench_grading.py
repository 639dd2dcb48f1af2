"""Benchmark: grade a correct submission of each assignment and split the time.

Prints, per assignment, the median over repeats of
  total       wall time of grade()
  student     time spent waiting on calls into student code (incl. importing it), measured on
              the trusted side around each request
  overhead    total - student: starting the child, generating inputs, reference computations,
              comparisons, numerical-gradient bookkeeping, report building
  slowest     the slowest test's own time (median) against the assignment's per-call limit: the margin a
              correct submission keeps below that limit (e.g. the two-layer net's digits training)

Usage: python bench/bench_grading.py [--repeats N] [--mode grade|check]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from worker.assignments import get_assignment  # noqa: E402
from worker.engine import grade  # noqa: E402

CASES = {
    "svm": ("linear_svm.py", "tests/submissions/svm/correct_masks.py"),
    "softmax": ("softmax.py", "tests/submissions/softmax/correct_logsumexp.py"),
    "two_layer_net": ("neural_net.py", "tests/submissions/two_layer_net/correct_canonical.py"),
    # The 2021+ edition: two files (a folder of the fixtures).
    "fc_net": (("layers.py", "fc_net.py"), "tests/submissions/fc_net/correct_course"),
}


def case_files(fname: str | tuple[str, ...], path: str) -> dict[str, bytes]:
    if isinstance(fname, tuple):
        return {f: (ROOT / path / f).read_bytes() for f in fname}
    return {fname: (ROOT / path).read_bytes()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mode", choices=("grade", "check"), default="grade")
    args = parser.parse_args()
    print(f"grading mode={args.mode}, {args.repeats} repeats per assignment (median; seconds)")
    print(f"{'assignment':15} {'total':>8} {'student':>8} {'overhead':>9} {'student %':>9} {'score':>9}  slowest test")
    for aid, (fname, path) in CASES.items():
        files = case_files(fname, path)
        grade(aid, files, seed=0, mode=args.mode)  # warm caches (reference import, digits)
        totals, students, scores = [], [], set()
        slowest: dict[str, list[float]] = {}
        for i in range(args.repeats):
            started = time.perf_counter()
            report = grade(aid, files, seed=i + 1, mode=args.mode)
            totals.append(time.perf_counter() - started)
            students.append(report["student_time"])
            scores.add(f"{report['score']:g}/{report['max_score']:g}")
            for test in report["tests"]:
                slowest.setdefault(test["id"], []).append(test["details"].get("seconds", 0.0))
        total, student = statistics.median(totals), statistics.median(students)
        test_id, seconds = max(((t, statistics.median(v)) for t, v in slowest.items()), key=lambda item: item[1])
        limit = get_assignment(aid).limits.call_seconds
        print(f"{aid:15} {total:8.3f} {student:8.3f} {total - student:9.3f} {100 * student / total:8.0f}% "
              f"{','.join(sorted(scores)):>9}  {test_id} {seconds:.2f} s of a {limit:g} s call limit "
              f"({100 * seconds / limit:.0f}%)")


if __name__ == "__main__":
    main()
