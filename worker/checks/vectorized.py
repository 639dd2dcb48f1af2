"""Is a function vectorized? Measured, not guessed from the text of a ``def``.

The rule: **the Python-level work of a vectorized function must not grow with the size of its
inputs.** The grader calls the function the way the tests do (the module attribute, so decorators,
rebinding and module ``__getattr__`` are followed), with the child counting every line event that
runs in the student's files: the function itself, its helpers, lambdas numpy calls back, the naive
version if it is called. It does so at a base size and again with N, D and C doubled one at a time.
A loop over samples, features or classes adds line events in proportion; a loop over a fixed
handful of objects (``for a in (W, X, y): assert ...``), a library call (``scipy.special.logsumexp``,
whatever helper of the same bare name the file defines) and branches do not.

A function counts as looping over a dimension when doubling it adds more than
:data:`GROWTH_SLACK` line events and at least a quarter more than the base run: a loop over N at
the base size runs at least ``N`` more lines when N doubles. The counts come from the child and
are validated like any answer; a submission that removes the grader's tracer fails the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from worker.checks.context import CheckFailed
from worker.sandbox.protocol import Foreign

GROWTH_SLACK = 3  # line events a data-independent branch may add
MAX_LINES = 10**12


@dataclass
class Trace:
    lines: int
    top: list[tuple[int, int]]


def parse_trace(value: Any, what: str) -> Trace:
    """Validate the child's claimed counts."""
    if isinstance(value, Foreign) or not isinstance(value, dict):
        raise CheckFailed(f"the loop measurement of {what} returned no counts; did the code replace the "
                          "grader's runtime?")
    lines, top, intact = value.get("lines"), value.get("top"), value.get("intact")
    if intact is not True:
        raise CheckFailed(f"{what} removed or replaced the grader's line tracer (sys.settrace) while it ran, so "
                          "its loops cannot be measured; this check needs code that leaves tracing alone")
    if not isinstance(lines, int) or isinstance(lines, bool) or not 0 <= lines <= MAX_LINES:
        raise CheckFailed(f"the loop measurement of {what} returned an invalid line count")
    pairs: list[tuple[int, int]] = []
    if isinstance(top, list):
        for item in top[:8]:
            if (isinstance(item, list) and len(item) == 2 and all(isinstance(v, int) and not isinstance(v, bool)
                                                                  and 0 <= v <= MAX_LINES for v in item)):
                pairs.append((item[0], item[1]))
    return Trace(lines, pairs)


def grows(base: Trace, bigger: Trace) -> bool:
    extra = bigger.lines - base.lines
    return extra > GROWTH_SLACK and extra >= 0.25 * max(base.lines, 1)


def describe_lines(trace: Trace, source: str, limit: int = 3) -> str:
    """The lines that ran most often, with their text: ``line 57 (48 times): for i in range(N):``."""
    text = source.splitlines()
    parts = []
    for line, count in trace.top[:limit]:
        code = text[line - 1].strip() if 0 < line <= len(text) else ""
        code = code if len(code) <= 80 else code[:77] + "..."
        parts.append(f"line {line} ({count} times){': ' + code if code else ''}")
    return "; ".join(parts)


def measure_growth(trace: Callable[[dict[str, int]], Trace], base: dict[str, int],
                   dims: tuple[str, ...]) -> tuple[Trace, dict[str, Trace]]:
    """Trace at ``base`` twice (the first call may import or cache) and with each of ``dims`` doubled."""
    trace(base)
    first = trace(base)
    scaled = {}
    for dim in dims:
        sizes = dict(base)
        sizes[dim] *= 2
        scaled[dim] = trace(sizes)
    return first, scaled
