"""Code similarity (grader/similarity.py): the ranking, ``grader similarity``, the instructor pages and the
side-by-side view, in Chromium too. It reports; it never changes a grade.

The class: alice and carol wrote their own (tests/similarity/honest_a.py, honest_b.py, written
independently in different styles); bob handed in alice's code with every variable renamed, the comments
replaced and the two functions swapped; mallory did the same to a solution found on a public repository
(tests/similarity/public_solution.py, in the assignment's public_solutions/ folder); erin handed in the
starter unchanged; hacker copied carol's and added ``</script><img onerror>`` in comments and strings.
"""

from __future__ import annotations

import json
import re
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator

import pytest
from click.testing import CliRunner
from browser_fixtures import Site, artifacts, browser, log_in, shoot  # noqa: F401 (fixtures)
from service_fixtures import (  # noqa: F401 (postgres_url: a fixture)
    PASSWORD,
    People,
    free_port,
    make_app,
    make_course,
    now,
    postgres_url,
    wait_for,
)

from grader import auth, gradebook, similarity, submissions
from grader.cli import main
from grader.models import AuditEntry, Report, Submission, TestResult

HERE = Path(__file__).resolve().parent / "similarity"
ROOT = Path(__file__).resolve().parent.parent
STARTER = ROOT / "assignments" / "svm" / "starter" / "linear_svm.py"
HONEST_A = (HERE / "honest_a.py").read_text()
HONEST_B = (HERE / "honest_b.py").read_text()
PUBLIC = (HERE / "public_solution.py").read_text()
PAYLOAD = "</script><img src=x onerror=alert(1)>"
REPORT = {"assignment": "svm", "status": "graded", "score": 24.0, "max_score": 35.0, "seed": 3, "grader_version": "t",
          "tests": [{"id": "reg", "name": "regularisation", "score": 24.0, "max_score": 35.0, "status": "failed",
                     "visibility": "visible", "output": "missing 2*reg*W", "details": {"error": 0.5}}]}

RENAMES = {"loss": "total_loss", "dW": "gradient", "num_train": "N", "num_classes": "C", "scores": "s",
           "correct_class_score": "true_s", "margin": "m", "margins": "hinge", "binary": "mask", "rows": "idx",
           "correct": "true_col", "i": "n", "j": "k", "count": "hits", "margin_matrix": "M",
           "correct_scores": "cs", "counts": "ct"}


def disguise(source: str, note: str = "my own work") -> str:
    """What a student does to hide a copy: comments replaced, every variable renamed, functions reordered."""
    source = re.sub(r"#[^\n]*", "", source)
    for old, new in RENAMES.items():
        source = re.sub(rf"\b{old}\b", new, source)
    head, *functions = source.split("\ndef ")
    return head + "".join(f"\n# {note}\ndef " + f for f in reversed(functions))


def hostile(source: str) -> str:
    source = source.replace('"""Multiclass SVM loss, one sample and one class at a time."""',
                            f'"""{PAYLOAD}"""\n    label = "{PAYLOAD}"')
    return f"# {PAYLOAD}\n" + source


def owner(label: str, text: str, n: int) -> similarity.Owner:
    return similarity.Owner(label=label, user_id=n, submission_id=n, files={"linear_svm.py": text})


BOILERPLATE = similarity.boilerplate_hashes(STARTER.parent)


# --------------------------------------------------------------------------- the ranking


@pytest.fixture(scope="module")
def ranked() -> similarity.Ranking:
    students = [owner("alice", HONEST_A, 1), owner("bob", disguise(HONEST_A), 2), owner("carol", HONEST_B, 3),
                owner("erin", STARTER.read_text(), 5), owner("mallory", disguise(PUBLIC, "wrote this myself"), 6)]
    public = [similarity.Owner(label="public: gh/linear_svm.py", files={"linear_svm.py": PUBLIC})]
    return similarity.rank("svm", students, public, BOILERPLATE, top=None)


def labels(pair: similarity.Pair) -> set[str]:
    return {pair.a.label, pair.b.label}


def test_a_disguised_copy_and_a_copied_public_solution_rank_at_the_top(ranked):
    top = [labels(p) for p in ranked.pairs[:2]]
    assert {"alice", "bob"} in top and {"mallory", "public: gh/linear_svm.py"} in top
    for pair in ranked.pairs[:2]:
        assert pair.similarity > 0.9 and pair.share_a > 0.9 and pair.share_b > 0.9
    # The matching regions are line ranges on each side; bob's are split because his functions are swapped.
    copy = next(p for p in ranked.pairs if labels(p) == {"alice", "bob"})
    (match,) = copy.files
    assert match.regions_a and match.regions_b
    assert len(match.regions_b if copy.b.label == "bob" else match.regions_a) == 2


