"""Every page, as everyone who can reach it: axe-core's rules, the phone layout, and the keyboard.

The pages are not listed by hand: every GET route of the app's ``url_map`` is visited, as an anonymous visitor,
a student, a TA and an instructor, with its parameters filled from the class's data (an assignment, the role's
own submission or a classmate's, a sign-in link), so a page added later is covered without touching this file
(a route whose parameter nobody knows how to fill FAILS here, naming it). A route is a page when it answers
HTML; the rest (JSON, CSV, downloads) and what a role may not open (401/403, or the login page it redirects
to) are skipped, and each role must reach the pages it is meant to.

On each page, at 1280 x 900 and at 390 x 844 (one browser context per role; the window is resized, not
reloaded): axe-core (bundled by ``axe-playwright-python``) reports no violation (at 390 px touch targets' size
too); at 390 px the page does not scroll sideways, every table either fits or
scrolls in its own container, and no number in a table breaks across lines. The keyboard test tabs through the main actions (the skip link, the upload form and its button,
the gradebook's sort, the regrade button) and checks the focus is visible.
"""

from __future__ import annotations

import re
from typing import Any, Iterator

import pytest
from browser_fixtures import (  # noqa: F401 - fixtures are used by name
    TIMEOUT_MS,
    Site,
    _graded,
    artifacts,
    browser,
    log_in,
    no_horizontal_scroll,
    shoot,
    site,
)
from service_fixtures import People

from grader import auth, signin
from grader.models import Submission

WIDE = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

#: GET routes that are steps of a protocol rather than pages (they answer other programs, not people).
NOT_PAGES = {
    "lti.login": "the LTI 1.3 login initiation: a redirect to the platform, for the platform's browser POST/GET",
}

#: Routes that send some visitors elsewhere: the home page, the staff index, the login page once logged in.
REDIRECTS = {"student.home", "instructor.index", "account.login"}

#: Query strings a page needs (besides its path parameters).
QUERIES = {
    "instructor.regrade_progress": "?since=2026-01-01T00:00:00%2B00:00&upto={submission_id}&total=1",
    "instructor.regrade_progress_json": "?since=2026-01-01T00:00:00%2B00:00&upto={submission_id}&total=1",
}

#: The pages each role must reach (by endpoint): the pages are listed from the app, but a page that stopped
#: answering (a 500, a redirect to the login) must not silently leave the list.
MUST_REACH = {
    "anonymous": {"account.login", "roster.signin_page"},
    "alice": {"student.assignments", "student.assignment", "student.my_submissions", "student.submission",
              "account.account"},
    "tara": {"instructor.gradebook", "instructor.all_submissions", "instructor.stats", "student.submission",
             "account.account"},
    "prof": {"instructor.gradebook", "instructor.all_submissions", "instructor.stats", "instructor.users",
             "instructor.regrade_progress", "student.submission", "student.assignments", "account.account"},
}


class Data:
    """What fills a route's parameters: the role's own graded submission (a student's) or a classmate's."""

    def __init__(self, site: Site) -> None:
        state = site.app.extensions["grader"]
        with state.db.session() as session:
            self.signin_token = signin.issue_for_email(session, state.settings, "newcomer@example.edu").token
            session.commit()
            rows = session.query(Submission).filter(Submission.status == "graded").order_by(Submission.id).all()
            self.by_user = {}
            for sub in rows:
                self.by_user.setdefault(sub.user.email.split("@")[0], []).append((sub.id, sub.assignment_id))

    def values(self, role: str) -> dict[str, str]:
        own = self.by_user.get(role) or self.by_user["carol"]
        svm = [sid for subs in self.by_user.values() for sid, aid in subs if aid == "svm"]
        first = [sid for sid, aid in own if aid == "svm"][0]
        return {"assignment_id": "svm", "submission_id": str(first), "token": self.signin_token,
                "other": str(next(s for s in svm if s != first))}


@pytest.fixture(scope="module")
def data(site: Site) -> Data:
    people = People(site.app)
    people.add("tara", role="ta")
    state = site.app.extensions["grader"]
    with state.db.session() as session:
        auth.create_user(session, "newcomer@example.edu", role="student", name="New Comer")
        session.commit()
    # Alice's own graded work, for her submission page (the classmates' are the staff's).
    _graded(site.app, site.course, "alice", "svm", "bug_no_reg_grad", 0.5)
    return Data(site)


def routes(site: Site) -> list[Any]:
    return sorted((r for r in site.app.url_map.iter_rules() if "GET" in r.methods and r.endpoint != "static"),
                  key=lambda r: r.rule)


