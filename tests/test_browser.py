"""The dashboard in a real browser: headless Chromium driven by Playwright, against a real server and worker.

The web app runs in a thread of this process (werkzeug, on 127.0.0.1 and a
free port) on the embedded defaults (SQLite, the filesystem broker); a real
``grader worker`` process grades. A student downloads the starter, uploads a
buggy SVM through the form, watches it get graded and reads the report down
to the gradient-error picture; an instructor sorts the gradebook, regrades an
assignment and downloads the CSV. Every check is on the page itself (its
text, the DOM, the elements' boxes); screenshots are artefacts for people and
go to ``test-artifacts/``; with ``UPDATE_SCREENSHOTS=1`` the README's two are
refreshed in ``docs/screenshots/``.

Chromium comes from the system (``make test`` installs Debian's package);
without it these tests FAIL, they never skip.
"""

from __future__ import annotations

import copy
import csv
import io
import os
import re
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

from browser_fixtures import (  # noqa: F401 - fixtures are used by name
    BUGGY,
    ROOT,
    TIMEOUT_MS,
    Site,
    artifacts,
    box_of,
    browser,
    inside,
    log_in,
    no_horizontal_scroll,
    pool_process,
    red_pixels,
    shoot,
    site,
)

from browser_fixtures import _graded
from service_fixtures import SUBMISSIONS, now

from grader import auth, submissions
from grader.models import Report, Submission


# --------------------------------------------------------------------------- the student


