# base: correct_loops
# mode: check
# System calls the old deny list did not name reached the kernel: listmount, statmount, memfd_secret,
# modify_ldt, io_setup (and any future one). Expected: every one refused by the allowlist.
import ctypes as _ctypes
import json as _json

_done = [False]
_correct_naive = svm_loss_naive
_CALLS = {"listmount": 458, "statmount": 457, "memfd_secret": 447, "modify_ldt": 154, "io_setup": 206,
          "memfd_create": 319, "shmget": 29, "msgget": 68, "eventfd2": 290, "timerfd_create": 283,
          "add_key": 248, "future_syscall_600": 600}


def svm_loss_naive(W, X, y, reg):
    if not _done[0]:
        _done[0] = True
        libc = _ctypes.CDLL(None, use_errno=True)
        libc.syscall.restype = _ctypes.c_long
        buf = _ctypes.create_string_buffer(4096)
        res = {}
        for name, nr in _CALLS.items():
            _ctypes.set_errno(0)
            r = libc.syscall(_ctypes.c_long(nr), _ctypes.c_long(0), buf, _ctypes.c_long(16), _ctypes.c_long(0))
            res[name] = "ok: %d" % r if r >= 0 else "blocked: errno %d" % _ctypes.get_errno()
        print("HOSTILE_RESULT " + _json.dumps(res))
    return _correct_naive(W, X, y, reg)
