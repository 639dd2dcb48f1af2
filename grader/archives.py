"""Whole-assignment archives and notebooks: what a student hands in besides one ``.py`` file.

An archive (a zip: the course's ``collectSubmission.sh`` makes ``assignment1.zip`` of the whole folder in
2017 and ``a1_code_submission.zip`` with a fixed list of paths from 2021) is hostile input. :func:`read_zip`
looks at the central directory only, refuses the whole archive when anything in it is unsafe (an absolute
path, ``..``, a symlink, a device, a duplicate name, too many entries, sizes or a compression ratio over
the caps), and decompresses nothing but the few files it will grade, each with its size enforced while it
is read. Nothing is ever extracted to disk.

:func:`plan` matches each assignment's ``files`` (assignment.toml) against the paths in the archive by
path suffix: a bare name such as ``linear_svm.py`` is the last component of a path, preferring
``cs231n/classifiers/linear_svm.py``; a path such as ``cs231n/layers.py`` must end the archive path.
Notebooks (``.ipynb``, or notebook JSON under a ``.py`` name) are never graded: :func:`notebook_message`
says which file to upload instead.
"""

from __future__ import annotations

import io
import json
import posixpath
import re
import stat
import zipfile
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

from grader.errors import Invalid, TooLarge

#: The upload itself (compressed): notebooks with their plots make a 2017 folder zip a few MiB.
MAX_ARCHIVE_BYTES = 16 * 1024 * 1024
#: Entries in the central directory (the 2017 folder zip without its datasets has about 60).
MAX_ENTRIES = 2000
#: Declared uncompressed size of any one entry, and of all of them together (nothing but the graded
#: files is ever decompressed; these caps refuse a zip bomb before anything is read).
MAX_MEMBER_BYTES = 64 * 1024 * 1024
MAX_TOTAL_BYTES = 256 * 1024 * 1024
#: Uncompressed / compressed, for an entry of more than RATIO_FLOOR bytes (notebooks compress ~5:1,
#: source ~4:1; a bomb compresses 1000:1).
MAX_RATIO = 100
RATIO_FLOOR = 1024 * 1024
#: Path components and length.
MAX_PATH_CHARS = 512
MAX_DEPTH = 32

#: Folders a collectSubmission zip may carry that are never looked at (macOS resource forks, caches).
SKIPPED_DIRS = {"__MACOSX", "__pycache__", ".ipynb_checkpoints", ".git"}

# --------------------------------------------------------------------------- notebooks


def is_notebook(filename: str, data: bytes) -> bool:
    """An ``.ipynb`` name, or content that is a Jupyter notebook's JSON (whatever the name)."""
    if filename.lower().endswith(".ipynb"):
        return True
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"{"):
        return False
    if b'"cells"' not in data[:200_000] and b'"nbformat"' not in data and b'"worksheets"' not in data[:200_000]:
        return False
    try:
        parsed = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(parsed, dict) and ("nbformat" in parsed or "cells" in parsed or "worksheets" in parsed)


def course_path(wanted: str) -> str:
    """Where an assignment's file sits in the course's folder: a path as it is (``cs231n/layers.py``), a bare
    name in ``cs231n/classifiers/`` (the place :func:`plan` prefers for it)."""
    return wanted if "/" in wanted else f"cs231n/classifiers/{wanted}"


def notebook_hints(specs: Iterable[Any]) -> dict[str, list[str]]:
    """Notebook name (lower case) -> the files whose functions it calls, from each assignment's ``notebooks``
    (assignment.toml): the editions' notebooks are data, like their files."""
    hints: dict[str, list[str]] = {}
    for spec in specs:
        for notebook in getattr(spec, "notebooks", ()) or ():
            files = hints.setdefault(notebook.lower(), [])
            files += [path for path in map(course_path, spec.files) if path not in files]
    return hints


def notebook_message(filename: str, expected: Sequence[str], *, action: str = "Upload",
                     uncounted: bool = True, hints: dict[str, list[str]] | None = None) -> str:
    """What a student who uploaded a notebook is told: which ``.py`` file(s) to upload instead; ``hints``
    (:func:`notebook_hints`) adds which files the notebook's own functions are in."""
    base = posixpath.basename(filename.replace("\\", "/"))
    what = "is a Jupyter notebook" if filename.lower().endswith(".ipynb") else "contains a Jupyter notebook (JSON)"
    files = " and ".join(expected)
    hint = ""
    known = (hints or {}).get(base.lower()) if base.lower().endswith(".ipynb") else None
    if known:
        hint = f" ({base} only calls the functions you write in {' / '.join(known)})"
    return (f"{base} {what}, not Python source: the grader grades the .py file you wrote "
            f"the functions in. {action} {files} instead{hint}."
            + (" Nothing was submitted and it does not count against your limits." if uncounted else ""))