def test_a_student_hands_in_a_buggy_svm_and_reads_the_report(site: Site, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)

    log_in(page, site, "alice")
    assert page.url == site.url("/assignments")
    assert page.get_by_role("heading", name="Assignments").is_visible()
    assert page.locator("#queue-banner").count() == 0  # a worker is running and the queue is short
    shoot(page, "student-assignments")

    page.get_by_role("link", name="Multiclass SVM: loss and gradient", exact=True).click()
    page.wait_for_url(site.url("/assignments/svm"))
    with page.expect_download() as download:
        page.get_by_role("link", name="Download linear_svm.py").click()
    assert download.value.suggested_filename == "linear_svm.py"
    starter = Path(download.value.path()).read_bytes()
    assert starter == (site.course / "svm" / "starter" / "linear_svm.py").read_bytes()

    # The student's file is called linear_svm.py on their disk; its content is the fixture with a bug.
    page.get_by_label("Your linear_svm.py").set_input_files(
        files=[{"name": "linear_svm.py", "mimeType": "text/x-python", "buffer": BUGGY.read_bytes()}])
    # The worker's pool process is held (SIGSTOP) until the page has shown the submission waiting, so the live
    # status is always there to check, however fast the grading or slow the browser.
    pool = pool_process(site.worker)
    os.kill(pool, signal.SIGSTOP)
    try:
        page.get_by_role("button", name="Submit for grading").click()
        page.wait_for_url(re.compile(r".*/submissions/\d+$"))
        submission_url = page.url
        assert page.get_by_text(re.compile(r"Submission #\d+ received: linear_svm.py")).is_visible()
        live = page.locator("#live")
        assert live.is_visible() and live.get_attribute("aria-live") == "polite"
        assert page.locator("#status-badge").inner_text() == "Queued"
        assert page.locator("[data-live-message]").inner_text().startswith(
            "Queued: next in line; expected to be graded within about ")
        assert "The report appears here once the grading is done." in page.locator("section.report").inner_text()
        shoot(page, "student-live-status", full_page=False)
    finally:
        os.kill(pool, signal.SIGCONT)

    # The page follows the grading by itself and reloads once it is done: nobody touches it meanwhile.
    page.locator(".big-score").wait_for(timeout=TIMEOUT_MS)
    assert page.url == submission_url
    assert page.locator("#live").count() == 0
    summary = page.locator(".report-summary").inner_text()
    assert "/ 33 points" in summary  # the hidden test's 2 points are not shown
    assert "hidden (2 points, not shown)" in summary
    assert page.locator("#status-badge").inner_text() == "Graded"

    failed = page.locator("article.test-failed")
    assert failed.count() >= 4
    first = page.locator("#test-naive_reg_known_value")
    assert "dW is missing the regularisation gradient 2*reg*W" in first.locator(".hint").inner_text()
    assert "tolerance 1e-7" in first.locator(".comparison").inner_text()
    table = first.locator("table.worst")
    assert table.locator("thead").inner_text().split()[:4] == ["feature", "row", "class", "column"]
    assert table.locator("tbody tr").count() == 5

    heatmap = first.locator("svg.heatmap")
    assert heatmap.is_visible()
    assert heatmap.get_attribute("role") == "img"
    assert first.locator("svg.heatmap title").first.text_content() == "Absolute error of each entry of dW"
    box = heatmap.bounding_box()
    assert box is not None and box["width"] > 150 and box["height"] > 150
    assert red_pixels(heatmap.screenshot()) > 500  # the error picture was drawn

    hidden = page.locator("details.test-hidden")  # folded to one line, like the passed tests
    assert hidden.count() == 1 and "Hidden test" in hidden.text_content()
    assert hidden.locator("svg.heatmap").count() == 0
    code = page.locator("aside.code")
    assert "def svm_loss_naive(W, X, y, reg):" in code.inner_text()

    page.evaluate("window.scrollTo(0, 0)")  # the code panel is sticky: a scrolled page would shift it
    # The README's picture (the clip below) must show what its caption promises: the score, what to fix first,
    # the first failing test with its hint, its measured error against the tolerance, the worst entries and the
    # heatmap, and the student's code beside the report.
    # The picture ends below the first failing test; it must stay a picture, not a scroll (at most 2,000 px).
    first_box = box_of(first)
    clip = {"x": 0, "y": 0, "width": 1280, "height": round(first_box["y"] + first_box["height"] + 16)}
    assert clip["height"] <= 2000, f"the first failing test's details end {clip['height']} px down the page"
    report_box, code_box = box_of(page.locator("section.report")), box_of(code)
    for what in (page.locator(".big-score"), page.locator(".report-summary"), page.locator("ol.fix-order"),
                 first.locator(".hint"),
                 first.locator(".comparison"), table, heatmap, page.locator("aside.code .code-title")):
        assert inside(box_of(what), clip), f"{what} is outside the README's screenshot"
    assert code_box["x"] >= report_box["x"] + report_box["width"]  # beside the report, to its right
    assert code_box["y"] < clip["height"] / 4  # from the top of the report on
    shoot(page, "student-report-full")
    shoot(page, "student-report", clip=clip, readme=True)

    # History: the submission is listed on the assignment page with its score.
    page.goto(site.url("/assignments/svm"))
    row = page.locator("table tbody tr").first
    assert row.locator("a").inner_text() == "#" + submission_url.rsplit("/", 1)[1]
    assert "21 / 33" in row.inner_text()
    assert errors == [], errors

    # The same report on a phone: one column, nothing wider than the screen but the code and tables.
    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                device_scale_factor=1)
    mobile = phone.new_page()
    log_in(mobile, site, "alice")
    mobile.goto(submission_url)
    assert no_horizontal_scroll(mobile)
    assert _clipped(mobile, "section.report") == []
    assert mobile.locator("svg.heatmap").first.bounding_box()["width"] <= 390
    # One column: the code comes after the report, not beside it.
    phone_report, phone_code = box_of(mobile.locator("section.report")), box_of(mobile.locator("aside.code"))
    assert phone_code["y"] >= phone_report["y"] + phone_report["height"]
    assert phone_report["width"] <= 390 and phone_code["width"] <= 390
    shoot(mobile, "student-report-phone", full_page=False)
    mobile.locator("#test-naive_reg_known_value svg.heatmap").scroll_into_view_if_needed()
    shoot(mobile, "student-report-phone-heatmap", full_page=False)
    phone.close()
    context.close()


# --------------------------------------------------------------------------- the report page, laptop and phone


def _submission_id(site: Site, name: str, assignment: str) -> int:
    state = site.app.extensions["grader"]
    with state.db.session() as session:
        user = auth.find_user(session, f"{name}@example.edu")
        return int(session.query(Submission.id).filter_by(user_id=user.id, assignment_id=assignment)
                   .order_by(Submission.id).first()[0])


def _stored_report(site: Site, name: str, report: dict[str, Any], fixture: str) -> int:
    """A graded SVM submission of ``fixture`` whose stored report is ``report`` (made without the queue)."""
    state = site.app.extensions["grader"]
    code = (SUBMISSIONS / "svm" / f"{fixture}.py").read_bytes()
    with state.db.session() as session:
        user = auth.find_user(session, f"{name}@example.edu")
        sub = submissions.submit(session, state.settings, user, "svm", [("linear_svm.py", code)], None,
                                 now=now() - timedelta(minutes=30))
        claim = submissions.claim(session, state.settings, sub.id, "browser-test")
        assert claim is not None, "the running worker took the row first"
        submissions.finish(session, claim, report)
        return int(sub.id)