def test_honest_independent_work_and_the_starter_rank_low(ranked):
    honest = next(p for p in ranked.pairs if labels(p) == {"alice", "carol"})
    assert honest.similarity < 0.15
    copies = [p for p in ranked.pairs if labels(p) in ({"alice", "bob"}, {"mallory", "public: gh/linear_svm.py"})]
    assert all(p.similarity > 4 * honest.similarity for p in copies)
    for pair in ranked.pairs:  # carol wrote her own: nothing of hers is close to anyone
        if "carol" in labels(pair):
            assert pair.similarity < 0.2, pair
    # The starter unchanged is nothing of the student's own: no pair, and named as such.
    assert ranked.without_own_code == ["erin"]
    assert not any("erin" in labels(p) for p in ranked.pairs)
    assert ranked.students == 5 and ranked.public == 1 and ranked.pairs_total == 10 + 5


def test_the_starter_code_does_not_count():
    """Two students who each added the same two lines to the starter match only on those lines."""
    starter = STARTER.read_text()
    added = starter.replace("  return loss, dW\n\n\ndef", "  dW += 2 * reg * W\n  dW /= float(num_train)\n"
                                                             "  return loss, dW\n\n\ndef", 1)
    both = similarity.rank("svm", [owner("x", added, 1), owner("y", added, 2)], [], BOILERPLATE, top=None)
    (pair,) = both.pairs
    (match,) = pair.files
    assert match.regions_a == match.regions_b and len(match.regions_a) == 1
    # The region is the added lines with the code around them that a k-gram spans (comments between count
    # for nothing): it starts at the end of the starter's loop, never at the top of the file.
    first, last = match.regions_a[0]
    assert 35 <= first <= 57 and last >= 58
    # Without the starter as boilerplate, the same two files match everywhere, with 4-5 times the tokens.
    empty = similarity.boilerplate_hashes(Path("/nonexistent"))
    (whole,) = similarity.rank("svm", [owner("x", added, 1), owner("y", added, 2)], [], empty).pairs
    assert whole.files[0].regions_a == [(1, added.count("\n"))]
    assert match.tokens_a < 0.3 * whole.files[0].tokens_a


def test_assignments_of_several_files_are_compared_file_by_file():
    layers, net = "cs231n/layers.py", "cs231n/classifiers/fc_net.py"
    x = similarity.Owner("x", user_id=1, submission_id=1, files={layers: HONEST_A, net: PUBLIC})
    y = similarity.Owner("y", user_id=2, submission_id=2, files={layers: disguise(HONEST_A), net: HONEST_B})
    (pair,) = similarity.rank("fc_net", [x, y], [], BOILERPLATE).pairs
    by_name = {f.file_a: f for f in pair.files}
    assert set(by_name) == {layers, net} and all(f.file_a == f.file_b for f in pair.files)
    assert by_name[layers].similarity > 0.9 and by_name[net].similarity < 0.2
    assert by_name[net].similarity < pair.similarity < by_name[layers].similarity


def test_only_pairs_that_share_fingerprints_are_compared_and_the_measure_is_both_directions(ranked):
    assert ranked.compared <= ranked.pairs_with_overlap + 0  # one file each: one comparison per candidate pair
    assert ranked.pairs_with_overlap < ranked.pairs_total
    pair = ranked.pairs[0]
    (match,) = pair.files
    expected = (match.overlap_a + match.overlap_b) / (match.tokens_a + match.tokens_b)
    assert pair.similarity == pytest.approx(expected)
    assert pair.share_a == pytest.approx(match.overlap_a / match.tokens_a)
    data = ranked.as_dict()
    assert data["pairs"][0]["rank"] == 1 and "combined share" in data["measure"]
    json.dumps(data)  # plain JSON


def test_a_time_limit_stops_the_computation_with_a_message():
    many = [owner(f"s{i}", disguise(HONEST_A, str(i)), i) for i in range(40)]
    with pytest.raises(similarity.SimilarityTimeout, match="over its 1e-06 s limit"):
        similarity.rank("svm", many, [], BOILERPLATE, time_limit=1e-6)