# --------------------------------------------------------------------------- archives


@dataclass(frozen=True)
class Entry:
    """A regular file in the archive: its normalised path and its zip header."""

    path: str
    info: zipfile.ZipInfo


@dataclass
class Found:
    """One assignment found in the archive: its id, {archive path: stored filename}, the files' content."""

    assignment: str
    paths: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"assignment": self.assignment, "files": dict(self.paths)}


@dataclass
class Plan:
    """What an archive holds: the assignments found (files read), what is ignored, what is missing."""

    found: list[Found]
    ignored: list[dict[str, str]]
    missing: list[dict[str, Any]]

    def summary(self) -> dict[str, Any]:
        return {"found": [f.as_dict() for f in self.found], "ignored": self.ignored, "missing": self.missing}


def _unsafe(name: str) -> str | None:
    """Why this entry name is refused, or None."""
    if "\x00" in name or any(ord(c) < 32 for c in name):
        return "a control character in its name"
    if len(name) > MAX_PATH_CHARS:
        return f"a name longer than {MAX_PATH_CHARS} characters"
    path = name.replace("\\", "/")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        return "an absolute path"
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        return "'..' in its path"
    if len(parts) > MAX_DEPTH:
        return f"more than {MAX_DEPTH} folders deep"
    return None


def _kind(info: zipfile.ZipInfo) -> str:
    """"file", "dir", or what else the entry is (from the Unix mode in its header, when there is one)."""
    mode = info.external_attr >> 16
    if info.create_system == 3 and mode:  # made on Unix: the mode is meaningful
        if stat.S_ISLNK(mode):
            return "symlink"
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            return "device"
        if stat.S_ISFIFO(mode):
            return "FIFO"
        if stat.S_ISSOCK(mode):
            return "socket"
        if stat.S_ISDIR(mode):
            return "dir"
    return "dir" if info.filename.endswith(("/", "\\")) else "file"


def read_zip(data: bytes, filename: str = "the archive") -> list[Entry]:
    """The regular files of a zip, after every check that needs no decompression; refuses the whole archive
    (:class:`Invalid` 400, :class:`TooLarge` 413) at the first unsafe entry."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise TooLarge(f"{filename} is {_size(len(data))}; an archive may be at most {_size(MAX_ARCHIVE_BYTES)}")
    if data[:2] == b"\x1f\x8b" or filename.lower().endswith((".tar", ".tar.gz", ".tgz")):
        raise Invalid(f"{filename} is a tar archive; upload a .zip (as collectSubmission.sh makes it)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, NotImplementedError) as exc:
        raise Invalid(f"{filename} is not a readable zip archive ({exc})") from None
    if len(infos) > MAX_ENTRIES:
        raise TooLarge(f"{filename} has {len(infos)} entries; an archive may have at most {MAX_ENTRIES}")
    entries: list[Entry] = []
    seen: set[str] = set()
    total = 0
    for info in infos:
        name = info.filename
        why = _unsafe(name)
        if why:
            raise Invalid(f"{filename} is refused: the entry {name[:200]!r} has {why}; nothing was submitted")
        kind = _kind(info)
        if kind not in ("file", "dir"):
            raise Invalid(f"{filename} is refused: the entry {name!r} is a {kind}, not a regular file; "
                          "nothing was submitted")
        path = "/".join(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))
        key = path.lower()
        if kind == "dir" or not path:
            continue
        if key in seen:
            raise Invalid(f"{filename} is refused: {path!r} appears twice; nothing was submitted")
        seen.add(key)
        if info.file_size > MAX_MEMBER_BYTES:
            raise TooLarge(f"{filename} is refused: {path!r} is {_size(info.file_size)} uncompressed; "
                           f"an entry may be at most {_size(MAX_MEMBER_BYTES)}")
        total += info.file_size
        if total > MAX_TOTAL_BYTES:
            raise TooLarge(f"{filename} is refused: its entries add up to more than {_size(MAX_TOTAL_BYTES)} "
                           "uncompressed")
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(1, info.compress_size):
            raise TooLarge(f"{filename} is refused: {path!r} is compressed {info.file_size // max(1, info.compress_size)}"
                           f":1; at most {MAX_RATIO}:1 is accepted (a zip bomb?)")
        entries.append(Entry(path, info))
    return entries


def read_member(data: bytes, entry: Entry, limit: int) -> bytes:
    """The content of one entry, decompressed chunk by chunk and refused as soon as it exceeds ``limit``
    (whatever its header says)."""
    info = entry.info
    if info.file_size > limit:
        raise TooLarge(f"{entry.path} is {_size(info.file_size)}; a submitted file may be at most {_size(limit)}")
    if info.flag_bits & 0x1:
        raise Invalid(f"{entry.path} is encrypted; zip the folder without a password")
    out = bytearray()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive, archive.open(info) as member:
            while True:
                chunk = member.read(64 * 1024)
                if not chunk:
                    break
                out += chunk
                if len(out) > limit:
                    raise TooLarge(f"{entry.path} is more than {_size(limit)}; a submitted file may be at most "
                                   f"{_size(limit)}")
    except (zipfile.BadZipFile, NotImplementedError, EOFError, ValueError, OSError) as exc:
        raise Invalid(f"{entry.path} cannot be read from the archive ({exc}); nothing was submitted") from None
    return bytes(out)


def _ignored_reason(path: str) -> str:
    if path.lower().endswith(".ipynb"):
        return "a notebook: not graded (the grader grades the .py files your notebook calls)"
    if path.lower().endswith(".py"):
        return "not a file of any assignment here"
    return "not a Python file"


def _rank(path: str, wanted: str) -> int | None:
    """How well an archive path matches an assignment's file (lower is better); None: it does not."""
    lower, want = path.lower(), wanted.lower()
    if lower != want and not lower.endswith("/" + want):
        return None
    if "/" in want:
        return 0
    return 0 if lower.endswith(course_path(want)) else 1


