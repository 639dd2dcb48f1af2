"""Shared fixtures of the browser tests: a real server and worker with a graded class, and headless Chromium.

A browser test module imports what it uses (``from browser_fixtures import site, browser, artifacts, ...``);
the fixtures are module-scoped, so each module gets a fresh course, server and worker. Each module that
starts one costs about ten seconds: put a new page's tests beside related ones rather than in a module of
their own when you can.

The web app runs in a thread of this process (werkzeug, on 127.0.0.1 and a free port) on the embedded
defaults (SQLite, the filesystem broker); a real ``grader worker`` process grades. Screenshots are artefacts
for people and go to ``test-artifacts/``; with ``UPDATE_SCREENSHOTS=1`` the README's are refreshed in
``docs/screenshots/``. Chromium comes from the system (``make test`` installs Debian's package); without it
these tests FAIL, they never skip.
"""


from __future__ import annotations

import io
import os
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from service_fixtures import (
    FAST_RELIABILITY,
    PASSWORD,
    SUBMISSIONS,
    People,
    free_port,
    iso,
    make_app,
    make_course,
    Process,
    now,
    start_worker,
    wait_for,
    wait_for_heartbeat,
    wait_for_status,
)

from grader import auth, submissions

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
README_SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("GRADER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
BUGGY = SUBMISSIONS / "svm" / "bug_no_reg_grad.py"
TIMEOUT_MS = 60_000


class Site:
    def __init__(self, base: str, app: Any, course: Path, worker: Process) -> None:
        self.base = base
        self.app = app
        self.course = course
        self.worker = worker

    def url(self, path: str) -> str:
        return self.base + path


# The rest of the class, graded before the browser arrives: (student, assignment, fixture, days ago).
CLASSMATES = [
    ("bob", "svm", "correct_loops", 0.2),
    ("bob", "softmax", "correct_logsumexp", 3),
    ("bob", "two_layer_net", "correct_canonical", 0.1),
    ("carol", "svm", "bug_half_reg", 0.3),
    ("carol", "softmax", "bug_grad_not_averaged", 1.5),  # half a day after softmax's deadline: -20%
    ("dave", "svm", "bug_grad_sign", 0.1),
    ("dave", "two_layer_net", "bug_no_relu_backprop", 0.2),
    ("erin", "softmax", "correct_loops", 1.9),  # late too
]


def _graded(app: Any, course: Path, name: str, assignment_id: str, fixture: str, days_ago: float) -> int:
    """A graded submission made without the browser, so the gradebook has a class to show."""
    from worker.assignments import get_assignment
    from worker.engine import grade

    state = app.extensions["grader"]
    assignment = get_assignment(assignment_id, course)
    files = [(assignment.files[0], (SUBMISSIONS / assignment_id / f"{fixture}.py").read_bytes())]
    with state.db.session() as session:
        user = auth.find_user(session, f"{name}@example.edu")
        sub = submissions.submit(session, state.settings, user, assignment_id, files, None,
                                 now=now() - timedelta(days=days_ago))
        claim = submissions.claim(session, state.settings, sub.id, "setup")
        if claim is None:
            # The site's worker took the row first: the fair queue gives any message it holds the fairest waiting
            # row, and the sweeper publishes rows left without a message. It grades it with the same engine.
            sub_id = sub.id
        else:
            submissions.finish(session, claim, grade(assignment, claim.files, seed=11))
            return sub.id
    graded = wait_for_status(app, sub_id, timeout=300)
    assert graded.status == "graded", (graded.status, graded.error)
    return sub_id


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from werkzeug.serving import make_server

    tmp = tmp_path_factory.mktemp("browser")
    # A term in progress: the SVM is due in six days, the softmax was due two days ago.
    course = tmp / "course"
    make_course(course, f"deadline = {iso(now() + timedelta(days=6))}\nlate_penalty_per_day = 0.1\n"
                        "max_submissions_per_hour = 20", ("svm", "two_layer_net"))
    make_course(course, f"deadline = {iso(now() - timedelta(days=2))}\nlate_penalty_per_day = 0.2", ("softmax",))
    # FAST_RELIABILITY's task limits (8 s soft, 9 s hard) killed the attempts of a whole SVM grading on a loaded
    # machine (load 15 on 2 cores: TimeLimitExceeded(9.0) on attempts 1 and 2, no score on the page in 60 s);
    # no browser test is about those limits, so the worker gets the time a slow machine needs.
    reliability = {**FAST_RELIABILITY, "task_soft_time_limit": 60, "task_time_limit": 70, "lease_seconds": 80}
    settings = dict(instance_path=tmp / "instance", assignments_dir=course, **reliability)
    app = make_app(tmp / "instance", **{k.upper(): v for k, v in settings.items() if k != "instance_path"})
    people = People(app)
    for name in ("alice", "bob", "carol", "dave", "erin"):
        people.add(name)
    people.add("prof", role="instructor")
    for classmate in CLASSMATES:
        _graded(app, course, *classmate)
    worker = start_worker(tmp, "worker", **settings)
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        wait_for_heartbeat(app, timeout=60, process=worker)
        yield Site(f"http://127.0.0.1:{server.server_port}", app, course, worker)
    finally:
        server.shutdown()
        worker.stop()
        app.extensions["grader"].db.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: `make test` installs it "
                    "(apt-get install chromium)", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module", autouse=True)
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


def shoot(page: Any, name: str, *, full_page: bool = True, clip: dict[str, float] | None = None,
          readme: bool = False) -> Path:
    """Save a screenshot in test-artifacts/ (and, for the README's, a small copy in docs/screenshots/)."""
    path = ARTIFACTS / f"{name}.png"
    # With a clip, full_page makes its coordinates relative to the page rather than to the window.
    page.screenshot(path=str(path), full_page=full_page, clip=clip)
    if readme:
        target = README_SHOTS / f"{name}.png"
        if os.environ.get("UPDATE_SCREENSHOTS") == "1":
            README_SHOTS.mkdir(parents=True, exist_ok=True)
            _small_png(path, target)
    return path


def _small_png(source: Path, target: Path) -> None:
    """A palette PNG: the README's screenshots stay well under 300 KB."""
    from PIL import Image

    with Image.open(source) as image:
        small = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        small.save(target, optimize=True)
    assert target.stat().st_size < 300_000, f"{target} is {target.stat().st_size} bytes"


def log_in(page: Any, site: Site, name: str) -> None:
    page.goto(site.url("/"))
    assert page.url.startswith(site.url("/login"))
    page.get_by_label("Email").fill(f"{name}@example.edu")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def red_pixels(png: bytes) -> int:
    """Pixels of the heatmap's red end in a screenshot: the picture was drawn, not just laid out."""
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(png)) as image:
        rgb = np.asarray(image.convert("RGB")).astype(int)
    return int(np.count_nonzero((rgb[..., 0] > 150) & (rgb[..., 1] < 90) & (rgb[..., 2] < 90)))