def test_highlighted_lines_cover_exactly_the_regions():
    text = "ab\ncdef\n\ngh"
    lines = similarity.highlighted_lines(text, [(1, 5), (9, 10)])
    assert lines == [[("a", False), ("b", True)], [("cd", True), ("ef", False)], [("", False)],
                     [("g", True), ("h", False)]]
    assert "\n".join("".join(t for t, _ in line) for line in lines) == text


def test_public_solutions_folder_errors_name_the_file(tmp_path):
    with pytest.raises(similarity.SimilarityError, match="does not exist"):
        similarity.public_solutions(tmp_path / "missing")
    (tmp_path / "ok.py").write_text(PUBLIC)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "hidden.py").write_text("x = 1\n")
    assert [o.label for o in similarity.public_solutions(tmp_path)] == ["public: ok.py"]
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "latin1.py").write_bytes(b"# caf\xe9\n")
    with pytest.raises(similarity.SimilarityError, match=r"sub/latin1.py is not UTF-8"):
        similarity.public_solutions(tmp_path)
    # One file by its relative path (the side-by-side view): only a listed file, never a path as given.
    assert [o.label for o in similarity.public_solutions(tmp_path, only="ok.py")] == ["public: ok.py"]
    for name in ("../ok.py", "sub/../ok.py", str(tmp_path / "ok.py"), ".git/hidden.py", "nope.py"):
        assert similarity.public_solutions(tmp_path, only=name) == []


# --------------------------------------------------------------------------- a course in the database


class Course:
    def __init__(self, app: Any, root: Path, instance: Path, database: str, ids: dict[str, int]) -> None:
        self.app, self.root, self.instance, self.database, self.ids = app, root, instance, database, ids


def _submit(app: Any, name: str, source: str, at: Any, grade: bool = False) -> int:
    state = app.extensions["grader"]
    with state.db.session() as session:
        user = auth.find_user(session, f"{name}@example.edu")
        sub = submissions.submit(session, state.settings, user, "svm", [("linear_svm.py", source.encode())], None,
                                 now=at)
        if grade:  # a stored report (its shape as the engine makes it), so there are grades to keep unchanged
            claim = submissions.claim(session, state.settings, sub.id, "test")
            assert submissions.finish(session, claim, REPORT)
        return sub.id


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Course]:
    """The class on PostgreSQL, where production keeps submissions (the module's own database)."""
    tmp = tmp_path_factory.mktemp("similarity")
    root = make_course(tmp / "course", "", ("svm",))
    (root / "svm" / "public_solutions" / "github_user").mkdir(parents=True)
    (root / "svm" / "public_solutions" / "github_user" / "linear_svm.py").write_text(PUBLIC)
    app = make_app(tmp / "instance", DATABASE_URL=postgres_url, ASSIGNMENTS_DIR=str(root))
    people = People(app)
    for name in ("alice", "bob", "carol", "erin", "mallory", "hacker"):
        people.add(name)
    people.add("prof", role="instructor")
    people.add("tara", role="ta")
    t0 = now() - timedelta(hours=5)
    ids = {
        "alice_first": _submit(app, "alice", HONEST_B, t0),  # her earlier hand-in is not compared
        "alice": _submit(app, "alice", HONEST_A, t0 + timedelta(hours=1), grade=True),
        "bob": _submit(app, "bob", disguise(HONEST_A), t0 + timedelta(hours=2), grade=True),
        "carol": _submit(app, "carol", HONEST_B, t0 + timedelta(hours=1)),
        "erin": _submit(app, "erin", STARTER.read_text(), t0),
        "mallory": _submit(app, "mallory", disguise(PUBLIC, "wrote this myself"), t0),
        "hacker": _submit(app, "hacker", hostile(HONEST_B), t0 + timedelta(hours=3)),
        "prof": None,
    }
    yield Course(app, root, tmp / "instance", postgres_url, ids)
    app.extensions["grader"].db.engine.dispose()


def snapshot(app: Any) -> Any:
    """Everything a grade is made of: submissions, reports, test results; and the audit log."""
    from sqlalchemy import select

    with app.extensions["grader"].db.session() as session:
        subs = session.execute(select(Submission.id, Submission.status, Submission.score, Submission.max_score,
                                      Submission.finished_at, Submission.attempts).order_by(Submission.id)).all()
        reports = session.execute(select(Report.id, Report.score, Report.data).order_by(Report.id)).all()
        results = session.execute(select(TestResult.id, TestResult.score, TestResult.status)).all()
        audit = session.execute(select(AuditEntry.id)).all()
        book = gradebook.build(session, app.extensions["grader"].settings).to_csv()
        session.commit()
        return subs, [(r[0], r[1], json.dumps(r[2], sort_keys=True)) for r in reports], sorted(results), audit, book


