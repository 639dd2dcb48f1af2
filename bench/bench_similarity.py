"""What ranking a class by code similarity costs (grader/similarity.py), on synthetic submissions.

Each synthetic student starts from one of the SVM files in tests/submissions/svm/ and tests/similarity/
(32 implementations, several of them variants of one another, as the bug fixtures are) and disguises it:
variables renamed at random, comments dropped or added, functions in a random order, a few lines of
their own. So about 1 pair in 30 is a disguised copy and many more share a fixture's lines: more shared
code than an honest class has, which is the expensive case (only pairs that share a fingerprint are
compared). Run: ``.venv/bin/python bench/bench_similarity.py [--students 200 800]``.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from grader import similarity  # noqa: E402

NAMES = ["loss", "dW", "num_train", "num_classes", "scores", "margin", "margins", "correct_class_score", "i", "j",
         "N", "C", "grad", "total", "s", "counts", "mask"]


def disguise(source: str, rng: random.Random, n: int) -> str:
    if rng.random() < 0.7:
        source = re.sub(r"#[^\n]*", "", source)
    for name in NAMES:
        if rng.random() < 0.6:
            source = re.sub(rf"\b{name}\b", f"{name}_{rng.randrange(1000)}", source)
    head, *functions = source.split("\ndef ")
    rng.shuffle(functions)
    own = [f"\n# student {n}\ndef helper_{n}(a, b):\n    return a * {rng.random():.3f} + b ** {rng.randrange(2, 5)}\n"]
    return head + "".join("\ndef " + f for f in functions) + "".join(own)


def synthetic_class(n: int, seed: int = 0) -> list[similarity.Owner]:
    rng = random.Random(seed)
    pool = sorted((ROOT / "tests" / "submissions" / "svm").glob("*.py")) + sorted((ROOT / "tests" / "similarity").glob("*.py"))
    texts = [p.read_text() for p in pool]
    return [similarity.Owner(label=f"s{i:04d}@example.edu", user_id=i + 1, submission_id=i + 1,
                             files={"linear_svm.py": disguise(rng.choice(texts), rng, i)}) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[200])
    args = parser.parse_args()
    boilerplate = similarity.boilerplate_hashes(ROOT / "assignments" / "svm" / "starter")
    print(f"{'students':>8} {'pairs':>8} {'sharing':>8} {'compared':>8} {'fingerprints':>12} {'total':>8} "
          f"{'per compared pair':>17}")
    for n in args.students:
        students = synthetic_class(n)
        started = time.perf_counter()
        ranking = similarity.rank("svm", students, [], boilerplate, top=50)
        total = time.perf_counter() - started
        per_pair = (total - ranking.fingerprint_seconds) / max(1, ranking.compared) * 1e6
        print(f"{n:>8} {ranking.pairs_total:>8} {ranking.pairs_with_overlap:>8} {ranking.compared:>8} "
              f"{ranking.fingerprint_seconds:>11.2f}s {total:>7.2f}s {per_pair:>14.0f} us")


if __name__ == "__main__":
    main()
