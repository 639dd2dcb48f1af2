"""The hostile fixtures of tests/hostile/ (one file per attack on the trusted side), graded for real.

Every fixture is graded through :func:`worker.engine.grade` with the hardened fork server (as root, like
CI: not root is a failure here, not a skip). For each report the runner checks the invariants every report
must keep whatever the child sent, then the attack's own expectation (``EXPECT`` below, one entry per
file), then stores the report in PostgreSQL the way the worker does and reads it back through the API:

* strict JSON (``json.dumps(allow_nan=False)``), no NUL, control (other than newline and tab), C1 or
  bidi-control character anywhere, no grader path, traceback or "internal grader error";
* the job's processes are gone, and the slot was held less than 60 s (grading time plus clean-up);
* PostgreSQL (JSONB, which refuses ``\\u0000`` and non-finite numbers) stores it, and the API shows the
  same report back.
"""

from __future__ import annotations

import json
import os
import re
import resource
import time
from pathlib import Path
from typing import Any, Callable

import pytest

from service_fixtures import People, make_app, postgres_url  # noqa: F401 - postgres_url is a fixture
from worker.engine import grade
from worker.sandbox import Limits
from worker.sandbox.hardened import ForkServerLauncher

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "hostile"
SUBMISSIONS = ROOT / "tests" / "submissions"
FIXTURES = sorted(p.stem for p in HOSTILE.glob("*.py"))
SEED = 23
LIMITS = Limits(call_seconds=5, total_seconds=40, memory_mb=1024, disk_mb=16, processes=16)
SLOT_SECONDS = 60  # issue 10: no hostile submission holds a slot longer than this

# Written independently of worker/sandbox/sanitize.py on purpose: C0 controls but \t and \n, DEL, C1,
# bidi marks, embeddings, overrides and isolates, line/paragraph separators, lone surrogates.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
                    "\ud800-\udfff]")
GRADER_TEXT = (str(ROOT), "site-packages", "worker/", "Traceback (most recent call last)", "internal grader error")


@pytest.fixture(scope="module")
def launcher():
    assert os.geteuid() == 0, "the hostile fixtures run against the hardened sandbox's full layers: run as root"
    launcher = ForkServerLauncher()
    launcher.start()
    yield launcher
    launcher.close()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, postgres_url: str):  # noqa: F811
    """Store a report in PostgreSQL as the worker does (claim, finish) and read it back through the API."""
    from grader import submissions
    from grader.models import Report

    app = make_app(tmp_path_factory.mktemp("pg-instance"), DATABASE_URL=postgres_url)
    people = People(app)
    people.add("prof", role="instructor")  # instructors are not rate-limited: one upload per fixture
    state = app.extensions["grader"]
    client = app.test_client()

    def put(source: str, report: dict[str, Any]) -> dict[str, Any]:
        with state.db.session() as session:
            user = session.get(__import__("grader.models", fromlist=["User"]).User, people.ids["prof"])
            sub = submissions.submit(session, state.settings, user, "svm",
                                     [("linear_svm.py", source.encode())], None)
            claim = submissions.claim(session, state.settings, sub.id, "fixture-worker")
            assert claim is not None
            assert submissions.finish(session, claim, report), "the report was not stored"
            (row,) = session.query(Report).filter_by(submission_id=sub.id).all()
            assert json.dumps(row.data, sort_keys=True) == json.dumps(json.loads(json.dumps(report)), sort_keys=True), \
                "PostgreSQL changed the report"
            sid = sub.id
        shown = client.get(f"/api/v1/submissions/{sid}", headers=people.headers("prof"))
        assert shown.status_code == 200, shown.data[:500]
        assert shown.json["status"] == ("graded" if report["status"] == "graded" else "error"), shown.json
        return shown.json

    yield put
    state.db.engine.dispose()


def load(stem: str) -> tuple[str, str, Limits]:
    text = (HOSTILE / f"{stem}.py").read_text()
    header = dict(re.findall(r"^# (base|mode|limits): (.*)$", text[:400], re.M))
    source = text
    if "base" in header:
        source = (SUBMISSIONS / "svm" / f"{header['base']}.py").read_text() + "\n\n" + text
    limits = LIMITS
    if "limits" in header:
        values = dict(item.split("=") for item in header["limits"].split())
        limits = Limits(**{**LIMITS.__dict__, **{k: type(getattr(LIMITS, k))(v) for k, v in values.items()}})
    return source, header.get("mode", "check"), limits


def strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from strings(k)
            yield from strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings(v)


def assert_report_invariants(report: dict[str, Any]) -> None:
    json.dumps(report, allow_nan=False)
    for text in strings(report):
        bad = UNSAFE.search(text)
        assert bad is None, f"raw {bad.group()!r} in the report: {text[max(0, bad.start() - 60):bad.end() + 60]!r}"
        for needle in GRADER_TEXT:
            assert needle not in text, f"{needle!r} in the report: {text[:600]!r}"
    assert report["status"] == "graded", report.get("output")


