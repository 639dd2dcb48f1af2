"""Instructors' similarity pages: pairs of students' latest submissions ranked by code similarity, and a
side-by-side view of two submissions with the matching regions highlighted (:mod:`grader.similarity`).

It reports; it never changes a grade. For instructors only (TAs see grades, not integrity cases).

**Computed in the background, cached in memory.** A ranking of a big class takes minutes (800 students
whose code is largely shared: 6 minutes on a loaded 2-core machine, ``bench/bench_similarity.py``), so a
page request never computes it: it starts a computation in a thread of the web process (one at a time per
process, bounded by :data:`TIME_LIMIT`), waits for it at most :data:`FIRST_WAIT_SECONDS` (a small class's
ranking is shown at once), and otherwise shows its progress, reloading itself every few seconds until the
ranking is there. The ranking is then kept in this process's memory for its inputs (each student's
latest submission id, the starter and public solution files): a new submission makes the page compute it
again, showing the previous ranking meanwhile, marked out of date; a computation that failed is tried
again by a visit :data:`RETRY_FAILED_SECONDS` later. Each web process (gunicorn worker) has
its own cache, so a second process may compute the same ranking once more. ``grader similarity`` computes
it on demand on the command line.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, abort, current_app, jsonify, render_template, url_for
from sqlalchemy import select

from grader import catalog, similarity
from grader.context import db_session, state
from grader.dashboard.account import instructor_required
from grader.models import Submission, User

bp = Blueprint("similarity", __name__, url_prefix="/instructor/similarity")
log = logging.getLogger(__name__)

TIME_LIMIT = 900.0  # seconds a background ranking may take before it is abandoned with a message
TOP = 200  # pairs kept and shown
REFRESH_SECONDS = 2
FIRST_WAIT_SECONDS = 2.0  # the page waits this long for a computation before showing its progress instead
RETRY_FAILED_SECONDS = 300.0
MAX_ID = 2**31 - 1


@dataclass
class Job:
    key: tuple[str, str, str]
    assignment_id: str
    inputs: str
    started: float
    status: str = "running"  # running | done | failed
    phase: str = "starting"
    done: int = 0
    total: int = 0
    result: similarity.Ranking | None = None
    error: str = ""
    finished: float = 0.0
    ended: threading.Event = field(default_factory=threading.Event)


_lock = threading.Lock()
# Keyed by (database, assignments folder, assignment id): one process may serve several apps (the tests do).
_jobs: dict[tuple[str, str, str], Job] = {}  # the latest computation (running, or finished with its result)
_finished: dict[tuple[str, str, str], Job] = {}  # the latest finished ranking (shown while a new one runs)


def _files_digest(folder: Path) -> str:
    digest = hashlib.sha256()
    if folder.is_dir():
        for path in sorted(folder.rglob("*.py")):
            try:
                st = path.stat()
            except OSError:
                continue
            digest.update(f"{path.relative_to(folder)}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def _inputs(assignment: catalog.CourseAssignment) -> str:
    """What a ranking depends on, cheaply: each student's latest submission id (files of a submission never
    change), and the starter and public solution files (names, sizes, modification times)."""
    session = db_session()
    rows = session.execute(
        select(Submission.user_id, Submission.id, Submission.created_at)
        .join(User, User.id == Submission.user_id)
        .where(Submission.assignment_id == assignment.id, User.role == "student")
        .order_by(Submission.user_id, Submission.created_at.desc(), Submission.id.desc())).all()
    latest: dict[int, int] = {}
    for user_id, sub_id, _ in rows:
        latest.setdefault(user_id, sub_id)
    digest = hashlib.sha256(repr(sorted(latest.items())).encode())
    digest.update(_files_digest(assignment.spec.starter_dir).encode())
    digest.update(_files_digest(similarity.default_public_folder(assignment.spec.path)).encode())
    return digest.hexdigest()


def _run(app: Flask, job: Job) -> None:
    def progress(phase: str, done: int, total: int) -> None:
        job.phase, job.done, job.total = phase, done, total

    try:
        with app.app_context():
            grader_state = app.extensions["grader"]
            with grader_state.db.session() as session:
                course = catalog.get(session, grader_state.settings, job.assignment_id)
                students = similarity.latest_submissions(session, course.id)
                session.rollback()
            folder = similarity.default_public_folder(course.spec.path)
            public = similarity.public_solutions(folder) if folder.is_dir() else []
            boilerplate = similarity.boilerplate_hashes(course.spec.starter_dir)
            job.result = similarity.rank(course.id, students, public, boilerplate, top=TOP,
                                         time_limit=TIME_LIMIT, progress=progress)
            job.status = "done"
    except similarity.SimilarityError as exc:
        job.status, job.error = "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - the page must say the computation failed, not spin forever
        log.exception("similarity ranking of %s failed", job.assignment_id)
        job.status, job.error = "failed", f"the computation failed ({type(exc).__name__}); see the server's log"
    finally:
        job.finished = time.monotonic()
        with _lock:
            if job.status == "done":
                _finished[job.key] = job
        job.ended.set()


def _current(assignment: catalog.CourseAssignment) -> tuple[Job | None, Job | None, str]:
    """(the computation for the current inputs, started now if needed; the latest finished one; a note)."""
    inputs = _inputs(assignment)
    grader_state = state()
    key = (str(grader_state.db.engine.url), str(grader_state.settings.assignments_dir), assignment.id)
    note = ""
    with _lock:
        job = _jobs.get(key)
        retry = job is not None and job.status == "failed" and time.monotonic() - job.finished > RETRY_FAILED_SECONDS
        if job is None or job.inputs != inputs or retry:
            busy = [j for j in _jobs.values() if j.status == "running"]
            if busy:
                note = (f"Waiting for the ranking of {busy[0].assignment_id} to finish (one computation at a time); "
                        "this page tries again by itself.")
                job = None
            else:
                job = Job(key, assignment.id, inputs, time.monotonic())
                _jobs[key] = job
                threading.Thread(target=_run, args=(current_app._get_current_object(), job),  # type: ignore[attr-defined]
                                 name=f"similarity-{assignment.id}", daemon=True).start()
        finished = _finished.get(key)
    return job, finished, note


def _assignment(assignment_id: str) -> catalog.CourseAssignment:
    session = db_session()
    course = catalog.get(session, state().settings, assignment_id)  # NotFound -> 404 page
    session.commit()
    return course


@bp.get("/")
@instructor_required
def index() -> Any:
    session = db_session()
    assignments = catalog.all_assignments(session, state().settings)
    session.commit()
    return render_template("similarity_index.html", assignments=assignments)


@bp.get("/<assignment_id>")
@instructor_required
def ranking(assignment_id: str) -> Any:
    course = _assignment(assignment_id)
    job, finished, note = _current(course)
    if job is not None:
        job.ended.wait(FIRST_WAIT_SECONDS)  # a small class's ranking is shown at once, without a reload
    shown = job if job is not None and job.status == "done" else finished
    running = job is not None and job.status == "running"
    failed = job if job is not None and job.status == "failed" else None
    stale = shown is not None and (job is None or shown is not job)
    public_folder = similarity.default_public_folder(course.spec.path)
    return render_template("similarity.html", assignment=course, job=job, shown=shown, running=running,
                           failed=failed, stale=stale, note=note, refresh=REFRESH_SECONDS if running or note else 0,
                           elapsed=(time.monotonic() - job.started) if job else 0.0, measure=similarity.MEASURE,
                           public_folder=public_folder, has_public=public_folder.is_dir(), time_limit=TIME_LIMIT)


@bp.get("/<assignment_id>.json")
@instructor_required
def ranking_json(assignment_id: str) -> Any:
    """The computation's state, and the ranking (as ``grader similarity --json``) once it is done."""
    course = _assignment(assignment_id)
    job, finished, note = _current(course)
    body: dict[str, Any] = {"status": job.status if job else "waiting", "note": note}
    if job is not None:
        body.update(phase=job.phase, done=job.done, total=job.total, error=job.error or None)
        if job.status == "done" and job.result is not None:
            body["ranking"] = job.result.as_dict()
    return jsonify(body)