def plan(data: bytes, filename: str, assignments: Iterable[tuple[str, Sequence[str]]], file_limit: int,
         provided: Iterable[str] = ()) -> Plan:
    """Match the archive against ``assignments`` ((id, files) pairs) and read the files that will be graded.

    The whole archive is checked first (:func:`read_zip`); a file that two paths could equally be is refused
    (which one did the student mean?); a matched ``.py`` that is a notebook is ignored like any notebook.
    ``provided``: paths the course provides itself (an assignment's ``provided`` files), ignored as such.
    """
    entries = [e for e in read_zip(data, filename)
               if not any(part in SKIPPED_DIRS for part in e.path.split("/")[:-1])
               and not e.path.split("/")[-1].startswith("._")]
    used: dict[str, str] = {}
    found: list[Found] = []
    missing: list[dict[str, Any]] = []
    reasons: dict[str, str] = {}  # why a path that looked like a graded file is ignored
    for aid, files in assignments:
        paths: dict[str, str] = {}
        absent: list[str] = []
        for wanted in files:
            ranked = sorted((r, e.path) for e in entries if (r := _rank(e.path, wanted)) is not None)
            best = [p for r, p in ranked if r == ranked[0][0]] if ranked else []
            if len(best) > 1:
                raise Invalid(f"{filename} has {len(best)} files that could be {aid}'s {wanted}: "
                              f"{', '.join(best[:5])}; keep one of them")
            if not best:
                absent.append(wanted)
            else:
                paths[best[0]] = wanted
        if absent:
            missing.append({"assignment": aid, "files": absent})
            for path in paths:
                reasons[path] = f"a file of {aid}, which is not submitted without {', '.join(absent)}"
        else:
            found.append(Found(aid, paths))
    by_path = {e.path: e for e in entries}
    kept: list[Found] = []
    for item in found:
        for path, stored in item.paths.items():
            content = read_member(data, by_path[path], file_limit)
            if is_notebook(path, content):
                reasons[path] = "notebook JSON under a .py name: not graded; save the Python file itself"
                break
            item.files[stored] = content
        else:
            kept.append(item)
            used.update(item.paths)
            continue
        missing.append({"assignment": item.assignment, "files": list(item.paths.values())})
    for e in entries:
        if e.path not in used and e.path not in reasons and any(_rank(e.path, p) is not None for p in provided):
            reasons[e.path] = "provided by the course: the grader uses its own copy"
    ignored = [{"path": e.path, "reason": reasons.get(e.path) or _ignored_reason(e.path)}
               for e in entries if e.path not in used]
    return Plan(kept, ignored, missing)


__all__ = ["MAX_ARCHIVE_BYTES", "Plan", "Found", "course_path", "is_notebook", "notebook_hints", "notebook_message",
           "plan", "read_zip"]


def _size(n: int) -> str:
    """Sizes in messages in KiB and MiB (:func:`grader.render.human_size`)."""
    from grader.render import human_size

    return human_size(n)
