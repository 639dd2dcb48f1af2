"""Benchmark: what the sandbox costs.

1. Per call: one fresh job that imports a tiny module, answers one call and is torn down, for
   - the hardened fork server (every layer),
   - a fresh interpreter per job (`python -I child.py`, no isolation),
   - an in-process function call (no job at all),
   printed as medians, p90 and ratios. Goal: fork server <= 5 ms median.
2. Grading: a correct submission of each assignment graded through the fork server and through an
   in-process launcher (the same checks, no sandbox), interleaved; ratio of medians. Goal: <= 1.2x.

Needs root for every layer (`grader doctor` shows what is active). Usage:
    python bench/bench_sandbox.py [--calls 200] [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_grading import CASES, case_files  # noqa: E402
from inprocess import InProcessLauncher  # noqa: E402

from worker.engine import grade  # noqa: E402
from worker.sandbox import Limits, StudentProcess, SubprocessLauncher  # noqa: E402
from worker.sandbox.hardened import ForkServerLauncher  # noqa: E402

SOURCE = "def add_one(x):\n    return x + 1\n"


def one_job(launcher) -> float:
    started = time.perf_counter()
    process = StudentProcess(launcher, Limits(), {"tiny": ("tiny.py", SOURCE)})
    try:
        assert process.call("add_one", 41) == 42
    finally:
        process.close()
    return time.perf_counter() - started


def in_process_call() -> float:
    namespace: dict = {}
    exec(compile(SOURCE, "tiny.py", "exec"), namespace)
    started = time.perf_counter()
    assert namespace["add_one"](41) == 42
    return time.perf_counter() - started


def summary(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1e3, ordered[int(0.9 * (len(ordered) - 1))] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    # The sandbox runs BLAS single-threaded; so must the in-process baseline.
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    fork = ForkServerLauncher()
    fork.start()
    active = [name for name, value in fork.layers.items() if value]
    print(f"fork server layers active: {len(active)} of {len(fork.layers)}")
    fresh = SubprocessLauncher()
    inproc = InProcessLauncher()
    for launcher in (fork, fresh):
        one_job(launcher)  # warm up

    samples: dict[str, list[float]] = {"fork server": [], "fresh interpreter": [], "in-process call": []}
    for i in range(args.calls):
        samples["fork server"].append(one_job(fork))
        if i % 4 == 0:  # a fresh interpreter is ~60 ms: sample it every 4th round
            samples["fresh interpreter"].append(one_job(fresh))
        samples["in-process call"].append(in_process_call())
    base = statistics.median(samples["in-process call"]) * 1e3
    fork_median = statistics.median(samples["fork server"]) * 1e3
    print(f"\nper call: a fresh job, one call, teardown ({args.calls} rounds, interleaved)")
    print(f"{'':20} {'median ms':>10} {'p90 ms':>8} {'vs fork server':>15}")
    for name, values in samples.items():
        med, p90 = summary(values)
        print(f"{name:20} {med:10.3f} {p90:8.3f} {med / fork_median:14.2f}x")
    print(f"fork server overhead per call: {fork_median - base:.2f} ms (goal <= 5 ms)")

    print(f"\ngrading a correct submission ({args.repeats} interleaved repeats, median seconds)")
    print(f"{'assignment':15} {'fork server':>12} {'in-process':>11} {'ratio':>6}")
    for aid, (fname, path) in CASES.items():
        files = case_files(fname, path)
        times: dict[str, list[float]] = {"fork": [], "inproc": []}
        grade(aid, files, seed=0, launcher=fork)
        grade(aid, files, seed=0, launcher=inproc)
        for r in range(args.repeats):
            for key, launcher in (("fork", fork), ("inproc", inproc)):
                started = time.perf_counter()
                report = grade(aid, files, seed=r + 1, launcher=launcher)
                times[key].append(time.perf_counter() - started)
                assert report["score"] == report["max_score"], (key, report["score"])
        f, i = statistics.median(times["fork"]), statistics.median(times["inproc"])
        print(f"{aid:15} {f:12.3f} {i:11.3f} {f / i:6.2f}")
    fork.close()


if __name__ == "__main__":
    main()
