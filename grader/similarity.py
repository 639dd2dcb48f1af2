"""Code similarity between students' latest submissions (issue 11). It reports; it never changes a grade.

Every file of each student's latest submission (the stored :class:`~grader.models.SubmissionFile` rows) is
fingerprinted once with copydetect's winnowing (:class:`copydetect.CodeFingerprint`: the code is tokenised
by Pygments as *text*, names become ``V``/``F``/``O`` and strings ``S``, so renamed variables do not hide a
copy, and k-grams of the filtered text are hashed), with the assignment's starter code (``starter/``) given
as boilerplate, so code every student was handed never counts. Pairs are then compared with
:func:`copydetect.compare_files`. Student code is only ever read as text here: never imported, never run.

**The measure.** For two students A and B, over the files both handed in (same name), copydetect gives
each side's *share*: the tokens of A's fingerprinted code inside regions that match B, divided by all of
A's fingerprinted tokens (and the same for B). A pair is ranked by the **combined share**
``(overlap_A + overlap_B) / (tokens_A + tokens_B)``: both directions' overlap, weighted by size, so a
student who wrote three lines that happen to match a common idiom does not outrank a full copy (their own
share may be 100% of almost nothing). Both directions are reported beside it.

**Known public solutions.** An optional folder (``assignments/<id>/public_solutions/`` for the page,
``--public DIR`` for the command): every ``.py`` file under it is a pseudo-student ``public: <path>``,
compared with each student's files (whatever their names); the best-matching file pair counts. Public
files are not compared with each other.

**Scale.** 800 students are ~320,000 pairs. Each file is fingerprinted once (Pygments' lexer is most of
the cost: ~15 ms for a 5 KB file); then a sparse product of the students' fingerprint sets finds the pairs
that share at least one fingerprint, and only those are compared (a pair that shares none has an overlap
of exactly 0, which is what copydetect would compute for it). ``bench/bench_similarity.py`` measures it.
"""

from __future__ import annotations

import bisect
import hashlib
import io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from grader.models import Submission, SubmissionFile, User

# copydetect's defaults: a match must span at least 25 characters of *filtered* code (its noise threshold),
# and every such match is guaranteed to be found (guarantee threshold = noise threshold: a winnowing window
# of 1, every k-gram kept).
NOISE_THRESHOLD = 25
WINDOW = 1
PUBLIC_PREFIX = "public: "
MAX_PUBLIC_FILE_BYTES = 512 * 1024  # as a submitted file
MAX_PUBLIC_FILES = 2000
MEASURE = ("combined share: (tokens of A in regions matching B + tokens of B in regions matching A) / "
           "(A's tokens + B's tokens), over the fingerprinted code (starter code excluded)")


class SimilarityError(Exception):
    """A bad input (an unreadable public folder, an unknown submission): the message says which and why."""


class SimilarityTimeout(SimilarityError):
    """The computation went over its time limit; nothing partial is reported."""


@dataclass
class Owner:
    """Whose code: a student (their latest submission) or a known public solution."""

    label: str  # the student's e-mail, or "public: <path>"
    name: str = ""
    user_id: int | None = None
    submission_id: int | None = None
    submitted_at: Any = None
    files: dict[str, str] = field(default_factory=dict)  # file name -> text

    @property
    def public(self) -> bool:
        return self.user_id is None

    @property
    def key(self) -> str:
        """How the pages name this owner in a URL: the submission id, or ``public:<path>``."""
        return str(self.submission_id) if not self.public else "public:" + self.label[len(PUBLIC_PREFIX):]


@dataclass
class FileMatch:
    """The comparison of one file of A with one file of B."""

    file_a: str
    file_b: str
    tokens_a: float  # fingerprinted tokens (the denominator of the share)
    tokens_b: float
    overlap_a: float  # tokens inside matching regions
    overlap_b: float
    regions_a: list[tuple[int, int]]  # 1-based, inclusive line ranges of the matching regions
    regions_b: list[tuple[int, int]]
    slices_a: list[tuple[int, int]] = field(default_factory=list, repr=False)  # character ranges
    slices_b: list[tuple[int, int]] = field(default_factory=list, repr=False)

    @property
    def share_a(self) -> float:
        return self.overlap_a / self.tokens_a if self.tokens_a else 0.0

    @property
    def share_b(self) -> float:
        return self.overlap_b / self.tokens_b if self.tokens_b else 0.0

    @property
    def similarity(self) -> float:
        total = self.tokens_a + self.tokens_b
        return (self.overlap_a + self.overlap_b) / total if total else 0.0


