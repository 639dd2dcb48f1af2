"""``grader similarity ASSIGNMENT``: rank pairs of students' latest submissions by code similarity.

Reads the database directly (configured like the server), as the other administration commands do; it
only reads (no grade, report or submission changes). See :mod:`grader.similarity` for the measure.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click


def _share(value: float) -> str:
    return f"{100 * value:.0f}%"


def _lines(regions: list[tuple[int, int]]) -> str:
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in regions) or "-"


class _Progress:
    """A line on stderr every few seconds, so a big class's minute of work does not look like a hang."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.last = time.monotonic()

    def __call__(self, phase: str, done: int, total: int) -> None:
        if phase != "done" and time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            click.echo(f"  {phase}: {done} of {total}", err=True)


@click.command("similarity")
@click.argument("assignment")
@click.option("--public", "public_dir", type=click.Path(path_type=Path), default=None,
              help="A folder of known public solutions (.py files), each compared as 'public: <path>'. "
                   "Default: the assignment's public_solutions/ folder when it exists.")
@click.option("--top", type=click.IntRange(1, None), default=50, show_default=True, help="Pairs to list.")
@click.option("--json", "as_json", is_flag=True, help="The ranking as JSON on stdout, nothing else.")
@click.option("--time-limit", type=click.FloatRange(min=1), default=None,
              help="Give up (exit 1) after this many seconds. Default: no limit.")
def similarity_cmd(assignment: str, public_dir: Path | None, top: int, as_json: bool,
                   time_limit: float | None) -> None:
    """Rank pairs of students' latest submissions of ASSIGNMENT by code similarity (copydetect's winnowing,
    the starter code excluded). It reports; it changes no grade."""
    from grader import catalog, similarity
    from grader.commands import _AppSession, _fail

    with _AppSession() as (app, session):
        settings = app.extensions["grader"].settings
        course = catalog.get(session, settings, assignment)  # unknown: NotFound -> exit 2, naming the known ones
        students = similarity.latest_submissions(session, course.id)
        session.rollback()  # catalog.get may have refreshed the assignment's row: nothing of this run is kept
    folder = public_dir
    if folder is None:
        default = similarity.default_public_folder(course.spec.path)
        folder = default if default.is_dir() else None
    try:
        public = similarity.public_solutions(folder) if folder is not None else []
        boilerplate = similarity.boilerplate_hashes(course.spec.starter_dir)
        if not as_json:
            click.echo(f"{assignment}: comparing the latest submissions of {len(students)} students"
                       + (f" and {len(public)} public solution{'' if len(public) == 1 else 's'} from {folder}"
                          if folder is not None else ""),
                       err=True)
        ranking = similarity.rank(course.id, students, public, boilerplate, top=top, time_limit=time_limit,
                                  progress=_Progress())
    except similarity.SimilarityTimeout as exc:
        _fail(str(exc), 1)
    except similarity.SimilarityError as exc:
        _fail(str(exc), 2)
    if as_json:
        click.echo(json.dumps(ranking.as_dict(), indent=2))
        return
    out = sys.stdout
    out.write(f"Measure: {similarity.MEASURE}.\n")
    if not ranking.pairs:
        out.write("No two submissions share code beyond the starter code.\n")
    else:
        width = max(len(p.a.label) for p in ranking.pairs)
        width_b = max(len(p.b.label) for p in ranking.pairs)
        out.write(f"{'rank':>4}  {'similar':>7}  {'A':<{width}}  {'A%':>4}  {'B':<{width_b}}  {'B%':>4}  "
                  "matching lines (A | B)\n")
        for i, p in enumerate(ranking.pairs, 1):
            regions = "; ".join(
                (f"{f.file_a}: " if f.file_a == f.file_b else f"{f.file_a} ~ {f.file_b}: ")
                + f"{_lines(f.regions_a)} | {_lines(f.regions_b)}" for f in p.files if f.regions_a)
            out.write(f"{i:>4}  {_share(p.similarity):>7}  {p.a.label:<{width}}  {_share(p.share_a):>4}  "
                      f"{p.b.label:<{width_b}}  {_share(p.share_b):>4}  {regions}\n")
    if ranking.without_own_code:
        out.write(f"Nothing beyond the starter code: {', '.join(ranking.without_own_code)}\n")
    click.echo(f"{ranking.pairs_with_overlap} of {ranking.pairs_total} pairs share code; {ranking.compared} file "
               f"pairs compared in {ranking.seconds:.1f} s (fingerprints {ranking.fingerprint_seconds:.1f} s)",
               err=True)