def _reshaped(report: dict[str, Any], test_id: str, rows: int, cols: int) -> dict[str, Any]:
    """The report with one test's error map, worst entries and column maxima over a rows x cols parameter:
    the layout of a narrow (C = 3) and a wide heatmap, drawn from a real report's numbers."""
    out = copy.deepcopy(report)
    test = next(t for t in out["tests"] if t["id"] == test_id)
    details = test["details"]
    flat = [v for row in details["error_map"]["values"] for v in row]
    details["error_map"] = {"values": [[flat[(r * cols + c) % len(flat)] for c in range(cols)] for r in range(rows)],
                            "rows_per_cell": 1, "cols_per_cell": 1, "shape": [rows, cols]}
    for k, w in enumerate(details["worst"]):
        w["index"] = [(rows - 1 - k) % rows, (cols - 1 - 2 * k) % cols]
    details["column_max_error"] = [max(flat)] * cols
    return out


def _overlaps(a: dict[str, float], b: dict[str, float]) -> bool:
    return not (a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"])


def _clipped(page: Any, scope: str) -> list[str]:
    """Elements under ``scope`` whose box reaches past the window's right edge, outside the containers that
    scroll by themselves (tables, code, pre) and the closed one-line names of passed tests (they end in an
    ellipsis; opening the test shows the whole name)."""
    return page.evaluate("""scope => {
      const out = [];
      for (const e of document.querySelectorAll(scope + ' *')) {
        if (e.closest('.table-wrap, pre, svg, .test-folded:not([open]) .test-name')) continue;
        const r = e.getBoundingClientRect();
        if (r.width && r.right > window.innerWidth + 0.5) out.push(e.tagName + '.' + e.className + ' ' + r.right);
      }
      return out; }""", scope)


def _side_by_side(page: Any, article: Any) -> None:
    """At 1280 px the heatmap and the worst-entries table sit side by side, every column of the table shown."""
    heatmap, wrap = box_of(article.locator("svg.heatmap")), article.locator("table.worst").locator("xpath=..")
    table = box_of(wrap)
    assert heatmap["x"] + heatmap["width"] <= table["x"], (heatmap, table)
    assert table["y"] < heatmap["y"] + heatmap["height"] and heatmap["y"] < table["y"] + table["height"]
    assert wrap.evaluate("e => e.scrollWidth <= e.clientWidth"), "the worst-entries table needs scrolling"
    rel = box_of(article.locator("table.worst th", has_text="rel. error"))
    assert inside(rel, table)


def test_the_report_leads_to_the_fix_on_a_laptop_and_a_phone(site: Site, browser: Any, artifacts: Path) -> None:
    """Dave's SVM flips the gradient's sign: seven shown tests fail. The summary says what is wrong with each
    function in the order to fix it, and it and the first failing test fit a 1280 x 800 screen; passed tests
    are one line each; every section has a link; narrow and wide heatmaps sit beside their table; on a phone
    nothing is clipped and numbers stay whole."""
    long_id = _submission_id(site, "dave", "svm")
    state = site.app.extensions["grader"]
    with state.db.session() as session:
        real = dict(session.get(Submission, long_id).latest_report.data)
    first_failing = "naive_grad_reference_noreg"
    narrow_id = _stored_report(site, "dave", _reshaped(real, first_failing, 30, 3), "bug_grad_sign")
    wide_id = _stored_report(site, "dave", _reshaped(real, first_failing, 10, 64), "bug_grad_sign")
    loop_id = _graded(site.app, site.course, "dave", "svm", "bug_vectorized_loop", 0.01)

    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, site, "dave")
    page.goto(site.url(f"/submissions/{long_id}"))
    assert no_horizontal_scroll(page)
    failing = page.locator("#failing article.test")
    assert failing.count() >= 6
    summary, first = page.locator("#summary"), failing.first
    fix = page.locator("ol.fix-order > li")
    assert fix.count() == 2  # one line per function
    assert fix.nth(0).inner_text().startswith("Fix first: svm_loss_naive (")
    assert "svm_loss_vectorized" in fix.nth(1).inner_text()
    # The first failing test shown is the one to fix first, and the summary links to it.
    assert fix.nth(0).locator("a.fix-message").get_attribute("href") == f"#{first.get_attribute('id')}"
    assert first.get_attribute("id") == f"test-{first_failing}"
    # Done when: the summary and the first failing test fit one laptop screen.
    for what in (summary, first):
        b = box_of(what)
        assert b["y"] + b["height"] <= 800, f"{what} ends {b['y'] + b['height']:.0f} px down"
    shoot(page, "report-long-laptop", full_page=False)
    # Passed tests: one line each, closed; the keyboard opens one.
    passed = page.locator("#passed details.test-passed")
    counts = re.match(r"(\d+) passed · (\d+) failed · 1 hidden", page.locator("#summary .counts").inner_text())
    assert counts is not None and int(counts.group(2)) == failing.count() >= 6
    assert passed.count() == int(counts.group(1)) == 20 - 1 - failing.count()
    heights = passed.evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")
    assert max(heights) < 40, heights
    passed.first.locator("summary").focus()
    page.keyboard.press("Enter")
    assert passed.first.get_attribute("open") is not None
    # Every section has a stable id and a visible link to it.
    for section in ("fix-order", "fn-svm_loss_naive", "fn-svm_loss_vectorized", f"test-{first_failing}", "passed"):
        link = page.locator(f"#{section} a.anchor[href='#{section}']").first
        assert link.is_visible(), section
    # The heatmap names what it colours, as the caption and the table title do.
    texts = first.locator("svg.heatmap text").all_text_contents()
    assert ["absolute", "error"] == [t for t in texts if t in ("absolute", "error")]
    assert "absolute error |yours − expected|" in first.locator(".heatmap-caption").inner_text()
    assert "by relative error" in first.locator(".table-title").inner_text()
    _side_by_side(page, first)
    for sub_id, shape in ((narrow_id, "narrow"), (wide_id, "wide")):
        page.goto(site.url(f"/submissions/{sub_id}"))
        _side_by_side(page, page.locator(f"#test-{first_failing}"))
        assert no_horizontal_scroll(page)
        page.locator(f"#test-{first_failing}").scroll_into_view_if_needed()
        shoot(page, f"report-heatmap-{shape}", full_page=False)

    # A message that names lines of the code links to them, and the code panel marks them.
    page.goto(site.url(f"/submissions/{loop_id}"))
    loops = page.locator("#test-vectorized_no_loops")
    link = loops.locator("a.code-ref").first
    target = link.get_attribute("href")
    line = int(re.search(r"-L(\d+)$", target).group(1))
    assert link.inner_text() == f"line {line}"
    marked = page.locator("aside.code .line-flagged")
    assert marked.count() >= 1 and page.locator(f"aside.code {target}").get_attribute("class") == "line line-flagged"
    assert page.locator("aside.code .flagged-lines").inner_text().startswith("Lines the report names: line ")
    link.click()
    page.wait_for_url(re.compile(re.escape(target) + "$"))
    code, line_box = box_of(page.locator("aside.code pre.code-view")), page.locator(target).bounding_box()
    top = code["y"] - page.evaluate("scrollY")  # the code panel's box in the window
    assert top <= line_box["y"] <= top + code["height"]  # the line linked to is in sight
    shoot(page, "report-code-line", full_page=False)

    # The short report: every test passed, nothing but one line each.
    bob = browser.new_context(viewport={"width": 1280, "height": 800})
    short = bob.new_page()
    log_in(short, site, "bob")
    short.goto(site.url(f"/submissions/{_submission_id(site, 'bob', 'svm')}"))
    assert short.locator("#summary .all-passed").inner_text() == "Every shown test passed."
    assert short.locator("#failing").count() == 0
    assert short.locator("details.test-passed").count() == 19
    assert short.evaluate("document.documentElement.scrollHeight") < 1800
    shoot(short, "report-short-laptop", full_page=False)

    # The score history on the assignment page: a chart with axes whose labels never overlap.
    page.goto(site.url("/assignments/svm"))
    chart = page.locator("svg.history")
    assert chart.get_attribute("role") == "img"
    assert chart.locator("desc").text_content().startswith("4 submissions, oldest first;")
    labels = [box_of(chart.locator("text").nth(k)) for k in range(chart.locator("text").count())]
    for k, a in enumerate(labels):
        for b in labels[k + 1:]:
            assert not _overlaps(a, b), (a, b)
    assert chart.locator("text.x-tick").all_text_contents() == ["1", "2", "3", "4"]
    chart.screenshot(path=str(artifacts / "score-history.png"))

    # A phone-wide window: nothing clipped, tables scroll in their own box, numbers whole.
    mobile = page
    mobile.set_viewport_size({"width": 390, "height": 844})
    for sub_id in (long_id, wide_id):
        mobile.goto(site.url(f"/submissions/{sub_id}"))
        assert no_horizontal_scroll(mobile)
        assert _clipped(mobile, "section.report") == []
        for title in mobile.locator(".table-title").all():
            assert box_of(title)["x"] + box_of(title)["width"] <= 390
        numbers = mobile.locator("#failing td.num")
        heights = numbers.evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")
        assert heights and max(heights) < 30, heights  # one line each: "8.1e-4" never breaks
        wrap = mobile.locator("#failing .worst-box .table-wrap").first
        assert wrap.get_attribute("tabindex") == "0"  # a box that scrolls when it must, and the keyboard reaches
        assert wrap.evaluate("e => e.scrollWidth <= e.clientWidth")  # these numbers fit: every column shown
    mobile.locator(f"#test-{first_failing} svg.heatmap").scroll_into_view_if_needed()
    shoot(mobile, "report-wide-heatmap-phone", full_page=False)
    short.set_viewport_size({"width": 390, "height": 844})  # bob's short report, on a phone-wide window
    short.reload()
    assert no_horizontal_scroll(short) and _clipped(short, "section.report") == []
    bob.close()
    mobile.goto(site.url("/assignments/svm"))
    assert no_horizontal_scroll(mobile)
    history = mobile.locator("svg.history")
    ticks = [box_of(history.locator("text.x-tick").nth(k)) for k in range(4)]
    assert all(not _overlaps(a, b) for a, b in zip(ticks, ticks[1:]))
    assert min(t["height"] for t in ticks) >= 9  # readable on the phone, not shrunk to specks
    assert errors == [], errors
    context.close()