@dataclass
class Pair:
    a: Owner
    b: Owner
    files: list[FileMatch]

    @property
    def tokens_a(self) -> float:
        return sum(f.tokens_a for f in self.files)

    @property
    def tokens_b(self) -> float:
        return sum(f.tokens_b for f in self.files)

    @property
    def share_a(self) -> float:
        tokens = self.tokens_a
        return sum(f.overlap_a for f in self.files) / tokens if tokens else 0.0

    @property
    def share_b(self) -> float:
        tokens = self.tokens_b
        return sum(f.overlap_b for f in self.files) / tokens if tokens else 0.0

    @property
    def similarity(self) -> float:
        total = self.tokens_a + self.tokens_b
        return sum(f.overlap_a + f.overlap_b for f in self.files) / total if total else 0.0

    def as_dict(self, rank: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {} if rank is None else {"rank": rank}
        out.update({
            "similarity": round(self.similarity, 4),
            "a": _owner_dict(self.a, self.share_a),
            "b": _owner_dict(self.b, self.share_b),
            "files": [{"file_a": f.file_a, "file_b": f.file_b, "share_a": round(f.share_a, 4),
                       "share_b": round(f.share_b, 4), "regions_a": [list(r) for r in f.regions_a],
                       "regions_b": [list(r) for r in f.regions_b]} for f in self.files],
        })
        return out


def _owner_dict(owner: Owner, share: float) -> dict[str, Any]:
    return {"who": owner.label, "name": owner.name, "submission_id": owner.submission_id,
            "public": owner.public, "share": round(share, 4)}


@dataclass
class Ranking:
    """The result of :func:`rank`: the pairs, most similar first, and what was done to find them."""

    assignment_id: str
    students: int
    public: int
    pairs: list[Pair]  # the top ones, most similar first (only pairs with some overlap)
    pairs_total: int  # every pair considered (students x students, students x public files)
    pairs_with_overlap: int
    compared: int  # file pairs compared with copydetect (those sharing at least one fingerprint)
    seconds: float
    fingerprint_seconds: float
    without_own_code: list[str]  # students whose latest submission has nothing beyond the starter code
    inputs: str = ""  # a digest of what was compared (for caches)

    def as_dict(self) -> dict[str, Any]:
        return {
            "assignment": self.assignment_id,
            "measure": MEASURE,
            "noise_threshold": NOISE_THRESHOLD,
            "students": self.students,
            "public_solutions": self.public,
            "pairs_total": self.pairs_total,
            "pairs_with_overlap": self.pairs_with_overlap,
            "file_pairs_compared": self.compared,
            "seconds": round(self.seconds, 3),
            "without_own_code": self.without_own_code,
            "pairs": [p.as_dict(i + 1) for i, p in enumerate(self.pairs)],
        }


# --------------------------------------------------------------------------- reading the inputs


def latest_submissions(session: Session, assignment_id: str) -> list[Owner]:
    """Each student's latest submission of the assignment (any status: its files are what they handed in),
    with its files as text. Staff accounts' submissions (instructors trying the grader) are left out."""
    rows = session.execute(
        select(Submission.id, Submission.user_id, Submission.created_at, User.email, User.name)
        .join(User, User.id == Submission.user_id)
        .where(Submission.assignment_id == assignment_id, User.role == "student")
        .order_by(Submission.user_id, Submission.created_at.desc(), Submission.id.desc())
    ).all()
    owners: dict[int, Owner] = {}
    for sub_id, user_id, created_at, email, name in rows:
        if user_id not in owners:
            owners[user_id] = Owner(label=email, name=name or "", user_id=user_id, submission_id=sub_id,
                                    submitted_at=created_at)
    by_submission = {o.submission_id: o for o in owners.values()}
    ids = list(by_submission)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for sub_id, filename, content in session.execute(
                select(SubmissionFile.submission_id, SubmissionFile.filename, SubmissionFile.content)
                .where(SubmissionFile.submission_id.in_(chunk)).order_by(SubmissionFile.id)):
            by_submission[sub_id].files[filename] = bytes(content).decode("utf-8", errors="replace")
    return sorted(owners.values(), key=lambda o: o.label)


def public_solutions(folder: Path, only: str | None = None) -> list[Owner]:
    """Every ``.py`` file under ``folder`` (recursively, sorted; symbolic links and hidden folders skipped),
    each a pseudo-student ``public: <relative path>``. A folder that cannot be read, or a file that is not
    UTF-8 text or is over 512 KiB, is an error naming it. ``only``: just the listed file with that relative
    path (none if it is not listed: a path from a URL is never opened as such)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SimilarityError(f"public solutions folder {folder} does not exist or is not a folder")
    owners = []
    try:
        paths = sorted(p for p in folder.rglob("*.py")
                       if not any(part.startswith(".") for part in p.relative_to(folder).parts))
    except OSError as exc:
        raise SimilarityError(f"cannot read the public solutions folder {folder}: {exc}") from None
    if len(paths) > MAX_PUBLIC_FILES:
        raise SimilarityError(f"{folder} has {len(paths)} .py files; at most {MAX_PUBLIC_FILES} are compared")
    for path in paths:
        rel = path.relative_to(folder).as_posix()
        if path.is_symlink() or not path.is_file() or (only is not None and rel != only):
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise SimilarityError(f"cannot read public solution {rel}: {exc.strerror or exc}") from None
        if len(data) > MAX_PUBLIC_FILE_BYTES:
            raise SimilarityError(f"public solution {rel} is {len(data)} bytes; at most {MAX_PUBLIC_FILE_BYTES}")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SimilarityError(f"public solution {rel} is not UTF-8 text (byte {exc.start})") from None
        owners.append(Owner(label=PUBLIC_PREFIX + rel, files={Path(rel).name: text}))
    return owners


def default_public_folder(assignment_path: Path) -> Path:
    """Where the page looks for known public solutions: ``assignments/<id>/public_solutions/``."""
    return Path(assignment_path) / "public_solutions"


# --------------------------------------------------------------------------- fingerprints


def _fingerprint(text: str, boilerplate: np.ndarray) -> Any:
    from copydetect import CodeFingerprint

    # The name only tells copydetect's tokenizer the language (forced to Python here); the text comes from
    # memory and is tokenised by Pygments, never executed.
    return CodeFingerprint("submission.py", NOISE_THRESHOLD, WINDOW, boilerplate=boilerplate, language="python",
                           fp=io.StringIO(text))


def boilerplate_hashes(starter_dir: Path) -> np.ndarray:
    """Every k-gram hash of the starter code (copydetect's own boilerplate rule: fingerprints with a window of 1)."""
    from copydetect import CodeFingerprint

    hashes: list[int] = []
    if Path(starter_dir).is_dir():
        for path in sorted(Path(starter_dir).rglob("*.py")):
            if path.is_file() and not path.is_symlink():
                text = path.read_text(encoding="utf-8", errors="replace")
                hashes.extend(CodeFingerprint(path.name, NOISE_THRESHOLD, 1, language="python",
                                              fp=io.StringIO(text)).hashes)
    return np.unique(np.array(hashes, dtype=np.int64))


def _line_starts(text: str) -> list[int]:
    starts = [0]
    index = text.find("\n")
    while index != -1:
        starts.append(index + 1)
        index = text.find("\n", index + 1)
    return starts


def _regions(text: str, slices: Any) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """copydetect's character slices (2 x N) -> sorted, merged character ranges and 1-based line ranges."""
    if slices is None or len(slices) == 0 or np.asarray(slices).size == 0:
        return [], []
    arr = np.asarray(slices, dtype=np.int64)
    chars: list[tuple[int, int]] = []
    for start, end in sorted(zip(arr[0].tolist(), arr[1].tolist())):
        start, end = max(0, min(start, len(text))), max(0, min(end, len(text)))
        if end <= start:
            continue
        if chars and start <= chars[-1][1]:
            chars[-1] = (chars[-1][0], max(chars[-1][1], end))
        else:
            chars.append((start, end))
    starts = _line_starts(text)
    lines: list[tuple[int, int]] = []
    for start, end in chars:
        first = bisect.bisect_right(starts, start)
        last = bisect.bisect_right(starts, end - 1)
        if lines and first <= lines[-1][1] + 1:
            lines[-1] = (lines[-1][0], max(lines[-1][1], last))
        else:
            lines.append((first, last))
    return chars, lines


def _compare(fa: Any, fb: Any, text_a: str, text_b: str, name_a: str, name_b: str) -> FileMatch:
    from copydetect import compare_files

    tokens_a, tokens_b = float(fa.token_coverage), float(fb.token_coverage)
    overlap, (share_a, share_b), (slices_a, slices_b) = compare_files(fa, fb)
    chars_a, lines_a = _regions(text_a, slices_a)
    chars_b, lines_b = _regions(text_b, slices_b)
    return FileMatch(name_a, name_b, tokens_a, tokens_b, float(share_a) * tokens_a, float(share_b) * tokens_b,
                     lines_a, lines_b, chars_a, chars_b)


# --------------------------------------------------------------------------- ranking


Progress = Callable[[str, int, int], None]


def inputs_digest(owners: Iterable[Owner], extra: str = "") -> str:
    """A digest of what would be compared: who, which submission and which texts (a cache key)."""
    digest = hashlib.sha256(f"{NOISE_THRESHOLD}:{WINDOW}:{extra}".encode())
    for owner in owners:
        digest.update(f"\0{owner.label}\0{owner.submission_id}".encode())
        for name in sorted(owner.files):
            digest.update(f"\0{name}\0".encode() + hashlib.sha256(owner.files[name].encode()).digest())
    return digest.hexdigest()


def rank(assignment_id: str, students: list[Owner], public: list[Owner], boilerplate: np.ndarray, *,
         top: int | None = 50, time_limit: float | None = None, progress: Progress | None = None) -> Ranking:
    """Rank every pair of ``students`` (by file name) and every (student, public solution) pair.

    ``top`` keeps the first N pairs (None: every pair with some overlap); ``time_limit`` (seconds) raises
    :class:`SimilarityTimeout` when passed; ``progress(phase, done, total)`` is called now and then.
    """
    from scipy import sparse

    started = time.monotonic()
    deadline = None if time_limit is None else started + time_limit

    def check_time(what: str) -> None:
        if deadline is not None and time.monotonic() > deadline:
            raise SimilarityTimeout(f"the similarity computation went over its {time_limit:g} s limit while "
                                    f"{what} ({len(students)} students)")

    report = progress or (lambda phase, done, total: None)
    everyone = [*students, *public]
    documents = [(o, name) for o in everyone for name in sorted(o.files)]
    fingerprints: dict[tuple[int, str], Any] = {}
    for done, (owner, name) in enumerate(documents):
        if done % 20 == 0:
            check_time("fingerprinting")
            report("fingerprinting", done, len(documents))
        fingerprints[(id(owner), name)] = _fingerprint(owner.files[name], boilerplate)
    fingerprint_seconds = time.monotonic() - started

    def has_code(owner: Owner) -> bool:
        return any(fingerprints[(id(owner), n)].hashes for n in owner.files)

    without_own_code = [o.label for o in students if not has_code(o)]
    coded = [o for o in students if has_code(o)]

    # Candidate student pairs: those sharing at least one fingerprint in a file of the same name.
    candidates: dict[tuple[int, int], list[str]] = {}
    names = sorted({n for o in coded for n in o.files})
    for name in names:
        holders = [i for i, o in enumerate(coded) if name in o.files and fingerprints[(id(o), name)].hashes]
        if len(holders) < 2:
            continue
        columns: dict[int, int] = {}
        rows, cols = [], []
        for row, i in enumerate(holders):
            for h in fingerprints[(id(coded[i]), name)].hashes:
                rows.append(row)
                cols.append(columns.setdefault(int(h), len(columns)))
        matrix = sparse.csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)),
                                   shape=(len(holders), len(columns)))
        shared = sparse.triu(matrix @ matrix.T, k=1).tocoo()
        for r, c in zip(shared.row.tolist(), shared.col.tolist()):
            candidates.setdefault((holders[r], holders[c]), []).append(name)
    check_time("finding the pairs that share code")

    # Every candidate pair is scored with copydetect's compare_files (numbers only); the matching regions,
    # as line ranges, are worked out again for the pairs that are reported.
    from copydetect import compare_files

    def overlaps(fa: Any, fb: Any) -> tuple[float, float]:
        _, (share_a, share_b), _ = compare_files(fa, fb)
        return float(share_a) * float(fa.token_coverage), float(share_b) * float(fb.token_coverage)

    scored: list[tuple[float, str, str, Owner, Owner, tuple[str, str] | None]] = []
    compared = 0
    total_candidates = len(candidates)
    for done, ((i, j), shared_names) in enumerate(sorted(candidates.items())):
        if done % 500 == 0:
            check_time("comparing pairs")
            report("comparing", done, total_candidates)
        a, b = coded[i], coded[j]
        tokens = overlap = 0.0
        for name in set(a.files) & set(b.files):
            fa, fb = fingerprints[(id(a), name)], fingerprints[(id(b), name)]
            tokens += float(fa.token_coverage) + float(fb.token_coverage)
            if name in shared_names:
                overlap += sum(overlaps(fa, fb))
                compared += 1
        if overlap > 0:
            scored.append((overlap / tokens, a.label, b.label, a, b, None))

    # Public solutions: each against every student's files (any name); the best file pair counts.
    for p in public:
        check_time("comparing with the public solutions")
        ((pname, _),) = p.files.items()
        fp = fingerprints[(id(p), pname)]
        if not fp.hashes:
            continue
        for s in coded:
            best: tuple[float, str] | None = None
            for name in sorted(s.files):
                fs = fingerprints[(id(s), name)]
                if not (fs.hashes & fp.hashes):
                    continue
                compared += 1
                value = sum(overlaps(fs, fp)) / (float(fs.token_coverage) + float(fp.token_coverage))
                if value > 0 and (best is None or value > best[0]):
                    best = (value, name)
            if best is not None:
                scored.append((best[0], s.label, p.label, s, p, (best[1], pname)))

    scored.sort(key=lambda entry: (-entry[0], entry[1], entry[2]))
    pairs = []
    for _, _, _, a, b, files in scored if top is None else scored[:top]:
        if files is None:
            pairs.append(Pair(a, b, [_compare(fingerprints[(id(a), n)], fingerprints[(id(b), n)], a.files[n],
                                              b.files[n], n, n) for n in sorted(set(a.files) & set(b.files))]))
        else:
            pairs.append(Pair(a, b, [_compare(fingerprints[(id(a), files[0])], fingerprints[(id(b), files[1])],
                                              a.files[files[0]], b.files[files[1]], *files)]))
    report("done", 1, 1)
    n = len(students)
    return Ranking(assignment_id=assignment_id, students=n, public=len(public),
                   pairs=pairs, pairs_total=n * (n - 1) // 2 + n * len(public),
                   pairs_with_overlap=len(scored), compared=compared, seconds=time.monotonic() - started,
                   fingerprint_seconds=fingerprint_seconds, without_own_code=without_own_code,
                   inputs=inputs_digest(everyone))