def _owner(assignment: catalog.CourseAssignment, key: str) -> similarity.Owner:
    """A submission of this assignment by its id, or ``public:<path>`` from the public solutions folder."""
    if key.startswith("public:"):
        name = key[len("public:"):]
        folder = similarity.default_public_folder(assignment.spec.path)
        if not folder.is_dir():
            abort(404)
        try:
            owners = similarity.public_solutions(folder, only=name)  # a listed file only: no path from the URL
        except similarity.SimilarityError as exc:
            abort(409, str(exc))
        if not owners:
            abort(404)
        return owners[0]
    if not key.isdigit() or int(key) > MAX_ID:
        abort(404)
    session = db_session()
    sub = session.get(Submission, int(key))
    if sub is None or sub.assignment_id != assignment.id:
        abort(404)
    files = {f.filename: bytes(f.content).decode("utf-8", errors="replace") for f in sub.files}
    return similarity.Owner(label=sub.user.email, name=sub.user.name or "", user_id=sub.user_id,
                            submission_id=sub.id, submitted_at=sub.created_at, files=files)


@bp.get("/<assignment_id>/compare/<int:submission_id>/<path:other>")
@instructor_required
def compare(assignment_id: str, submission_id: int, other: str) -> Any:
    course = _assignment(assignment_id)
    a = _owner(course, str(submission_id))
    b = _owner(course, other)
    if a.submission_id == b.submission_id and not b.public:
        abort(404)
    pair = similarity.compare_two(a, b, similarity.boilerplate_hashes(course.spec.starter_dir))
    db_session().rollback()
    views = []
    for match in pair.files:
        views.append({
            "match": match,
            "lines_a": similarity.highlighted_lines(a.files[match.file_a], match.slices_a),
            "lines_b": similarity.highlighted_lines(b.files[match.file_b], match.slices_b),
        })
    return render_template("similarity_compare.html", assignment=course, pair=pair, views=views,
                           measure=similarity.MEASURE, back=url_for("similarity.ranking", assignment_id=course.id))
