"""Benchmark: how long a student waits on the embedded default (`grader dev`) against the grading itself.

Starts `grader dev` (SQLite, the filesystem broker, a real Celery worker, the web app) on a free port,
logs in as the demo student through the API, then submits a correct SVM file ``--n`` times, one after
the other, polling the submission every 20 ms. Prints, as medians: submit-to-graded (the HTTP upload
answered until the row is graded, as the student's client sees it), the grading's own execution time
from the report, and their ratio (the goal: within 1.5x).

Usage: python bench/bench_embedded.py [--n 8]
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=8, help="at most 9: the assignment allows 10 submissions an hour")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-embedded-"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADER_")}
    env.update(GRADER_INSTANCE_PATH=str(tmp / "instance"), GRADER_WORKER_CONCURRENCY="1", PYTHONUNBUFFERED="1",
               NO_COLOR="1")
    grader = str(Path(sys.executable).parent / "grader")
    log = open(tmp / "dev.log", "wb")
    dev = subprocess.Popen([grader, "dev", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                           cwd=tmp)
    try:
        deadline = time.monotonic() + 90
        banner = ""
        while "Press Ctrl-C" not in banner:
            if time.monotonic() > deadline or dev.poll() is not None:
                raise SystemExit(f"grader dev did not start:\n{(tmp / 'dev.log').read_text()[-3000:]}")
            time.sleep(0.2)
            banner = (tmp / "dev.log").read_text(errors="replace")
        logins = dict(re.findall(r"(\S+@example\.edu)\s+password (\S+)", banner))
        url = f"http://127.0.0.1:{port}"

        def token(email: str) -> dict[str, str]:
            answer = requests.post(f"{url}/api/v1/tokens", json={"email": email, "password": logins[email]}, timeout=10)
            return {"Authorization": f"Bearer {answer.json()['token']}"}

        load_before = os.getloadavg()[0]
        headers = token("student@example.edu")
        staff = token("instructor@example.edu")  # students do not see the timings of a grading with hidden tests
        body = (ROOT / "tests/submissions/svm/correct_masks.py").read_bytes()
        waits, gradings = [], []
        for i in range(args.n + 1):
            started = time.perf_counter()
            answer = requests.post(f"{url}/api/v1/assignments/svm/submissions", headers=headers,
                                   files={"file": ("linear_svm.py", body)}, timeout=30)
            answer.raise_for_status()
            sid = answer.json()["id"]
            while True:
                status = requests.get(f"{url}/api/v1/submissions/{sid}", headers=headers, timeout=10).json()
                if status["status"] in ("graded", "error"):
                    break
                time.sleep(0.02)
            wait = time.perf_counter() - started
            if i == 0:
                continue  # the first grading warms the worker (imports, the reference)
            report = requests.get(f"{url}/api/v1/submissions/{sid}", headers=staff, timeout=10).json()["report"]
            waits.append(wait)
            gradings.append(float(report.get("execution_time") or 0.0))
        wait, grading = statistics.median(waits), statistics.median(gradings)
        overhead = statistics.median(w - g for w, g in zip(waits, gradings))
        print(f"embedded default (grader dev), {args.n} submissions of a correct svm file, medians:")
        print(f"  submit to graded   {wait:.3f} s")
        print(f"  grading itself     {grading:.3f} s  (the report's execution_time)")
        print(f"  ratio              {wait / grading:.2f}x  (the goal: at most 1.5x)")
        print(f"  overhead           {overhead:.3f} s  (per submission: submit to graded minus its grading)")
        print(f"  load average       {load_before:.1f} before, {os.getloadavg()[0]:.1f} after, on {os.cpu_count()} cores "
              "(a busy machine stretches both)")
    finally:
        dev.send_signal(2)
        try:
            dev.wait(30)
        except subprocess.TimeoutExpired:
            dev.kill()
        log.close()


if __name__ == "__main__":
    main()