def cli(course: Course, *args: str) -> Any:
    env = {"GRADER_DATABASE_URL": course.database, "GRADER_BROKER_URL": None, "GRADER_ENV": None,
           "GRADER_INSTANCE_PATH": str(course.instance), "GRADER_ASSIGNMENTS_DIR": str(course.root)}
    return CliRunner(env=env).invoke(main, ["similarity", *args])


def login(app: Any, name: str) -> Any:
    client = app.test_client()
    html = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post("/login", data={"email": f"{name}@example.edu", "password": PASSWORD,
                                           "csrf_token": token})
    assert response.status_code == 303
    return client


@pytest.fixture(scope="module")
def prof(course: Course) -> Any:
    return login(course.app, "prof")


def finished_ranking(client: Any, assignment: str = "svm") -> dict[str, Any]:
    def done() -> Any:
        body = client.get(f"/instructor/similarity/{assignment}.json").json
        assert body["status"] != "failed", body
        return body if body["status"] == "done" else None

    return wait_for(done, 30, "the similarity ranking", interval=0.05)


def test_the_command_ranks_the_latest_submissions_against_the_public_folder(course):
    result = cli(course, "svm", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    top = [{p["a"]["who"], p["b"]["who"]} for p in data["pairs"][:3]]  # the three copies, in some order
    for copy in ({"alice@example.edu", "bob@example.edu"}, {"carol@example.edu", "hacker@example.edu"},
                 {"mallory@example.edu", "public: github_user/linear_svm.py"}):
        assert copy in top
    assert all(p["similarity"] > 0.9 for p in data["pairs"][:3]) and data["pairs"][3]["similarity"] < 0.5
    # alice's latest submission is the one compared (her first was carol's code: that pair would be ~100%)
    alice_carol = [p for p in data["pairs"] if {p["a"]["who"], p["b"]["who"]} == {"alice@example.edu",
                                                                                   "carol@example.edu"}]
    assert all(p["similarity"] < 0.2 for p in alice_carol)
    assert {p["a"]["submission_id"] for p in data["pairs"] if p["a"]["who"] == "alice@example.edu"} == \
        {course.ids["alice"]}
    assert data["students"] == 6 and data["public_solutions"] == 1 and data["without_own_code"] == ["erin@example.edu"]
    assert "prof@example.edu" not in result.stdout and "tara@example.edu" not in result.stdout

    text = cli(course, "svm", "--top", "2")
    assert text.exit_code == 0
    rows = [line for line in text.stdout.splitlines() if re.match(r"\s+\d+\s+\d+%", line)]
    assert len(rows) == 2 and "public: github_user/linear_svm.py" in text.stdout
    assert "linear_svm.py:" in rows[0] and "|" in rows[0]
    assert "Nothing beyond the starter code: erin@example.edu" in text.stdout
    assert "pairs share code" in text.stderr

    other = course.root / "elsewhere"
    other.mkdir()
    assert json.loads(cli(course, "svm", "--json", "--public", str(other)).stdout)["public_solutions"] == 0


@pytest.mark.parametrize("args, code, message", [
    (["nope"], 2, "nope"),
    (["svm", "--public", "/nonexistent/solutions"], 2, "does not exist"),
    (["svm", "--top", "0"], 2, "--top"),
])
def test_the_command_refuses_bad_input_with_one_line(course, args, code, message):
    result = cli(course, *args)
    assert result.exit_code == code and message in result.stderr and "Traceback" not in result.stderr


def test_the_command_names_a_public_file_that_is_not_text(course, tmp_path):
    (tmp_path / "binary.py").write_bytes(b"\x89PNG\r\n\x1a\n\xff")
    result = cli(course, "svm", "--public", str(tmp_path))
    assert result.exit_code == 2 and "binary.py is not UTF-8" in result.stderr


def test_only_instructors_see_the_pages(course):
    visitor = course.app.test_client()
    assert visitor.get("/instructor/similarity/svm").status_code == 302
    assert visitor.get("/instructor/similarity/svm.json").status_code == 401
    for name in ("alice", "tara"):  # a student, a TA
        client = login(course.app, name)
        for url in ("/instructor/similarity/", "/instructor/similarity/svm", "/instructor/similarity/svm.json",
                    f"/instructor/similarity/svm/compare/{course.ids['alice']}/{course.ids['bob']}"):
            assert client.get(url).status_code == 403, (name, url)
    prof = login(course.app, "prof")  # a login of its own here: the others share one (scrypt is slow on purpose)
    assert prof.get("/instructor/similarity/nope").status_code == 404
    index = prof.get("/instructor/similarity/")
    assert index.status_code == 200 and "/instructor/similarity/svm" in index.get_data(as_text=True)
    assert 'href="/instructor/similarity/"' in prof.get("/instructor/gradebook").get_data(as_text=True)


def test_the_page_computes_in_the_background_and_ranks_with_links(course, prof, monkeypatch):
    from grader.dashboard import similarity as page_module

    before = snapshot(course.app)
    # A computation that takes longer than the page waits for (held here until the page has answered).
    gate = threading.Event()
    rank = similarity.rank
    monkeypatch.setattr(similarity, "rank", lambda *args, **kw: gate.wait(30) and rank(*args, **kw))
    monkeypatch.setattr(page_module, "FIRST_WAIT_SECONDS", 0.3)  # 2 s in production; the same code path
    started = time.monotonic()
    first = prof.get("/instructor/similarity/svm")
    waited = time.monotonic() - started
    gate.set()
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and 'id="similarity-status"' in html and "Computing the ranking" in html
    assert page_module.FIRST_WAIT_SECONDS <= waited < page_module.FIRST_WAIT_SECONDS + 5  # bounded, never hangs
    # It reloads itself (by script; a meta refresh only without JavaScript) until the ranking is there.
    assert '<meta name="grader-reload" content="2">' in html and 'id="similarity-ranking"' not in html
    assert first.headers["Content-Security-Policy"].startswith("default-src 'self'")
    body = finished_ranking(prof)
    page = prof.get("/instructor/similarity/svm").get_data(as_text=True)
    assert 'id="similarity-ranking"' in page and 'http-equiv="refresh"' not in page
    rows = re.findall(r"<tr>\s*<td class=\"num\">(\d+)</td>", page)
    assert rows[:3] == ["1", "2", "3"] and len(rows) == len(body["ranking"]["pairs"])
    compare = f"/instructor/similarity/svm/compare/{course.ids['alice']}/{course.ids['bob']}"
    compare_rev = f"/instructor/similarity/svm/compare/{course.ids['bob']}/{course.ids['alice']}"
    assert compare in page or compare_rev in page
    assert "/compare/%d/public:github_user/linear_svm.py" % course.ids["mallory"] in page
    assert "erin@example.edu" in page  # named as nothing beyond the starter
    # The page and the command report the same ranking.
    cli_data = json.loads(cli(course, "svm", "--json", "--top", "200").stdout)
    strip = lambda d: [(p["a"]["who"], p["b"]["who"], p["similarity"]) for p in d["pairs"]]  # noqa: E731
    assert strip(cli_data) == strip(body["ranking"])
    # A second visit uses the cached ranking: no new computation.
    again = prof.get("/instructor/similarity/svm.json").json
    assert again["status"] == "done" and again["ranking"]["seconds"] == body["ranking"]["seconds"]
    assert snapshot(course.app) == before  # it reports; nothing of any grade changed


def test_the_side_by_side_view_highlights_and_escapes(course, prof):
    before = snapshot(course.app)
    response = prof.get(f"/instructor/similarity/svm/compare/{course.ids['hacker']}/{course.ids['carol']}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert PAYLOAD not in html and "<img" not in html and "</script><" not in html
    assert "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert html.count("<mark>") > 5 and 'id="a-L1"' in html and 'id="b-L1"' in html
    assert re.search(r'Matching lines in A: <a href="#a-L\d+">', html)
    assert f'href="/submissions/{course.ids["hacker"]}"' in html  # each side links to the submission's page
    assert "Content-Security-Policy" in response.headers

    public = prof.get(f"/instructor/similarity/svm/compare/{course.ids['mallory']}/public:github_user/linear_svm.py")
    assert public.status_code == 200 and "github_user/linear_svm.py" in public.get_data(as_text=True)
    for bad in ("public:../../../etc/passwd", "public:nope.py", "999999", "99999999999999999999", "abc",
                f"{course.ids['alice']}x"):
        assert prof.get(f"/instructor/similarity/svm/compare/{course.ids['alice']}/{bad}").status_code == 404, bad
    assert prof.get(f"/instructor/similarity/svm/compare/{course.ids['alice']}/{course.ids['alice']}").status_code \
        == 404
    assert snapshot(course.app) == before


def test_a_new_submission_makes_the_page_compute_again(course, prof):
    finished_ranking(prof)
    new_id = _submit(course.app, "erin", disguise(HONEST_B, "mine"), now())
    try:
        page = prof.get("/instructor/similarity/svm").get_data(as_text=True)
        # The earlier ranking stays on the page, marked out of date, until the new one is there.
        assert "out of date" in page or "Computing" in page or "similarity-ranking" in page
        body = finished_ranking(prof)
        erin = [p for p in body["ranking"]["pairs"] if "erin@example.edu" in (p["a"]["who"], p["b"]["who"])]
        assert erin and {p["a"]["submission_id"] for p in erin} | {p["b"]["submission_id"] for p in erin} >= {new_id}
        assert body["ranking"]["without_own_code"] == []
    finally:
        with course.app.extensions["grader"].db.session() as session:
            session.delete(session.get(Submission, new_id))
            session.commit()


def test_a_computation_over_its_time_limit_says_so_on_the_page(course, prof, monkeypatch):
    from grader.dashboard import similarity as page

    finished_ranking(prof)
    monkeypatch.setattr(page, "TIME_LIMIT", 1e-9)
    with page._lock:  # forget this course's ranking, as a process that never computed it
        for key in [k for k in page._jobs if k[1] == str(course.root)]:
            page._jobs.pop(key)
            page._finished.pop(key, None)

    def failed() -> Any:
        body = prof.get("/instructor/similarity/svm.json").json
        return body if body["status"] == "failed" else None

    body = wait_for(failed, 30, "the computation to fail")
    assert "went over its 1e-09 s limit" in body["error"]
    html = prof.get("/instructor/similarity/svm").get_data(as_text=True)
    assert 'id="similarity-error"' in html and "grader similarity svm" in html
    assert 'id="similarity-ranking"' not in html and 'http-equiv="refresh"' not in html
    with page._lock:
        for key in [k for k in page._jobs if k[1] == str(course.root)]:
            page._jobs.pop(key)


# --------------------------------------------------------------------------- in Chromium


def test_the_ranking_and_the_side_by_side_view_in_chromium(course, prof, browser, artifacts):
    from werkzeug.serving import make_server

    from grader.dashboard import similarity as page_module

    with page_module._lock:  # forget this course's ranking: the browser's first visit computes it
        for key in [k for k in page_module._jobs if k[1] == str(course.root)]:
            page_module._jobs.pop(key)
            page_module._finished.pop(key, None)

    server = make_server("127.0.0.1", free_port(), course.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    site = Site(f"http://127.0.0.1:{server.server_port}", course.app, course.root, None)  # type: ignore[arg-type]
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        log_in(page, site, "prof")
        page.get_by_role("link", name="Similarity").click()
        page.get_by_role("link", name="Multiclass SVM: loss and gradient").click()
        table = page.locator("#similarity-ranking")
        # A small class: the page waited for its ranking (at most 2 s) and shows it at once, with no reload.
        table.wait_for(timeout=30_000)
        assert page.locator("#similarity-status").count() == 0
        first = table.locator("tbody tr").first
        assert re.search(r"\d+%", first.inner_text())
        shoot(page, "similarity-ranking")
        row = table.locator("tbody tr").filter(has_text="hacker@example.edu").filter(has_text="carol@example.edu")
        row.get_by_role("link", name="Side by side").click()
        page.wait_for_load_state()
        marks = page.locator(".sim-code mark")
        assert marks.count() > 5
        assert marks.first.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
        # The payload is shown as text, never run or parsed as markup.
        hacker_side = "a" if page.locator("#sim-a-1").inner_text().count(PAYLOAD) else "b"
        assert page.locator(f"#sim-{hacker_side}-1").inner_text().count(PAYLOAD) == 3
        assert page.locator(".sim-code img").count() == 0 and dialogs == []
        left, right = (page.locator(f"#sim-{s}-1").bounding_box() for s in "ab")
        assert left and right and left["x"] + left["width"] <= right["x"] + 1  # side by side
        shoot(page, "similarity-side-by-side")
    finally:
        context.close()
        server.shutdown()