# --------------------------------------------------------------------------- the instructor


def test_an_instructor_sorts_the_gradebook_regrades_and_downloads_the_csv(site: Site, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda dialog: dialog.accept())  # "Regrade every finished submission ...?"

    log_in(page, site, "prof")
    assert page.url == site.url("/instructor/gradebook")

    def students() -> list[str]:
        return page.locator("#gradebook tbody th[scope=row]").all_inner_texts()

    assert students() == ["alice@example.edu", "bob@example.edu", "carol@example.edu", "dave@example.edu",
                          "erin@example.edu"]
    late = page.locator("#gradebook tbody tr").filter(has_text="carol@example.edu").locator(".late")
    assert late.inner_text().startswith("1 d late (raw ")  # softmax was due two days ago: -20%
    header = page.locator("#gradebook thead th").filter(has_text="Multiclass SVM")
    header.get_by_role("link").click()
    page.wait_for_url(re.compile(r".*sort=svm&dir=desc"))
    assert header.get_attribute("aria-sort") == "descending"
    order = students()
    assert order.index("bob@example.edu") < order.index("carol@example.edu")  # 35 before the half-reg bug
    # The README's picture (the whole page) shows the whole table: every column inside the window's width,
    # the late mark and the sorted column's score legible.
    table = page.locator("#gradebook")
    table_box = box_of(table)
    assert table_box["x"] >= 0 and table_box["x"] + table_box["width"] <= 1280
    assert no_horizontal_scroll(page)
    assert box_of(late)["width"] > 0
    shoot(page, "gradebook", readme=True)
    header.get_by_role("link").click()
    page.wait_for_url(re.compile(r".*sort=svm&dir=asc"))
    assert header.get_attribute("aria-sort") == "ascending"
    order = students()
    assert order.index("carol@example.edu") < order.index("bob@example.edu")

    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    assert download.value.suggested_filename.startswith("gradebook-")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    by_email = {row["email"]: row for row in rows}
    assert by_email["bob@example.edu"]["svm"] == "35"
    assert {"alice@example.edu", "bob@example.edu", "carol@example.edu"} <= set(by_email)

    state = site.app.extensions["grader"]
    with state.db.session() as session:
        finished = session.query(Submission).filter(
            Submission.assignment_id == "svm",
            Submission.status.in_(("graded", "error"))).count()
    page.locator("tr").filter(has_text="Multiclass SVM").get_by_role("button", name=re.compile("Regrade all")).click()
    page.wait_for_url(re.compile(r".*/instructor/assignments/svm/regrade\?since="))
    assert page.get_by_role("heading", name="Regrading Multiclass SVM: loss and gradient").is_visible()
    progress = page.locator("#regrade progress")
    assert progress.get_attribute("max") == str(finished)
    shoot(page, "regrade-progress", full_page=False)
    page.locator("#regrade[data-finished=true]").wait_for(timeout=TIMEOUT_MS)
    assert page.locator("#regrade [data-done]").inner_text() == str(finished)
    assert "Done:" in page.locator("#regrade [data-state]").inner_text()
    with state.db.session() as session:
        reports = session.query(Report).join(Submission).filter(
            Submission.assignment_id == "svm").count()
    assert reports == 2 * finished  # each submission kept its first report and got a second

    page.goto(site.url("/instructor/assignments/svm/stats"))
    assert page.locator("svg.chart[role=img]").first.is_visible()
    assert "dW is missing the regularisation gradient" in page.locator("ol.hints").inner_text() \
        or "0.5*reg" in page.locator("ol.hints").inner_text()
    shoot(page, "assignment-statistics")

    page.goto(site.url("/instructor/submissions?assignment=svm&student=carol"))
    page.locator("table tbody a").first.click()
    assert "carol@example.edu" in page.locator("dl.facts").inner_text()
    assert page.locator(".test-hidden").count() == 0  # instructors see hidden tests' results
    hidden_test = "svm_loss_vectorized: matches reference on CIFAR-10 sized inputs"
    assert page.get_by_role("heading", name=hidden_test).is_visible()
    shoot(page, "instructor-submission")
    assert errors == [], errors
    context.close()