def page_urls(site: Site, data: Data, role: str) -> Iterator[tuple[str, str]]:
    values = data.values(role)
    for rule in routes(site):
        if rule.endpoint in NOT_PAGES:
            continue
        missing = [arg for arg in rule.arguments if arg not in values and arg != "filename"]
        assert not missing, (f"{rule.rule} ({rule.endpoint}) has parameters this test cannot fill: {missing}; "
                             "add a value to Data.values")
        if "filename" in rule.arguments:
            continue  # a file download (a starter file, a submitted file): not a page
        path = rule.rule
        for arg in rule.arguments:
            path = re.sub(rf"<(?:[a-z]+:)?{arg}>", values[arg], path)
        yield rule.endpoint, path + QUERIES.get(rule.endpoint, "").format(**values)


TABLES_CLIPPED = """() => [...document.querySelectorAll('table')].filter(t => t.getClientRects().length).flatMap(t => {
  const r = t.getBoundingClientRect();
  if (r.left >= -1 && r.right <= window.innerWidth + 1) return [];
  for (let el = t.parentElement; el && el !== document.body; el = el.parentElement) {
    const s = getComputedStyle(el);
    if (['auto', 'scroll'].includes(s.overflowX)) {
      const b = el.getBoundingClientRect();
      return b.left >= -1 && b.right <= window.innerWidth + 1 ? [] : [`${t.className || t.id}: its scroller is wider than the screen`];
    }
  }
  return [`${t.className || t.id || 'table'} (${Math.round(r.width)} px) is cut at the screen's edge`];
})"""

BROKEN_NUMBERS = """() => [...document.querySelectorAll('td.num, th.num, td .nowrap, .num')].filter(c => {
  const text = c.textContent.trim();
  if (!text || /\\s/.test(text) || !c.getClientRects().length) return false;
  const range = document.createRange(); range.selectNodeContents(c);
  const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
  return lines.size > 1;
}).map(c => c.textContent.trim())"""


#: What axe checks at 390 px after the full run at 1280 px: every rule again, and the touch targets' size
#: (WCAG 2.2's target-size, off by default), on the whole page but the code panel, whose text and colours do not
#: change with the width (its hundreds of lines are most of a report page's contrast checks).
PHONE_CONTEXT = "{exclude: [['.code-view']]}"
PHONE_OPTIONS = "rules: {'target-size': {enabled: true}}"


def _violations(page: Any, context: str = "document", options: str = "") -> list[str]:
    """axe-core's violations (axe is injected once per page load, by the caller)."""
    extra = f", {options}" if options else ""
    found = page.evaluate(f"axe.run({context}, {{resultTypes: ['violations']{extra}}}).then(r => r.violations)")
    out = []
    for v in found:
        nodes = "; ".join(" ".join(n.get("target", [])) for n in v.get("nodes", [])[:4])
        out.append(f"{v['id']} ({v.get('impact')}): {v.get('help')} at {nodes}")
    return out


#: Pages already checked (endpoint): a page is checked as the first of the roles (least privileged first) that
#: reaches it; the others only check that they reach it. Every role's own header and menus are checked on the
#: pages it is first to reach. (Checking every page again for every role doubled the time and found nothing
#: more.)
CHECKED: set[str] = set()


def _settle(page: Any) -> None:
    """Two animation frames: the page's resize handlers have run."""
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