def compare_two(a: Owner, b: Owner, boilerplate: np.ndarray) -> Pair:
    """One pair in full (the side-by-side view): files of the same name, or, with a public solution, the
    student's file that matches it best."""
    if b.public:
        ((pname, ptext),) = b.files.items()
        fp = _fingerprint(ptext, boilerplate)
        matches = [_compare(_fingerprint(a.files[n], boilerplate), fp, a.files[n], ptext, n, pname)
                   for n in sorted(a.files)]
        best = max(matches, key=lambda m: m.similarity, default=None)
        return Pair(a, b, [best] if best is not None else [])
    matches = []
    for name in sorted(set(a.files) & set(b.files)):
        matches.append(_compare(_fingerprint(a.files[name], boilerplate), _fingerprint(b.files[name], boilerplate),
                                a.files[name], b.files[name], name, name))
    return Pair(a, b, matches)


def highlighted_lines(text: str, chars: list[tuple[int, int]]) -> list[list[tuple[str, bool]]]:
    """The text as lines, each a list of (segment, inside a matching region) for a side-by-side view.
    Segments are plain text: the page escapes them (student code is hostile HTML too)."""
    lines: list[list[tuple[str, bool]]] = []
    starts = _line_starts(text)
    k = 0
    for number, start in enumerate(starts):
        end = starts[number + 1] - 1 if number + 1 < len(starts) else len(text)
        segments: list[tuple[str, bool]] = []
        position = start
        while k < len(chars) and chars[k][1] <= start:
            k += 1
        j = k
        while j < len(chars) and chars[j][0] < end:
            s, e = max(chars[j][0], start), min(chars[j][1], end)
            if s > position:
                segments.append((text[position:s], False))
            if e > s:
                segments.append((text[s:e], True))
            position = max(position, e)
            j += 1
        if position < end or not segments:
            segments.append((text[position:end], False))
        lines.append(segments)
    return lines
