"""The deadline-night mix of submissions for the load benchmark: correct, buggy and hostile code.

Correct and buggy files are the fixtures of ``tests/submissions/`` (every style and every one-line
bug, for the three assignments); hostile ones are ``linear_svm.py`` files whose ``svm_loss_naive``
first attacks, in the spirit of ``tests/test_hostile.py``: a busy loop and a sleep (both stopped at
the assignment's per-call limit), memory bombs, a fork bomb, a segfault, a flood of output and an
early exit. Everything is deterministic for a given seed.
"""

from __future__ import annotations

import random
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUBMISSIONS = ROOT / "tests" / "submissions"
FILES = {"svm": "linear_svm.py", "softmax": "softmax.py", "two_layer_net": "neural_net.py"}
#: Share of each assignment in the mix (the three are due the same night).
SHARE = {"svm": 0.40, "softmax": 0.35, "two_layer_net": 0.25}

HOSTILE = {
    # name: (body run at the start of every svm_loss_naive call, how many in 1,000)
    "busy_loop": ("while True:\n    pass", 8),
    "sleep_forever": ("import time\ntime.sleep(1000)", 4),
    "memory_bomb": ("hoard = []\nwhile True:\n    hoard.append(b'x' * (8 << 20))", 8),
    "memory_one_shot": ("a = np.ones(10 ** 11)", 6),
    "fork_bomb": ("for _ in range(200):\n    try:\n        if os.fork() == 0:\n            while True:\n"
                  "                os.fork()\n    except OSError:\n        break", 8),
    "segfault": ("import ctypes\nctypes.string_at(0)", 6),
    "output_flood": ("import sys\nfor _ in range(2000):\n    sys.stdout.write('spam ' * 2000 + '\\n')", 5),
    "exit_early": ("os._exit(0)", 5),
}


@dataclass(frozen=True)
class Item:
    assignment: str
    filename: str
    content: bytes
    kind: str  # correct | bug | hostile
    name: str  # the fixture or the attack


def fixtures(assignment: str) -> dict[str, str]:
    """fixture name -> kind ("correct" or "bug")."""
    spec = tomllib.loads((SUBMISSIONS / assignment / "expected.toml").read_text())
    return {name: value["kind"] for name, value in spec.items()}


def fixture_item(assignment: str, name: str) -> Item:
    kind = fixtures(assignment)[name]
    return Item(assignment, FILES[assignment], (SUBMISSIONS / assignment / f"{name}.py").read_bytes(), kind, name)


def hostile_source(body: str) -> bytes:
    correct = (SUBMISSIONS / "svm" / "correct_loops.py").read_text()
    renamed = correct.replace("def svm_loss_naive(", "def _correct_naive(", 1)
    indented = "".join(f"    {line}\n" for line in body.splitlines())
    return (renamed + "\n\nimport os\n\ndef svm_loss_naive(W, X, y, reg):\n" + indented
            + "    return _correct_naive(W, X, y, reg)\n").encode()


def hostile_item(name: str) -> Item:
    return Item("svm", FILES["svm"], hostile_source(HOSTILE[name][0]), "hostile", name)


def mix(n: int = 1000, seed: int = 231, correct_share: float = 0.55) -> list[Item]:
    """``n`` submissions: the hostile ones (scaled from the counts per 1,000), then correct and buggy
    fixtures in the assignments' shares, shuffled."""
    rng = random.Random(seed)
    items: list[Item] = []
    for name, (_, per_thousand) in HOSTILE.items():
        items += [hostile_item(name)] * max(1, round(per_thousand * n / 1000))
    rest = n - len(items)
    for assignment, share in SHARE.items():
        count = round(rest * share) if assignment != "two_layer_net" else rest - sum(
            round(rest * SHARE[a]) for a in SHARE if a != "two_layer_net")
        kinds = fixtures(assignment)
        correct = sorted(k for k, v in kinds.items() if v == "correct")
        buggy = sorted(k for k, v in kinds.items() if v == "bug")
        for i in range(count):
            pool = correct if rng.random() < correct_share else buggy
            items.append(fixture_item(assignment, rng.choice(pool)))
    rng.shuffle(items)
    return items[:n]
