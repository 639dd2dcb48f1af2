"""Load benchmark: a deadline night against the production shape, on this machine.

1,000 submissions (``bench/workload.py``: correct, buggy and hostile code for the three assignments)
from 50 concurrent client threads, as 200 students with their own tokens, posted through the HTTP API
of ``grader serve`` (gunicorn) to a fresh PostgreSQL database and a private Redis, graded by ``grader
worker --concurrency 2 --beat`` (both cores; the real sandbox). Then:

- acceptance latency (POST until 202) p50 / p95 / p99 / max;
- time from the first POST to the last graded report, and throughput in gradings per minute;
- the limit: the same mix graded in-process (``bench/inprocess.py``, no sandbox, no service) one at a
  time, times the cores; hostile submissions cannot run in-process (they fork, segfault, exit), so they
  count with their own sandboxed time, which is mostly the per-call limit they exhaust;
- lost: every accepted id must end ``graded``, or ``error`` with a reason; none missing or duplicated;
- memory (RSS) of the Celery worker, its pool processes, their sandbox fork servers and the web
  processes, sampled every 2 s: start, middle and end of the run.

Usage: python bench/bench_load.py [--submissions 1000] [--clients 50] [--students 200]
                                  [--web-workers 2] [--json results.json]
PostgreSQL: ``GRADER_BENCH_POSTGRES_URL`` (default: ``GRADER_TEST_POSTGRES_URL`` or the local server);
a database is created for the run and dropped afterwards. Needs ``redis-server`` and root (the sandbox).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

import requests  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

import workload  # noqa: E402
from service_fixtures import make_course  # noqa: E402

# The three assignments with no per-student submission limits (the run posts 5 per student at once).
OPEN_POLICY = 'policy = "best"\nmax_submissions_per_hour = 0\ncooldown_seconds = 0'

ADMIN_URL = os.environ.get("GRADER_BENCH_POSTGRES_URL") or os.environ.get(
    "GRADER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SECRET = "bench-secret-key-" + uuid.uuid4().hex
GRADER = str(Path(sys.executable).parent / "grader") if (Path(sys.executable).parent / "grader").exists() \
    else shutil.which("grader") or "grader"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# --------------------------------------------------------------------------- the deployment


class Service:
    def __init__(self, name: str, command: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.log_path = workdir / f"{name}.log"
        self.log_file = open(self.log_path, "ab")
        self.popen = subprocess.Popen(command, env=env, stdout=self.log_file, stderr=subprocess.STDOUT,
                                      cwd=workdir, start_new_session=True)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(30)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.popen.wait(10)
        self.log_file.close()


class Deployment:
    def __init__(self, workdir: Path, web_workers: int, concurrency: int) -> None:
        self.workdir = workdir
        self.services: list[Service] = []
        self.admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.dbname = f"grader_bench_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.dbname}"'))
        self.database_url = make_url(ADMIN_URL).set(database=self.dbname).render_as_string(hide_password=False)
        self.redis_port = free_port()
        self.redis = Service("redis", ["redis-server", "--port", str(self.redis_port), "--bind", "127.0.0.1",
                                       "--save", "", "--appendonly", "no", "--dir", str(workdir)],
                             dict(os.environ), workdir)
        self.services.append(self.redis)
        self.wait(lambda: "Ready to accept connections" in self.redis.output(), 20, "redis-server")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = {
            "GRADER_DATABASE_URL": self.database_url,
            "GRADER_BROKER_URL": f"redis://127.0.0.1:{self.redis_port}/0",
            "GRADER_SECRET_KEY": SECRET,
            "GRADER_ASSIGNMENTS_DIR": str(make_course(workdir / "course", OPEN_POLICY, tuple(workload.FILES))),
            "GRADER_INSTANCE_PATH": str(workdir / "instance"),
        }
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
        self.env.update(self.settings, PYTHONUNBUFFERED="1")
        subprocess.run([GRADER, "db", "upgrade"], env=self.env, check=True, capture_output=True, timeout=120)
        self.web_workers = web_workers
        self.concurrency = concurrency
        self.engine = create_engine(self.database_url)

    @staticmethod
    def wait(predicate: Any, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            time.sleep(0.2)

    def users(self, n: int) -> list[str]:
        """``n`` students with a token each (created with the service layer, in this process)."""
        from grader import auth, create_app

        app = create_app({k[len("GRADER_"):]: v for k, v in self.settings.items()})
        tokens = []
        with app.extensions["grader"].db.session() as session:
            for i in range(n):
                user = auth.create_user(session, f"student{i:04d}@example.edu", name=f"Student {i}")
                token, _ = auth.create_token(session, user, days=1, label="bench")
                tokens.append(token)
            session.commit()
        app.extensions["grader"].db.engine.dispose()
        return tokens

    def start(self) -> None:
        self.worker = Service("worker", [GRADER, "worker", "--concurrency", str(self.concurrency), "--beat",
                                         "--loglevel", "INFO"], self.env, self.workdir)
        self.web = Service("web", [GRADER, "serve", "--port", str(self.port), "--workers", str(self.web_workers)],
                           self.env, self.workdir)
        self.services += [self.worker, self.web]

        def web_up() -> bool:
            try:
                return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
            except requests.RequestException:
                return False

        def worker_up() -> bool:
            if self.worker.popen.poll() is not None:
                raise SystemExit("the worker exited:\n" + self.worker.output()[-3000:])
            with self.engine.connect() as conn:
                return bool(conn.execute(text("SELECT count(*) FROM worker_heartbeats")).scalar())

        self.wait(web_up, 60, "grader serve")
        self.wait(worker_up, 90, "the worker's heartbeat")

    def stop(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.engine.dispose()
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.dbname}" WITH (FORCE)'))
        self.admin.dispose()


# --------------------------------------------------------------------------- memory


def children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return out


def rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def memory_snapshot(worker_pid: int, web_pid: int) -> dict[str, list[int]]:
    """RSS in KiB by role: the Celery main process, each pool process, each fork server, the web processes."""
    snap: dict[str, list[int]] = defaultdict(list)
    snap["worker main"].append(rss_kb(worker_pid))
    for child in children(worker_pid):
        grandchildren = children(child)
        servers = [g for g in grandchildren if "worker.sandbox.forkserver" in cmdline(g)]
        if servers:
            snap["pool process"].append(rss_kb(child))
            snap["fork server"] += [rss_kb(s) for s in servers]
        else:
            snap["beat/other"].append(rss_kb(child))
    snap["web master"].append(rss_kb(web_pid))
    snap["web worker"] += [rss_kb(c) for c in children(web_pid)]
    return dict(snap)


class Sampler(threading.Thread):
    def __init__(self, deployment: Deployment, progress: Any) -> None:
        super().__init__(daemon=True)
        self.deployment = deployment
        self.progress = progress
        self.samples: list[tuple[float, int, dict[str, list[int]]]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            done = self.progress()
            self.samples.append((time.time(), done, memory_snapshot(self.deployment.worker.popen.pid,
                                                                    self.deployment.web.popen.pid)))
            self.stopped.wait(2)

    def at(self, done: int) -> tuple[float, int, dict[str, list[int]]]:
        return min(self.samples, key=lambda s: (abs(s[1] - done), s[0]))


# --------------------------------------------------------------------------- the burst


class Burst:
    def __init__(self, url: str, items: list[workload.Item], tokens: list[str], clients: int) -> None:
        self.url = url
        self.work: queue.Queue[tuple[int, workload.Item, str]] = queue.Queue()
        for i, item in enumerate(items):
            self.work.put((i, item, tokens[i % len(tokens)]))
        self.clients = clients
        self.lock = threading.Lock()
        self.accepted: dict[int, int] = {}  # item index -> submission id
        self.latency: list[float] = []
        self.retries: Counter[str] = Counter()
        self.failures: list[str] = []

    def client(self) -> None:
        session = requests.Session()
        while True:
            try:
                index, item, token = self.work.get_nowait()
            except queue.Empty:
                return
            for _ in range(20):
                started = time.perf_counter()
                try:
                    response = session.post(f"{self.url}/api/v1/assignments/{item.assignment}/submissions",
                                            headers={"Authorization": f"Bearer {token}"},
                                            files=[("file", (item.filename, item.content))], timeout=60)
                except requests.RequestException as exc:
                    with self.lock:
                        self.retries[type(exc).__name__] += 1
                    time.sleep(0.5)
                    continue
                elapsed = time.perf_counter() - started
                if response.status_code == 202:
                    with self.lock:
                        self.accepted[index] = response.json()["id"]
                        self.latency.append(elapsed)
                    break
                with self.lock:
                    self.retries[str(response.status_code)] += 1
                if response.status_code not in (429, 502, 503):
                    with self.lock:
                        self.failures.append(f"{response.status_code}: {response.text[:200]}")
                    break
                time.sleep(float(response.headers.get("Retry-After", 1)))

    def run(self) -> float:
        threads = [threading.Thread(target=self.client, daemon=True) for _ in range(self.clients)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - started


# --------------------------------------------------------------------------- the limit


def inprocess_seconds(items: list[workload.Item], repeats: int = 2) -> dict[tuple[str, str], float]:
    """Median in-process grading time of each distinct correct or buggy file of the mix (no sandbox)."""
    from inprocess import InProcessLauncher

    from worker.engine import grade

    launcher = InProcessLauncher()
    out: dict[tuple[str, str], float] = {}
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)  # in-process, the students' prints and numpy's warnings reach this process's output
    os.dup2(devnull, 2)
    try:
        for item in {(i.assignment, i.name): i for i in items if i.kind != "hostile"}.values():
            times = []
            for r in range(repeats):
                started = time.perf_counter()
                grade(item.assignment, {item.filename: item.content}, seed=r + 1, launcher=launcher)
                times.append(time.perf_counter() - started)
            out[(item.assignment, item.name)] = statistics.median(times)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)
    return out


def hostile_seconds(items: list[workload.Item]) -> dict[str, float]:
    """Each distinct hostile file graded alone through the sandbox: its own time budget (mostly the limits)."""
    from worker.engine import grade
    from worker.sandbox import default_launcher

    launcher = default_launcher()
    out = {}
    for item in {i.name: i for i in items if i.kind == "hostile"}.values():
        started = time.perf_counter()
        grade(item.assignment, {item.filename: item.content}, seed=1, launcher=launcher)
        out[item.name] = time.perf_counter() - started
    return out


# --------------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--timeout", type=float, default=3600, help="give up waiting for the gradings after this")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--keep", action="store_true", help="keep the logs' folder")
    args = parser.parse_args()

    items = workload.mix(args.submissions)
    kinds = Counter(i.kind for i in items)
    workdir = Path(tempfile.mkdtemp(prefix="grader-bench-load-"))
    log(f"{len(items)} submissions ({dict(kinds)}), {args.clients} clients, {args.students} students; "
        f"logs in {workdir}")
    deployment = Deployment(workdir, args.web_workers, args.concurrency)
    results: dict[str, Any] = {"submissions": len(items), "clients": args.clients, "students": args.students,
                               "web_workers": args.web_workers, "concurrency": args.concurrency,
                               "cores": os.cpu_count(), "mix": dict(kinds)}
    try:
        tokens = deployment.users(args.students)
        deployment.start()
        log(f"grader serve on {deployment.url} ({args.web_workers} gunicorn workers), grader worker "
            f"--concurrency {args.concurrency}, PostgreSQL {deployment.dbname}, Redis :{deployment.redis_port}")

        def finished() -> int:
            with deployment.engine.connect() as conn:
                return int(conn.execute(text("SELECT count(*) FROM submissions WHERE status IN ('graded', 'error')"))
                           .scalar() or 0)

        sampler = Sampler(deployment, finished)
        sampler.start()
        burst = Burst(deployment.url, items, tokens, args.clients)
        burst_started = time.time()
        upload_seconds = burst.run()
        log(f"{len(burst.accepted)} accepted in {upload_seconds:.1f} s; retries {dict(burst.retries)}; "
            f"failures {burst.failures[:3]}")

        ids = set(burst.accepted.values())
        deadline = time.monotonic() + args.timeout
        last_print = 0.0
        while True:
            with deployment.engine.connect() as conn:
                counts = dict(conn.execute(text("SELECT status, count(*) FROM submissions GROUP BY status")).all())
            if counts.get("queued", 0) + counts.get("running", 0) == 0 and sum(counts.values()) >= len(ids):
                break
            if time.monotonic() > deadline:
                log(f"gave up after {args.timeout:.0f} s: {counts}")
                break
            if time.monotonic() - last_print > 30:
                log(f"progress {counts}")
                last_print = time.monotonic()
            time.sleep(1)
        time.sleep(3)  # a last memory sample with everything graded
        sampler.stopped.set()
        sampler.join(10)

        with deployment.engine.connect() as conn:
            rows = {r.id: r for r in conn.execute(text(
                "SELECT s.id, s.status, s.error, s.score, s.max_score, s.attempts, s.created_at, s.started_at, "
                "s.finished_at, (SELECT count(*) FROM reports r WHERE r.submission_id = s.id) AS reports "
                "FROM submissions s"))}
            sweeps = conn.execute(text("SELECT count(*) FROM submissions WHERE attempts > 1")).scalar()
        results.update(figures(items, burst, rows, ids, burst_started, upload_seconds, sampler))
        results["rows_with_more_than_one_attempt"] = int(sweeps or 0)
        worker_log = deployment.worker.output()
        results["worker_log"] = {"duplicates_skipped": worker_log.count("nothing to claim"),
                                 "sweeper_published": worker_log.count("sweeper: published"),
                                 "sweeper_requeued": worker_log.count("sweeper: re-queued"),
                                 "worker_lost": worker_log.count("WorkerLostError")}
    finally:
        deployment.stop()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)

    log("measuring the limit: the same mix graded in-process, one at a time (no sandbox, no service)")
    inproc = inprocess_seconds(items)
    hostile = hostile_seconds(items)
    costs = [inproc[(i.assignment, i.name)] if i.kind != "hostile" else hostile[i.name] for i in items]
    plain = [inproc[(i.assignment, i.name)] for i in items if i.kind != "hostile"]
    cores = args.concurrency
    results["limit"] = {
        "mean_inprocess_seconds_correct_and_buggy": statistics.fmean(plain),
        "hostile_sandbox_seconds": hostile,
        "mean_seconds_whole_mix": statistics.fmean(costs),
        "gradings_per_minute_compute_limit": cores * 60 / statistics.fmean(plain),
        "gradings_per_minute_mix_limit": cores * 60 / statistics.fmean(costs),
    }
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


def figures(items: list[workload.Item], burst: Burst, rows: dict[int, Any], ids: set[int], burst_started: float,
            upload_seconds: float, sampler: Sampler) -> dict[str, Any]:
    out: dict[str, Any] = {}
    lat = burst.latency
    out["acceptance_latency_ms"] = {"p50": 1000 * percentile(lat, 0.5), "p95": 1000 * percentile(lat, 0.95),
                                    "p99": 1000 * percentile(lat, 0.99), "max": 1000 * max(lat, default=0)}
    out["upload_seconds"] = upload_seconds
    out["accepted"] = len(burst.accepted)
    out["not_accepted"] = len(items) - len(burst.accepted)
    out["client_retries"] = dict(burst.retries)
    missing = ids - set(rows)
    stuck = [i for i in ids if i in rows and rows[i].status not in ("graded", "error")]
    no_reason = [i for i in ids if i in rows and rows[i].status == "error" and not (rows[i].error or "").strip()]
    extra = set(rows) - ids
    reports = Counter(rows[i].reports for i in ids if i in rows and rows[i].status == "graded")
    out["lost"] = {"missing": len(missing), "stuck": len(stuck), "error_without_reason": len(no_reason),
                   "rows_not_accepted": len(extra), "graded_report_counts": dict(reports)}
    out["statuses"] = dict(Counter(rows[i].status for i in ids if i in rows))
    errors = Counter((rows[i].error or "")[:80] for i in ids if i in rows and rows[i].status == "error")
    out["errors"] = dict(errors)
    finished = [rows[i].finished_at for i in ids if i in rows and rows[i].finished_at is not None]
    last = max(finished).timestamp() if finished else float("nan")
    out["seconds_to_last_report"] = last - burst_started
    out["gradings_per_minute"] = 60 * len(finished) / (last - burst_started) if finished else 0.0
    # Under load, do correct submissions still get full marks? (Timing checks are the ones at risk.)
    by_index = {sid: items[index] for index, sid in burst.accepted.items()}
    correct = [sid for sid, item in by_index.items() if item.kind == "correct" and sid in rows]
    full = [sid for sid in correct if rows[sid].status == "graded" and rows[sid].score == rows[sid].max_score]
    out["correct_with_full_marks"] = f"{len(full)}/{len(correct)}"
    out["correct_not_full"] = sorted({f"{by_index[s].assignment}/{by_index[s].name}" for s in correct
                                      if s not in set(full)})
    waits = [(rows[i].started_at - rows[i].created_at).total_seconds() for i in ids
             if i in rows and rows[i].started_at is not None]
    out["queue_wait_seconds"] = {"p50": percentile(waits, 0.5), "max": max(waits, default=0)}
    total = len(ids)
    memory = {}
    for label, done in (("start", min(50, total)), ("middle", total // 2), ("end", total)):
        t, n, snap = sampler.at(done)
        memory[label] = {"graded": n, "seconds": round(t - burst_started, 1),
                         **{role: [round(kb / 1024, 1) for kb in values] for role, values in sorted(snap.items())}}
    peak: dict[str, float] = {}
    for _, _, snap in sampler.samples:
        for role, values in snap.items():
            peak[role] = max(peak.get(role, 0.0), max(values, default=0) / 1024)
    memory["peak"] = {role: round(v, 1) for role, v in sorted(peak.items())}
    out["memory_mb"] = memory
    return out


def report(r: dict[str, Any]) -> None:
    lat = r["acceptance_latency_ms"]
    lim = r["limit"]
    print()
    print(f"== load: {r['submissions']} submissions ({r['mix']}) from {r['clients']} clients as {r['students']} "
          f"students; gunicorn x{r['web_workers']}, worker --concurrency {r['concurrency']}, {r['cores']} cores")
    print(f"accepted          {r['accepted']} (not accepted: {r['not_accepted']}; client retries: "
          f"{r['client_retries'] or 'none'}), all uploads done in {r['upload_seconds']:.1f} s")
    print(f"acceptance        p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms, p99 {lat['p99']:.0f} ms, "
          f"max {lat['max']:.0f} ms")
    print(f"last report       {r['seconds_to_last_report']:.1f} s after the first upload")
    print(f"throughput        {r['gradings_per_minute']:.1f} gradings/min; limit {lim['gradings_per_minute_mix_limit']:.1f}"
          f"/min for this mix ({100 * r['gradings_per_minute'] / lim['gradings_per_minute_mix_limit']:.0f}%), "
          f"{lim['gradings_per_minute_compute_limit']:.1f}/min without the hostile ones")
    print(f"limit inputs      in-process mean {lim['mean_inprocess_seconds_correct_and_buggy']:.3f} s (correct+buggy), "
          f"whole mix {lim['mean_seconds_whole_mix']:.3f} s; hostile alone in the sandbox: "
          + ", ".join(f"{k} {v:.1f} s" for k, v in lim["hostile_sandbox_seconds"].items()))
    print(f"queue wait        p50 {r['queue_wait_seconds']['p50']:.1f} s, max {r['queue_wait_seconds']['max']:.1f} s")
    print(f"outcome           {r['statuses']}; errors: {r['errors'] or 'none'}")
    print(f"lost              {r['lost']}")
    print(f"correct, full     {r['correct_with_full_marks']} {r['correct_not_full'] or ''}")
    print(f"recovery          {r['rows_with_more_than_one_attempt']} rows needed more than one attempt; "
          f"worker log {r['worker_log']}")
    for label in ("start", "middle", "end"):
        m = r["memory_mb"][label]
        roles = ", ".join(f"{k} {v}" for k, v in m.items() if k not in ("graded", "seconds"))
        print(f"RSS MiB {label:6}    after {m['graded']:4} graded (t={m['seconds']:.0f} s): {roles}")
    print(f"RSS MiB peak      {r['memory_mb']['peak']}")


if __name__ == "__main__":
    main()