def job_processes(server_pid: int) -> list[int]:
    """Processes under the fork server that ran student code (a slot's uid; the warm job is still root)."""
    parents: dict[int, int] = {}
    uids: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
                status = Path(f"/proc/{name}/status").read_text()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] in "ZX":
                continue
            parents[int(name)] = int(fields[1])
            uids[int(name)] = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))
    out = []
    for pid in parents:
        p, hops = parents[pid], 0
        while p and hops < 64:
            if p == server_pid:
                if uids[pid] != 0:
                    out.append(pid)
                break
            p, hops = parents.get(p, 0), hops + 1
    return out


def hostile_result(report: dict[str, Any]) -> dict[str, Any]:
    for line in report["student_output"].splitlines():
        if line.startswith("HOSTILE_RESULT "):
            return json.loads(line[len("HOSTILE_RESULT "):])
    raise AssertionError(f"the attack did not report: {report['student_output'][:1000]!r}")


def by_id(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["id"]: t for t in report["tests"]}


# --------------------------------------------------------------------------- each attack's expectation


def _prints_nul_esc_bidi(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    assert report["score"] == report["max_score"], [(t["id"], t["output"][:200]) for t in report["tests"]
                                                    if t["status"] != "passed"]
    out = report["student_output"]
    for shown in ("\\x00NUL", "\\x1b[2J", "\\x1b]0;owned\\x07", "\\u202eevil\\u202c", "\\x9b C1", "\\x0d CR",
                  "\\x1b[31m red\\u2066isolate\\u2069", "call:\\x00\\x1b[1A\\u202e"):
        assert shown in out, (shown, out[:600])


def _class_name_controls(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    first = by_id(report)["naive_loss_at_zero"]
    assert first["status"] == "failed" and first["score"] == 0, first
    assert "Evil\\x1b]0;owned\\x07\\x1b[2J\\u202eniamod\\x7f" in first["output"], first["output"]


def _overflow_loss(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    assert report["score"] < report["max_score"]
    text = json.dumps(report, allow_nan=False)
    assert '"inf"' in text or '"-inf"' in text or '"nan"' in text or "1.7e+308" in text, text[:2000]


def _syntax_warning_flood(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    warnings = report["compile_warnings"]["linear_svm.py"]
    assert warnings["count"] == 100_000, warnings["count"]
    assert len(warnings["first"]) == 20 and "invalid escape sequence" in warnings["first"][0], warnings["first"][:2]
    assert report["score"] == report["max_score"]
    assert len(ctx["stderr"]) < 2000, f"{len(ctx['stderr'])} bytes on the grader's stderr: {ctx['stderr'][:300]!r}"


def _presend_forged_answer(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    assert report["tampering"] is True and report["score"] == 0, report["output"]
    assert report["output"].startswith("grading stopped: the process wrote to the grader's channel") or \
        "invalid answer" in report["output"], report["output"]
    assert all(t["status"] != "passed" for t in report["tests"])
    vectorized = by_id(report)["vectorized_loss_at_zero"]
    assert vectorized["details"]["kind"] == "tampering", vectorized


def _maximal_answer_frame(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    first = by_id(report)["naive_loss_at_zero"]
    assert first["details"]["kind"] == "too_large", first
    assert "announced an answer of 248000" in first["output"] and "was not read" in first["output"], first["output"]
    assert ctx["grown_mb"] < 100, f"the grading process grew by {ctx['grown_mb']:.0f} MB"
    assert by_id(report)["vectorized_loss_at_zero"]["status"] == "passed"


def _huge_int_loss(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    first = by_id(report)["naive_loss_at_zero"]
    assert first["status"] in ("failed", "error") and first["score"] == 0, first
    assert first["details"].get("kind") != "internal", first
    assert "svm_loss_naive" in first["output"] and ("too large" in first["output"] or "integer" in first["output"]), \
        first["output"]


def _lying_type(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    first = by_id(report)["naive_loss_at_zero"]
    assert first["status"] == "failed" and first["score"] == 0, first
    assert "integer with 401 digits" in first["output"], first["output"]


def _forged_lookup_error(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    first = by_id(report)["naive_loss_at_zero"]
    assert "does not define" not in first["output"], first["output"]
    assert "svm_loss_naive raised LookupError: missing:svm_loss_naive" in first["output"], first["output"]
    assert first["details"]["kind"] == "exception"


def _forged_missing_claim(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    first = by_id(report)["naive_loss_at_zero"]
    assert "does not define" not in first["output"], first["output"]
    assert "defines svm_loss_naive, but it was gone when the grader called it" in first["output"], first["output"]


def _deleted_function(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    first = by_id(report)["naive_loss_at_zero"]
    assert first["details"]["kind"] == "missing", first
    assert "linear_svm.py defines svm_loss_naive, but it was gone" in first["output"], first["output"]


def _runtime_crash(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    first = by_id(report)["naive_loss_at_zero"]
    assert first["details"]["kind"] == "crashed", first
    assert "exited with code 0" not in first["output"], first["output"]
    assert "the grader's runtime inside the sandbox failed" in first["output"], first["output"]


def _pdeathsig_clear(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    res = hostile_result(report)
    for key in ("clear", "set_other", "subreaper"):
        assert res[key].startswith("blocked"), res
    assert res["after"] == 9, res  # still SIGKILL
    assert report["score"] == report["max_score"]


def _new_syscalls(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    res = hostile_result(report)
    open_ = {k: v for k, v in res.items() if not v.startswith("blocked")}
    assert not open_, f"reached the kernel: {open_}"
    assert res["future_syscall_600"] == "blocked: errno 38", res  # ENOSYS: denied by default
    assert report["score"] == report["max_score"]


def _shared_file_channels(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    res = hostile_result(report)
    open_ = {k: v for k, v in res.items() if not v.startswith("blocked")}
    assert not open_, f"not refused: {open_}"
    assert report["score"] == report["max_score"]


def _slot_info_of_others(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    res = hostile_result(report)
    assert res["slots"] == [] and res["readable"] == {}, res
    assert res["listing"] == [] or str(res["listing"]).startswith("blocked"), res
    assert report["score"] == report["max_score"]


def _quadratic_analysis(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    tests = by_id(report)
    assert tests["vectorized_no_loops"]["status"] == "passed", tests["vectorized_no_loops"]["output"]
    faster = tests["vectorized_faster_than_naive"]  # slower than the naive one: the loop search over its callees ran
    assert faster["status"] == "failed" and "No loop was found in it" in faster["output"], faster["output"]
    assert report["score"] == report["max_score"]
    assert "time limit" not in json.dumps(report), report["output"]
    assert ctx["cpu"] < 15, f"the grader's own CPU for this grading was {ctx['cpu']:.1f} s"


def _decorator_rebinding(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    result = by_id(report)["vectorized_no_loops"]
    assert result["status"] == "failed" and result["score"] == 0, result["output"]
    assert "grows with" in result["output"] and "must not call the naive one" in result["output"], result["output"]


def _endless_output(report: dict[str, Any], ctx: dict[str, Any]) -> None:
    assert ctx["elapsed"] < 15, f"the flood held the slot for {ctx['elapsed']:.1f} s"
    assert "Grading stopped early: the code printed more than 16 MB" in report["output"], report["output"]
    stopped = [t for t in report["tests"] if t["details"].get("kind") == "output"]
    assert stopped and all(t["score"] == 0 for t in stopped)


EXPECT: dict[str, Callable[[dict[str, Any], dict[str, Any]], None]] = {
    "prints_nul_esc_bidi": _prints_nul_esc_bidi,
    "class_name_controls": _class_name_controls,
    "overflow_loss": _overflow_loss,
    "syntax_warning_flood": _syntax_warning_flood,
    "presend_forged_answer": _presend_forged_answer,
    "maximal_answer_frame": _maximal_answer_frame,
    "huge_int_loss": _huge_int_loss,
    "lying_type": _lying_type,
    "forged_lookup_error": _forged_lookup_error,
    "forged_missing_claim": _forged_missing_claim,
    "deleted_function": _deleted_function,
    "runtime_crash": _runtime_crash,
    "pdeathsig_clear": _pdeathsig_clear,
    "new_syscalls": _new_syscalls,
    "shared_file_channels": _shared_file_channels,
    "slot_info_of_others": _slot_info_of_others,
    "endless_output": _endless_output,
    "quadratic_analysis": _quadratic_analysis,
    "decorator_rebinding": _decorator_rebinding,
}


def test_every_fixture_has_an_expectation() -> None:
    assert FIXTURES and set(FIXTURES) == set(EXPECT), (sorted(set(FIXTURES) ^ set(EXPECT)))


@pytest.mark.parametrize("stem", FIXTURES)
def test_hostile_fixture(stem: str, launcher: ForkServerLauncher, store, capfd: pytest.CaptureFixture[str]) -> None:
    source, mode, limits = load(stem)
    capfd.readouterr()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    report = grade("svm", {"linear_svm.py": source}, seed=SEED, mode=mode, launcher=launcher, limits=limits)
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    grown_mb = (after.ru_maxrss - usage.ru_maxrss) / 1024
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime  # the grader's own work (the job is elsewhere)
    stderr = capfd.readouterr().err
    deadline = time.monotonic() + 10
    while job_processes(launcher.server_pid):
        assert time.monotonic() < deadline, f"job processes outlived the grading: {job_processes(launcher.server_pid)}"
        time.sleep(0.02)
    held = time.monotonic() - started
    assert held < SLOT_SECONDS, f"{stem} held a slot for {held:.1f} s"
    assert_report_invariants(report)
    EXPECT[stem](report, {"elapsed": elapsed, "grown_mb": grown_mb, "stderr": stderr, "cpu": cpu})
    shown = store(source, report)["report"]
    assert shown["score"] == report["score"] and shown["student_output"] == report["student_output"]
    for mine, theirs in zip(report["tests"], shown["tests"]):
        assert {k: theirs.get(k) for k in ("id", "status", "score", "output")} == \
            {k: mine[k] for k in ("id", "status", "score", "output")}, (mine["id"], theirs)
