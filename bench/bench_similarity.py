"""What ranking a class by code similarity costs (grader/similarity.py), on synthetic submissions.

Each synthetic student starts from one of the SVM files in tests/submissions/svm/ and tests/similarity/
(32 implementations, several of them variants of one another, as the bug fixtures are) and disguises it:
variables renamed at random, comments dropped or added, functions in a random order, a few lines of
their own. So about 1 pair in 30 is a disguised copy and many more share a fixture's lines: more shared
code than an honest class has, which is the expensive case (only pairs that share a fingerprint are
compared). ``--honest`` instead builds a class that wrote its own code (common numpy idioms in random
structures, 2% disguised copies), closer to a real class. Run:
``.venv/bin/python bench/bench_similarity.py [--students 200 800] [--honest]``.
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


EXPRESSIONS = ["np.maximum(0, {a} - {b}[:, None] + 1)", "{a}.dot({b})", "np.sum({a}, axis={k})", "{a}[np.arange({c}), {b}]",
               "({a} > 0).astype(float)", "{a}.T @ {b}", "np.exp({a} - np.max({a}, axis=1, keepdims=True))",
               "{a} / {c}", "2 * reg * {a}", "np.zeros_like({a})", "{a}.reshape(-1, 1)", "np.log({a})",
               "{a}[{b} == {c}]", "len({a})", "{a} ** 2", "np.mean({a}, axis={k})", "{a} - {b}", "{a} * {b}",
               "np.where({a} > 0, {b}, 0)", "{a}.shape[{k}]", "np.eye({c})[{b}]", "{a}.sum() / {c}"]


def honest_file(rng: random.Random, n: int) -> str:
    """Code of one's own: the starter's two functions, each with 6-14 statements drawn from common numpy
    idioms in a random structure (loops, conditions) and the student's own names. Two such files share what
    two honest students share: idioms, by chance."""
    names = [f"{rng.choice(['x', 'v', 'tmp', 'sc', 'm', 'g', 'w', 'acc'])}{rng.randrange(100)}" for _ in range(8)]
    out = ["import numpy as np", ""]
    for function in ("svm_loss_naive", "svm_loss_vectorized"):
        out.append(f"def {function}(W, X, y, reg):")
        depth = 1
        for _ in range(rng.randrange(6, 15)):
            roll = rng.random()
            if roll < 0.12 and depth < 3:
                out.append("    " * depth + f"for {rng.choice('ijk')} in range({rng.choice(names)}.shape[0]):")
                depth += 1
            elif roll < 0.2 and depth < 3:
                out.append("    " * depth + f"if {rng.choice(names)} > {rng.randrange(3)}:")
                depth += 1
            elif roll < 0.3 and depth > 1:
                depth -= 1
            expr = rng.choice(EXPRESSIONS).format(a=rng.choice(names + ["W", "X"]), b=rng.choice(names + ["y"]),
                                                  c=rng.choice(names + ["N", "C"]), k=rng.randrange(2))
            out.append("    " * depth + f"{rng.choice(names)} = {expr}")
        out.append(f"    return {names[0]}, {names[1]}")
        out.append("")
    return "\n".join(out) + "\n"


def honest_class(n: int, copies: float = 0.02, seed: int = 0) -> list[similarity.Owner]:
    """n students who wrote their own, and a few (``copies``) who handed in a disguised copy of someone's."""
    rng = random.Random(seed)
    texts = [honest_file(rng, i) for i in range(n)]
    for i in rng.sample(range(n), int(n * copies)):
        texts[i] = disguise(texts[rng.randrange(n)], rng, i)
    return [similarity.Owner(label=f"s{i:04d}@example.edu", user_id=i + 1, submission_id=i + 1,
                             files={"linear_svm.py": text}) for i, text in enumerate(texts)]


def synthetic_class(n: int, seed: int = 0) -> list[similarity.Owner]:
    rng = random.Random(seed)
    pool = sorted((ROOT / "tests" / "submissions" / "svm").glob("*.py")) + sorted((ROOT / "tests" / "similarity").glob("*.py"))
    texts = [p.read_text() for p in pool]
    return [similarity.Owner(label=f"s{i:04d}@example.edu", user_id=i + 1, submission_id=i + 1,
                             files={"linear_svm.py": disguise(rng.choice(texts), rng, i)}) for i in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, nargs="+", default=[200])
    parser.add_argument("--honest", action="store_true",
                        help="a class that wrote its own code (common idioms in random structures, 2%% copies) "
                             "instead of the pessimistic class of disguised fixtures")
    args = parser.parse_args()
    boilerplate = similarity.boilerplate_hashes(ROOT / "assignments" / "svm" / "starter")
    print(f"{'students':>8} {'pairs':>8} {'sharing':>8} {'compared':>8} {'fingerprints':>12} {'total':>8} "
          f"{'per compared pair':>17}")
    for n in args.students:
        students = honest_class(n) if args.honest else synthetic_class(n)
        started = time.perf_counter()
        ranking = similarity.rank("svm", students, [], boilerplate, top=50)
        total = time.perf_counter() - started
        per_pair = (total - ranking.fingerprint_seconds) / max(1, ranking.compared) * 1e6
        print(f"{n:>8} {ranking.pairs_total:>8} {ranking.pairs_with_overlap:>8} {ranking.compared:>8} "
              f"{ranking.fingerprint_seconds:>11.2f}s {total:>7.2f}s {per_pair:>14.0f} us")


if __name__ == "__main__":
    main()
