"""Running a course in a real browser (issue 11): the roster page and a sign-in link; extensions and late days.

Headless Chromium (Playwright) against the shared real server and worker of :mod:`browser_fixtures` (one
``site`` for this module). Checks are on the page itself; screenshots go to ``test-artifacts/``.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from browser_fixtures import (  # noqa: F401 - fixtures are used by name
    TIMEOUT_MS,
    Site,
    artifacts,
    browser,
    log_in,
    no_horizontal_scroll,
    shoot,
    site,
)

from grader import signin

# --------------------------------------------------------------------------- roster and sign-in links (part A)


def _page(browser: Any, **options: Any) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True, **options)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    return context, page, errors


def test_an_instructor_imports_a_roster_and_a_student_signs_in_with_the_link(site: Site, browser: Any,
                                                                             tmp_path: Path) -> None:
    context, page, errors = _page(browser)
    log_in(page, site, "prof")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Roster").click()
    page.wait_for_url(site.url("/instructor/roster"))
    assert page.get_by_role("heading", name="Import a roster").is_visible()

    # A file with mistakes first: nothing is imported, and every bad line is listed with its number.
    bad = tmp_path / "roster-with-mistakes.csv"
    bad.write_text("email,name,role,section\nnew1@example.edu,Nia Newton,,A\nnew1@example.edu,Nia Again,,A\n"
                   "nobody-at-example.edu,No Body,,A\nnew2@example.edu,Ned,professor,B\n", encoding="utf-8")
    page.get_by_label("Roster file (CSV)").set_input_files(str(bad))
    page.get_by_role("button", name="Import").click()
    page.wait_for_load_state()
    alert = page.locator("#roster-errors")
    assert "Nothing was imported from roster-with-mistakes.csv" in alert.inner_text()
    rows = page.locator("#roster-error-rows tbody tr").all_inner_texts()
    assert [r.split("\t")[0] for r in rows] == ["3", "4", "5"], rows
    assert "already on line 2" in rows[0] and "not an email address" in rows[1] and "unknown role" in rows[2]
    shoot(page, "roster-errors")
    assert errors == ["Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"]
    errors.clear()  # the refused file's page is a 400, on purpose

    # The corrected file, as Excel saves it (UTF-8 with a byte order mark, CRLF).
    good = tmp_path / "roster.csv"
    good.write_bytes("\ufeffemail,name,role,section\r\nnew1@example.edu,Nia Newton,,A\r\n"
                     "new2@example.edu,Ned Ng,ta,B\r\nalice@example.edu,Alice,,A\r\n".encode("utf-8"))
    page.get_by_label("Roster file (CSV)").set_input_files(str(good))
    page.get_by_role("button", name="Import").click()
    page.wait_for_load_state()
    assert "added 2, updated 1, unchanged 0, dropped 0" in page.locator("#roster-result").inner_text()
    counts = dict(zip(page.locator("#roster-counts dt").all_inner_texts(),
                      page.locator("#roster-counts dd").all_inner_texts()))
    assert {k.lower(): v for k, v in counts.items()} == {"added": "2", "updated": "1", "unchanged": "0",
                                                         "dropped": "0"}
    assert no_horizontal_scroll(page)
    shoot(page, "roster-imported")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download the sign-in links (CSV)").click()
    assert download.value.suggested_filename == "signin-links.csv"
    links = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text(encoding="utf-8"))))
    assert [(r["email"], r["role"], r["section"]) for r in links] == [("new1@example.edu", "student", "A"),
                                                                      ("new2@example.edu", "ta", "B")]
    link = links[0]["link"]
    assert link.startswith(site.url("/signin/sl_"))
    page.goto(site.url("/instructor/roster"))  # the links are shown once: a new visit to the page has none
    assert page.locator("#links-download").count() == 0
    assert errors == []
    prof_context, prof_page = context, page

    # Nia opens her link in her own browser, sets her password and is signed in.
    context, page, errors = _page(browser)
    page.goto(link)
    assert page.get_by_role("heading", name="Welcome: set your password").is_visible()
    assert page.locator("#signin-email").inner_text() == "new1@example.edu"
    shoot(page, "signin-link")
    page.get_by_label("New password (at least 8 characters)").fill("short")
    page.get_by_label("New password again").fill("short")
    page.get_by_role("button", name="Set password and sign in").click()
    page.wait_for_load_state()
    assert "at least 8 characters" in page.locator("#signin-error").inner_text()  # the link is still usable
    page.get_by_label("New password (at least 8 characters)").fill("nia's new password")
    page.get_by_label("New password again").fill("nia's new password")
    page.get_by_role("button", name="Set password and sign in").click()
    page.wait_for_url(site.url("/assignments"))
    assert "Your password is set and you are signed in" in page.locator(".flash").inner_text()
    assert page.get_by_role("link", name="Nia Newton").is_visible()
    shoot(page, "signin-done", full_page=False)
    # The same link again: refused, with the one message that says nothing about the account.
    page.goto(link)
    assert page.get_by_role("heading", name="This link cannot be used").is_visible()
    assert signin.UNUSABLE in page.locator("#signin-unusable").inner_text()
    shoot(page, "signin-link-used", full_page=False)
    # Only the two answers meant to be errors: the short password (400) and the used link (404).
    assert errors == [f"Failed to load resource: the server responded with a status of {code}"
                      for code in ("400 (BAD REQUEST)", "404 (NOT FOUND)")]
    context.close()

    # She forgot the password: the login page sends her to the staff, who make a reset link on the users page.
    context, page, errors = _page(browser)
    page.goto(site.url("/login"))
    assert "Ask the course staff for a sign-in link" in page.locator("#forgot-password").inner_text()
    prof_page.goto(site.url("/instructor/users?q=new1"))
    prof_page.get_by_role("button", name="Sign-in link").click()
    prof_page.wait_for_load_state()
    reset = prof_page.locator("#signin-link").inner_text()
    assert reset.startswith(site.url("/signin/sl_")) and reset != link
    shoot(prof_page, "signin-reset-link", full_page=False)
    prof_context.close()
    page.goto(reset)
    assert page.get_by_role("heading", name="Set a new password").is_visible()
    assert errors == []
    context.close()


# --------------------------------------------------------------------------- extensions and late days (part C)


def test_extensions_and_late_days_from_the_page_to_the_gradebook_with_a_real_worker(site: Site, browser: Any) -> None:
    """The instructor sets a budget of 2 late days and gives alice one more day on the softmax (due two days
    ago); alice sees her deadline and what a submission now costs, hands in through the form, the real worker
    grades it, and the gradebook (page, CSV, Canvas CSV) shows her two late days spent and no penalty, beside
    the classmates' single late days, now free."""
    import re

    from sqlalchemy import select

    from browser_fixtures import SUBMISSIONS
    from grader.models import Submission, User

    context, page, errors = _page(browser)
    log_in(page, site, "prof")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Extensions").click()
    page.wait_for_url(site.url("/instructor/extensions"))
    assert "No late-day budget" in page.locator("#late-day-budget").inner_text()
    page.get_by_label("Free late days per student").fill("2")
    page.get_by_role("button", name="Save the budget").click()
    page.wait_for_url(site.url("/instructor/extensions"))
    assert "Late-day budget: 2 days per student for the term." in page.locator(".flash").inner_text()
    assert "Every student has 2 free late days for the term" in page.locator("#late-day-budget").inner_text()

    page.get_by_label("Student's e-mail").fill("alice@example.edu")
    page.get_by_label("Assignment", exact=True).select_option("softmax")
    page.get_by_label("days later").fill("1")
    page.get_by_label("Reason").fill("Conference travel")
    page.get_by_role("button", name="Give the extension").click()
    page.wait_for_url(site.url("/instructor/extensions"))
    assert "Extension for alice@example.edu on softmax" in page.locator(".flash").inner_text()
    row = page.locator("#extensions tbody tr").all_inner_texts()
    assert len(row) == 1 and "alice@example.edu" in row[0] and "softmax" in row[0] and "Conference travel" in row[0]
    assert no_horizontal_scroll(page)
    shoot(page, "extensions-page")
    assert errors == []
    context.close()

    # alice: her own deadline (a day ago), the budget, and what a submission now costs
    context, page, errors = _page(browser)
    log_in(page, site, "alice")
    page.goto(site.url("/assignments/softmax"))
    deadline = page.locator("#your-deadline").inner_text()
    assert "your extension" in deadline and "Conference travel" in deadline and "The course's deadline" in deadline
    panel = page.locator("#late-days")
    assert "2 of your 2 free late days left this term (0 used)" in panel.inner_text()
    assert "no graded submission counts yet" in page.locator("#late-days-this").inner_text()
    # a day and a few seconds after her deadline: two started days, both covered
    assert ("A submission now is 2 days late: if it is the one that counts, 2 of your late days cover it."
            in page.locator("#late-days-now").inner_text())
    shoot(page, "late-days-before")
    page.get_by_label("Your softmax.py").set_input_files(files=[{
        "name": "softmax.py", "mimeType": "text/x-python",
        "buffer": (SUBMISSIONS / "softmax" / "correct_logsumexp.py").read_bytes()}])
    page.get_by_role("button", name="Submit for grading").click()
    page.wait_for_url(re.compile(r".*/submissions/\d+$"))
    page.locator(".big-score").wait_for(timeout=TIMEOUT_MS)  # graded by the real worker
    submission_id = int(page.url.rsplit("/", 1)[1])
    page.goto(site.url("/assignments/softmax"))
    assert "0 of your 2 free late days left this term (2 used)" in page.locator("#late-days").inner_text()
    this = page.locator("#late-days-this").inner_text()
    assert f"(#{submission_id}) is 2 days late: 2 late days used." in this, this
    box = page.locator("#late-days").bounding_box()
    assert box is not None and box["width"] > 200 and box["height"] > 60
    shoot(page, "late-days-after")
    assert errors == []
    context.close()

    # the gradebook: page, CSV and Canvas CSV, against the stored raw scores
    state = site.app.extensions["grader"]
    with state.db.session() as session:
        graded = {(email, aid): (score, sid) for email, aid, score, sid in session.execute(
            select(User.email, Submission.assignment_id, Submission.score, Submission.id)
            .join(User, User.id == Submission.user_id).where(Submission.status == "graded"))}
        section = session.scalar(select(User.section).where(User.email == "alice@example.edu"))
    raw, counted_id = graded[("alice@example.edu", "softmax")]
    assert counted_id == submission_id and raw > 0
    context, page, errors = _page(browser)
    log_in(page, site, "prof")
    page.goto(site.url("/instructor/gradebook"))
    assert "Each student has 2 free late days for the term" in page.locator("main").inner_text()
    alice_row = page.locator("#gradebook tbody tr", has_text="alice@example.edu").inner_text()
    assert "2 d late, 2 free" in alice_row and "2 of 2 late days" in alice_row
    shoot(page, "gradebook-late-days")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download CSV").click()
    rows = {r["email"]: r for r in csv.DictReader(io.StringIO(Path(download.value.path()).read_text()))}
    alice = rows["alice@example.edu"]
    assert float(alice["softmax"]) == raw  # two days late, both free: no penalty
    assert (alice["softmax_late_days"], alice["softmax_late_days_used"], alice["late_days_used"]) == ("2", "2", "2")
    # carol and erin handed in the softmax under a day late (one day each): free now, raw scores count
    for name in ("carol", "erin"):
        row = rows[f"{name}@example.edu"]
        assert (row["softmax_late_days"], row["softmax_late_days_used"], row["late_days_used"]) == ("1", "1", "1")
        assert float(row["softmax"]) == graded[(f"{name}@example.edu", "softmax")][0]
    assert rows["bob@example.edu"]["late_days_used"] == "0"
    with page.expect_download() as download:
        page.get_by_role("link", name="Download for Canvas").click()
    canvas = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert canvas[0][:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert canvas[1][0].strip() == "Points Possible"
    column = canvas[0].index("Softmax classifier: loss and gradient")
    canvas_alice = next(r for r in canvas[2:] if r[3] == "alice@example.edu")
    assert float(canvas_alice[column]) == raw and canvas_alice[4] == section
    assert errors == []
    context.close()