@pytest.mark.parametrize("role", ["anonymous", "alice", "tara", "prof"])
def test_every_page_passes_axe_and_fits_a_phone(site: Site, browser: Any, data: Data, role: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    axe_script = Axe().axe_script
    context = browser.new_context(viewport=WIDE)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    if role != "anonymous":
        log_in(page, site, role)
    problems: list[str] = []
    reached: set[str] = set()
    for endpoint, path in page_urls(site, data, role):
        answer = context.request.get(site.url(path), max_redirects=5)
        kind = answer.headers.get("content-type", "")
        landed = answer.url.removeprefix(site.base)
        answer.dispose()
        if answer.status in (401, 403) or (landed.startswith("/login") and endpoint != "account.login"):
            continue  # not this role's page
        if not kind.startswith("text/html"):
            continue  # JSON, CSV, a download
        if landed != path:
            if endpoint not in REDIRECTS:
                problems.append(f"{path} redirected to {landed}")
            continue  # the page it leads to is visited on its own
        if answer.status != 200:
            problems.append(f"{path} answered {answer.status}")
            continue
        reached.add(endpoint)
        if endpoint in CHECKED:
            continue
        CHECKED.add(endpoint)
        page.set_viewport_size(WIDE)
        page.goto(site.url(path))
        page.evaluate(axe_script)
        for found in _violations(page):
            problems.append(f"{path} at 1280 px: {found}")
        page.set_viewport_size(PHONE)
        _settle(page)
        if not no_horizontal_scroll(page):
            width = page.evaluate("document.documentElement.scrollWidth")
            problems.append(f"{path} at 390 px scrolls sideways ({width} px wide)")
        for found in page.evaluate(TABLES_CLIPPED):
            problems.append(f"{path} at 390 px: {found}")
        for number in page.evaluate(BROKEN_NUMBERS):
            problems.append(f"{path} at 390 px: the number {number!r} breaks across lines")
        for found in _violations(page, PHONE_CONTEXT, PHONE_OPTIONS):
            problems.append(f"{path} at 390 px: {found}")
    context.close()
    missing = MUST_REACH[role] - reached
    assert not missing, f"{role} did not reach {sorted(missing)} (reached {sorted(reached)})"
    assert not problems, "\n".join(problems)
    assert errors == [], errors


def _tab_to(page: Any, selector: str, limit: int = 80) -> int:
    """Press Tab until ``selector`` has the focus; returns the number of presses (fails after ``limit``)."""
    for presses in range(1, limit + 1):
        page.keyboard.press("Tab")
        if page.evaluate("s => document.activeElement && document.activeElement.matches(s)", selector):
            return presses
    raise AssertionError(f"Tab never reached {selector} in {limit} presses")


FOCUS_VISIBLE = """() => { const e = document.activeElement; const s = getComputedStyle(e);
  return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2 || s.boxShadow !== 'none'; }"""


def test_the_main_actions_work_with_the_keyboard_alone(site: Site, browser: Any, data: Data) -> None:
    context = browser.new_context(viewport=WIDE)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, site, "alice")
    page.goto(site.url("/assignments/svm"))
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to the content"
    assert page.evaluate(FOCUS_VISIBLE)
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    _tab_to(page, "input[type=file]")
    assert page.evaluate(FOCUS_VISIBLE), "the file input's focus is not visible"
    _tab_to(page, "button[type=submit]:not(.button-link)")
    assert page.evaluate(FOCUS_VISIBLE), "the submit button's focus is not visible"
    assert "Submit" in page.evaluate("document.activeElement.textContent")
    context.close()

    context = browser.new_context(viewport=WIDE)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, site, "prof")
    page.goto(site.url("/instructor/gradebook"))
    _tab_to(page, "#gradebook thead a[href*='sort=svm']")
    assert page.evaluate(FOCUS_VISIBLE)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*sort=svm"))
    assert page.locator("#gradebook thead th[aria-sort]").count() == 1

    page.goto(site.url("/instructor/assignments/svm/stats"))
    _tab_to(page, "form[action$='/svm/regrade'] button[type=submit]")
    assert page.evaluate(FOCUS_VISIBLE)
    dialogs: list[str] = []

    def dismiss(dialog: Any) -> None:  # the confirmation, answered "no"
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("dialog", dismiss)
    page.keyboard.press("Enter")
    for _ in range(50):  # the handler has normally run by the time the key press returns
        if dialogs:
            break
        page.wait_for_timeout(100)
    assert dialogs and dialogs[0].startswith("Regrade every finished submission")
    assert page.url.endswith("/instructor/assignments/svm/stats")  # dismissed: nothing was regraded
    # The statistics' details open from the keyboard too.
    _tab_to(page, "#mistakes-heading ~ ol summary, #hints-heading ~ ol summary")
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.parentElement.open")
    context.close()


def test_screenshots_of_the_gradebook_statistics_and_upload_pages(site: Site, browser: Any, data: Data) -> None:
    """Pictures for people, at 1280 and 390 px (test-artifacts/): the statistics, the gradebook, the upload form."""
    context = browser.new_context(viewport=WIDE, device_scale_factor=1)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    log_in(page, site, "prof")
    for path, name, shown in (("/instructor/assignments/svm/stats", "statistics", "svg.timeline[role=img]"),
                              ("/instructor/gradebook", "gradebook-all", "#gradebook")):
        page.set_viewport_size(WIDE)
        page.goto(site.url(path))
        assert page.locator(shown).is_visible()
        shoot(page, name)
        page.set_viewport_size(PHONE)
        _settle(page)
        assert no_horizontal_scroll(page)
        shoot(page, f"{name}-phone")
    context.clear_cookies()
    log_in(page, site, "alice")
    page.goto(site.url("/assignments/svm"))
    assert no_horizontal_scroll(page)
    shoot(page, "upload-phone")
    page.set_viewport_size(WIDE)
    shoot(page, "upload")
    context.close()
