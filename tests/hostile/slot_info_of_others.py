# base: correct_loops
# mode: check
# A job read every slot's memory use and limits under /sys/fs/cgroup (what other jobs are doing, when
# they start and stop). Expected: nothing of /sys/fs/cgroup visible.
import glob as _glob
import json as _json
import os as _os

_done = [False]
_correct_naive = svm_loss_naive


def svm_loss_naive(W, X, y, reg):
    if not _done[0]:
        _done[0] = True
        found = sorted(_glob.glob("/sys/fs/cgroup/**/slot-*", recursive=True))
        readable = {}
        for pattern in ("/sys/fs/cgroup/memory/cs231n-grader/slot-*/memory.usage_in_bytes",
                        "/sys/fs/cgroup/cs231n-grader/slot-*/memory.current",
                        "/sys/fs/cgroup/pids/cs231n-grader/slot-*/pids.current"):
            for path in _glob.glob(pattern):
                try:
                    readable[path] = open(path).read().strip()
                except OSError as exc:
                    readable[path] = "blocked: errno %d" % exc.errno
        try:
            listing = sorted(_os.listdir("/sys/fs/cgroup"))
        except OSError as exc:
            listing = "blocked: errno %d" % exc.errno
        print("HOSTILE_RESULT " + _json.dumps({"slots": found, "readable": readable, "listing": listing}))
    return _correct_naive(W, X, y, reg)