def no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def box_of(locator: Any) -> dict[str, float]:
    """The element's box in page coordinates (what a full-page screenshot shows), required to be laid out."""
    assert locator.count() == 1, f"{locator} matches {locator.count()} elements"
    box = locator.evaluate("e => { const r = e.getBoundingClientRect(); "
                           "return {x: r.left + window.scrollX, y: r.top + window.scrollY, "
                           "width: r.width, height: r.height}; }")
    assert box["width"] > 0 and box["height"] > 0, f"{locator} is not laid out: {box}"
    return box


def inside(box: dict[str, float], clip: dict[str, float]) -> bool:
    return (box["x"] >= clip["x"] and box["y"] >= clip["y"] and box["x"] + box["width"] <= clip["x"] + clip["width"]
            and box["y"] + box["height"] <= clip["y"] + clip["height"])


def pool_process(worker: Process) -> int:
    """The pid of the worker's pool process (the one that grades): the child of the Celery main process
    that has started the sandbox's fork server."""
    def find() -> int | None:
        parents: dict[int, int] = {}
        commands: dict[int, str] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    commands[int(entry)] = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace")
                except OSError:
                    continue
                parents[int(entry)] = int(stat[stat.rindex(")") + 2:].split()[1])
        pools = {parents[pid] for pid, command in commands.items()
                 if "worker.sandbox.forkserver" in command and parents.get(parents[pid]) == worker.popen.pid}
        return pools.pop() if len(pools) == 1 else None

    return int(wait_for(find, 60, "the worker's pool process and its sandbox fork server"))


