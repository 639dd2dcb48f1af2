# base: correct_loops
# mode: check
# Two concurrent jobs could signal each other through files both can read: flock and fcntl record locks
# on the interpreter's read-only files, inotify and dnotify on site-packages, and page-cache residency
# (mincore). Expected: each of these refused.
import ctypes as _ctypes
import fcntl as _fcntl
import json as _json
import mmap as _mmap
import os as _os
import struct as _struct

_done = [False]
_correct_naive = svm_loss_naive


def _try(fn):
    try:
        return "ok: " + repr(fn())[:100]
    except OSError as exc:
        return "blocked: errno %d" % exc.errno


def _mincore(path):
    libc = _ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = _ctypes.c_void_p
    libc.mmap.argtypes = [_ctypes.c_void_p, _ctypes.c_size_t, _ctypes.c_int, _ctypes.c_int, _ctypes.c_int,
                          _ctypes.c_long]
    fd = _os.open(path, _os.O_RDONLY)
    address = libc.mmap(None, 4096, _mmap.PROT_READ, _mmap.MAP_SHARED, fd, 0)
    vec = _ctypes.create_string_buffer(1)
    if libc.mincore(_ctypes.c_void_p(address), _ctypes.c_size_t(4096), vec) != 0:
        raise OSError(_ctypes.get_errno(), "mincore")
    return vec.raw


def _inotify():
    libc = _ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(0)
    if fd < 0:
        raise OSError(_ctypes.get_errno(), "inotify_init1")
    return fd


def svm_loss_naive(W, X, y, reg):
    if not _done[0]:
        _done[0] = True
        shared = np.__file__
        fd = _os.open(shared, _os.O_RDONLY)
        dfd = _os.open(_os.path.dirname(_os.path.dirname(shared)), _os.O_RDONLY)
        lock = _struct.pack("hhqqi", _fcntl.F_RDLCK, 0, 0, 0, 0)
        res = {
            "flock_shared": _try(lambda: _fcntl.flock(fd, _fcntl.LOCK_SH | _fcntl.LOCK_NB)),
            "fcntl_setlk_read": _try(lambda: _fcntl.fcntl(fd, _fcntl.F_SETLK, lock)),
            "fcntl_getlk": _try(lambda: _fcntl.fcntl(fd, _fcntl.F_GETLK, _struct.pack("hhqqi", _fcntl.F_WRLCK, 0, 0, 0, 0))),
            "fcntl_ofd_setlk": _try(lambda: _fcntl.fcntl(fd, 37, lock)),
            "dnotify": _try(lambda: _fcntl.fcntl(dfd, 1026, 0x80000002)),
            "lease": _try(lambda: _fcntl.fcntl(fd, 1024, _fcntl.F_RDLCK)),
            "inotify": _try(_inotify),
            "mincore": _try(lambda: _mincore(shared)),
        }
        print("HOSTILE_RESULT " + _json.dumps(res))
    return _correct_naive(W, X, y, reg)