def test_the_readme_pictures_are_in_the_repository_and_small() -> None:
    """The README's images are committed files (the browser tests rewrite them only with UPDATE_SCREENSHOTS=1,
    never because one is missing): a link to a missing picture fails here."""
    readme = (ROOT / "README.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\((docs/screenshots/[^)]+\.png)\)", readme)
    assert sorted(linked) == ["docs/screenshots/gradebook.png", "docs/screenshots/student-report.png"]
    for link in linked:
        path = ROOT / link
        assert path.is_file(), f"{link} is linked from the README but missing (UPDATE_SCREENSHOTS=1 makes it)"
        assert path.stat().st_size < 300_000


def test_a_ta_regrades_and_the_instructor_reads_it_in_the_audit_log(site: Site, browser: Any) -> None:
    """A TA (course staff) sees the gradebook and a student's hidden tests and regrades, but not the users page;
    the instructor finds the regrade, by the TA's name, in the audit log."""
    from service_fixtures import People

    from grader.models import User

    People(site.app).add("tess", role="ta")
    state = site.app.extensions["grader"]
    with state.db.session() as session:
        carol = session.query(Submission).join(Submission.user).filter(
            Submission.assignment_id == "svm", User.email == "carol@example.edu").one().id
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, site, "tess")
    assert page.url == site.url("/instructor/gradebook")  # a TA lands on the gradebook
    nav = page.get_by_role("navigation", name="Main")
    assert nav.get_by_role("link", name="Gradebook").is_visible()
    assert nav.get_by_role("link", name="Submissions").is_visible()
    assert nav.get_by_role("link", name="Users").count() == 0 and nav.get_by_role("link", name="Audit log").count() == 0
    assert page.locator(".site-header .tag").inner_text() == "TA"
    page.goto(site.url(f"/submissions/{carol}"))
    hidden_test = "svm_loss_vectorized: matches reference on CIFAR-10 sized inputs"
    assert page.get_by_role("heading", name=hidden_test).is_visible()
    assert page.locator(".test-hidden").count() == 0  # hidden tests' results, as instructors see them
    page.get_by_role("button", name="Regrade this submission").click()
    page.wait_for_load_state()
    assert f"Submission #{carol} is queued for regrading" in page.locator(".flash").inner_text()
    shoot(page, "ta-submission", full_page=False)
    page.goto(site.url("/instructor/users"))
    assert "This page is for instructors." in page.locator("main").inner_text()
    context.close()

    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    log_in(page, site, "prof")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Audit log").click()
    page.get_by_label("Action").select_option("regrade")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r".*/instructor/audit\?action=regrade"))
    newest = page.locator("#audit tbody tr").first
    cells = newest.locator("td").all_inner_texts()
    assert cells[1:4] == ["tess@example.edu", "regrade", f"submission {carol}"], cells
    assert "student: carol@example.edu" in cells[4] and "assignment: svm" in cells[4]
    assert no_horizontal_scroll(page)
    shoot(page, "audit-log", full_page=False)
    assert errors == [], errors
    context.close()
