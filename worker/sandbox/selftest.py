"""The sandbox self-test: a probe module run through the same path as a submission.

The probe tries what an attacker would and reports what happened; the trusted
side decides, from the layers the server claims, whether each result is what
that layer guarantees. The worker runs it at start-up; ``grader doctor`` prints it.
"""

from __future__ import annotations

import ast
import os
from typing import Any

from worker.sandbox.launcher import Launcher, Limits
from worker.sandbox.session import StudentError, StudentProcess

PROBE = r'''
import os, socket

def _try(fn):
    try:
        return "allowed: " + str(fn())[:100]
    except Exception as exc:
        return "blocked: " + type(exc).__name__

def _fork():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid

def _write(path):
    with open(path, "w") as f:
        f.write("x")
    os.unlink(path)
    return path

def probe(paths):
    status = {}
    with open("/proc/self/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    try:
        cgroup = open("/proc/self/cgroup").read()
    except OSError:
        cgroup = ""
    try:
        init_env = open("/proc/1/environ", "rb").read().decode(errors="replace")
    except OSError as exc:
        init_env = "unreadable"
    return {
        "uid": os.getuid(),
        "socket": _try(lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)),
        "fork": _try(_fork),
        "processes_visible": len([d for d in os.listdir("/proc") if d.isdigit()]),
        "project_listing": _try(lambda: os.listdir(paths["project"])),
        "reference_readable": os.path.exists(paths["reference"]),
        "write_tmp": _try(lambda: _write("/tmp/probe")),
        "write_packages": _try(lambda: _write(os.path.join(paths["packages"], "probe"))),
        "write_etc": _try(lambda: _write("/etc/probe")),
        "hostname": socket.gethostname(),
        "read_outside": _try(lambda: os.listdir(paths["outside"])),
        "seccomp": status.get("Seccomp", "?"),
        "no_new_privs": status.get("NoNewPrivs", "?"),
        "cgroup": "cs231n-grader/slot-" in cgroup,
        "environment": sorted(os.environ),
        "init_environment": init_env[:400],
    }
'''


def run_self_test(launcher: Any) -> dict[str, Any]:
    """Probe a job and check it against the layers the launcher reports."""
    from worker.sandbox.hardened import PROJECT_ROOT, kept_paths

    layers = dict(getattr(launcher, "layers", {}))
    paths = {"project": str(PROJECT_ROOT), "reference": str(PROJECT_ROOT / "assignments" / "svm" / "reference.py"),
             "packages": kept_paths()[-1], "outside": "/var/cache"}
    process = StudentProcess(launcher, Limits(call_seconds=20, total_seconds=40), {"probe": ("probe.py", PROBE)})
    try:
        result = process.call("probe", paths)
    except StudentError as exc:
        return {"ok": False, "error": str(exc), "checks": [], "layers": layers}
    finally:
        process.close()
    checks: list[tuple[str, bool, str]] = []

    def expect(name: str, ok: bool, detail: Any) -> None:
        checks.append((name, bool(ok), str(detail)))

    ns = layers.get("mount/PID/IPC/UTS namespaces")
    if layers.get("seccomp filter"):
        expect("sockets are refused", str(result["socket"]).startswith("blocked"), result["socket"])
        expect("fork is refused", str(result["fork"]).startswith("blocked"), result["fork"])
        expect("seccomp filter is loaded", result["seccomp"] == "2", f"Seccomp: {result['seccomp']}")
    if ns:
        expect("only the job's own process is visible", result["processes_visible"] <= 2,
               f"{result['processes_visible']} processes in /proc")
        listing = str(result["project_listing"])
        kept_here = {os.path.relpath(k, paths["project"]).split(os.sep)[0] for k in kept_paths()
                     if (k + os.sep).startswith(paths["project"] + os.sep)}
        shown = set(ast.literal_eval(listing[len("allowed: "):])) if listing.startswith("allowed: [") else set()
        expect("the project's trees are hidden", not result["reference_readable"]
               and (listing.startswith("blocked: ") or shown <= kept_here), listing)
        expect("private /tmp is writable", str(result["write_tmp"]).startswith("allowed"), result["write_tmp"])
        expect("the interpreter's packages are read-only", str(result["write_packages"]).startswith("blocked"),
               result["write_packages"])
        expect("own hostname (UTS namespace)", result["hostname"] == "sandbox", result["hostname"])
    if layers.get("landlock") and os.path.isdir("/var/cache"):
        expect("reading outside the system and interpreter trees is refused (Landlock)",
               str(result["read_outside"]).startswith("blocked"), result["read_outside"])
    if layers.get("unprivileged per-slot uid"):
        expect("runs as an unprivileged uid", result["uid"] >= 1000, f"uid {result['uid']}")
        expect("system directories are not writable", str(result["write_etc"]).startswith("blocked"),
               result["write_etc"])
    if layers.get("cgroup slot (memory, pids)"):
        expect("inside its cgroup slot", result["cgroup"], result["cgroup"])
    expect("no_new_privs is set", result["no_new_privs"] == "1", f"NoNewPrivs: {result['no_new_privs']}")
    leaked = [k for k in result["environment"] if k.startswith(("GRADER_", "CELERY", "DATABASE", "REDIS", "AWS"))]
    expect("no secrets in the environment", not leaked, leaked or "clean")
    return {"ok": all(ok for _, ok, _ in checks), "checks": checks, "layers": layers, "probe": result}
