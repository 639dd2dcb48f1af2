"""The public kit of an assignment: what a student needs for ``grader check``, and nothing else.

A kit is the assignment folder reduced to its public checks:

- ``assignment.toml``: the title, files, edition, conventions, provided files, load order and limits,
  and only the tests marked ``public = true`` (never a hidden, ``after_due_date`` or reference test,
  their names or their parameters; never the ``[policy]``);
- ``tests.py``: the assignment's checks module reduced to the names the public tests use (a check
  function that only non-public tests name is dropped, with its import);
- ``provided/``: the course files laid out beside the student's (listed in ``provided``);
- ``starter/``: the starter files;
- ``kit.json``: ``{"format", "assignment", "version", "files"}``.

Never ``reference.py`` or ``catalog.py`` (the reference with one mistake each). The public checks need
nothing else: none of them uses the digits data (only the hidden ``train_digits`` does), so the student
install needs no scikit-learn.

The version is a SHA-256 over the kit's files (sorted paths, each path and its bytes), so the same folder
always gives the same version, and the zip is byte-for-byte reproducible (sorted entries, fixed
timestamps and permissions). This module imports nothing of the server: the student's ``grader fetch``
and ``grader check`` use it to unpack and verify kits.
"""

from __future__ import annotations

import ast
import hashlib
import io
import json
import os
import re
import shutil
import tempfile
import threading
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

KIT_FORMAT = 1
MANIFEST = "kit.json"
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
MAX_KIT_BYTES = 8 << 20  # a kit is a few dozen KiB; refuse anything absurd before reading it
MAX_KIT_ENTRIES = 500
# What a kit may contain: its manifest, the reduced configuration and checks, and the two folders.
_ENTRY = re.compile(r"^(?:kit\.json|assignment\.toml|tests\.py|(?:starter|provided)/(?:[A-Za-z0-9_.-]+/)*[A-Za-z0-9_.-]+)$")
# Keys of assignment.toml that the offline check needs; everything else (the [policy], future server-only
# keys) stays on the server.
_PUBLIC_KEYS = ("title", "edition", "description", "files", "notebooks", "provided", "load_order", "conventions",
               "limits")
_TEST_KEYS = ("id", "name", "points", "visibility", "public", "check", "params")
_SKIP_PARTS = {"__pycache__", ".git", ".ipynb_checkpoints"}


class KitError(Exception):
    """A kit cannot be built, read or installed; the message says why."""


@dataclass(frozen=True)
class Kit:
    assignment: str
    version: str
    files: dict[str, bytes]  # path in the kit -> content, kit.json included

    def zip_bytes(self) -> bytes:
        """The kit as a zip, the same bytes for the same content (sorted entries, fixed times and modes)."""
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name in sorted(self.files):
                info = zipfile.ZipInfo(f"{self.assignment}/{name}", date_time=ZIP_TIME)
                info.external_attr = 0o644 << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3  # Unix, whatever the machine that builds it
                archive.writestr(info, self.files[name], compresslevel=9)
        return buffer.getvalue()

    @property
    def filename(self) -> str:
        return f"{self.assignment}-kit-{self.version[:12]}.zip"


def content_hash(files: dict[str, bytes]) -> str:
    """SHA-256 over the sorted paths and their bytes (the manifest itself excluded)."""
    digest = hashlib.sha256(f"cs231n-grader kit {KIT_FORMAT}\n".encode())
    for name in sorted(files):
        if name == MANIFEST:
            continue
        data = files[name]
        digest.update(f"{name}\0{len(data)}\0".encode("utf-8"))
        digest.update(data)
    return digest.hexdigest()


# --------------------------------------------------------------------------- building (course side)


def _public_config(assignment: Any) -> dict[str, Any]:
    toml_path = Path(assignment.path) / "assignment.toml"
    data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    config: dict[str, Any] = {key: data[key] for key in _PUBLIC_KEYS if key in data}
    tests = []
    for test in data.get("tests", []):
        if not test.get("public", False):
            continue
        if test.get("visibility", "visible") != "visible":
            raise KitError(f"{assignment.id}: test {test.get('id')!r} is public (run by `grader check`) but "
                           f"{test.get('visibility')!r}: a public test is shown to students, so make it visible "
                           "or not public")
        tests.append({key: test[key] for key in _TEST_KEYS if key in test})
    if not tests:
        raise KitError(f"{assignment.id}: no public tests (mark the tests `grader check` runs with public = true)")
    config["tests"] = tests
    return config


def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    names: set[str] = set()
    for target in getattr(node, "targets", None) or [getattr(node, "target", None)]:
        if target is not None:
            names |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
    return names


def _public_checks_module(assignment: Any, public: set[str], private: set[str]) -> bytes:
    """tests.py without what only non-public tests name: their imports and their definitions."""
    source = (Path(assignment.path) / "tests.py").read_text(encoding="utf-8")
    tree = ast.parse(source, filename=f"{assignment.id}/tests.py")
    drop = private - public
    body: list[ast.stmt] = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            node.names = [a for a in node.names if (a.asname or a.name) not in drop]
            if not node.names:
                continue
        elif _bound_names(node) & drop:
            if _bound_names(node) - drop:
                raise KitError(f"{assignment.id}/tests.py: a statement binds both public and non-public check "
                               f"names ({', '.join(sorted(_bound_names(node)))}); split it")
            continue
        body.append(node)
    tree.body = body
    bound = set().union(*(_bound_names(n) for n in body)) if body else set()
    missing = sorted(public - bound)
    if missing:
        raise KitError(f"{assignment.id}/tests.py does not define the public checks {', '.join(missing)}")
    header = f'"""Public checks of {assignment.id} (the kit of `grader check`; generated from the course\'s tests.py)."""\n\n'
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        tree.body = body[1:]
    return (header + ast.unparse(tree) + "\n").encode("utf-8")


def _folder_files(folder: Path, prefix: str, only: list[str] | None = None) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    if only is not None:
        for rel in only:
            path = folder / rel
            if not path.is_file():
                raise KitError(f"{path} is missing")
            out[f"{prefix}/{rel}"] = path.read_bytes()
        return out
    if not folder.is_dir():
        return out
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if any(part in _SKIP_PARTS or part.startswith(".") for part in rel.parts) or path.suffix == ".pyc":
            continue
        if path.is_symlink():
            raise KitError(f"{path} is a symlink; a kit holds only plain files")
        if path.is_file():
            out[f"{prefix}/{rel.as_posix()}"] = path.read_bytes()
    return out


def build_kit(assignment: Any) -> Kit:
    """The kit of an assignment (a :class:`worker.assignments.Assignment` of the course's folder)."""
    try:
        import tomli_w
    except ImportError:  # pragma: no cover - the server extra installs it
        raise KitError("building kits needs the server extra: pip install 'cs231n-grader[server]'") from None
    config = _public_config(assignment)
    public = {str(t.get("check") or t["id"]) for t in config["tests"]}
    private = {t.check for t in assignment.tests if not t.public}
    files: dict[str, bytes] = {
        "assignment.toml": (f"# The public kit of {assignment.id}: the course's assignment.toml reduced to the tests "
                            "`grader check` runs.\n\n" + tomli_w.dumps(config)).encode("utf-8"),
        "tests.py": _public_checks_module(assignment, public, private),
    }
    files.update(_folder_files(Path(assignment.path) / "provided", "provided", list(assignment.provided)))
    files.update(_folder_files(Path(assignment.path) / "starter", "starter"))
    for name in files:
        if not _ENTRY.match(name):
            raise KitError(f"{assignment.id}: {name!r} cannot be in a kit (only plain names of letters, digits, "
                           "'_', '-' and '.')")
    version = content_hash(files)
    manifest = {"format": KIT_FORMAT, "assignment": assignment.id, "version": version,
                "files": sorted(files)}
    files[MANIFEST] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode("utf-8")
    return Kit(assignment.id, version, files)


_cache: dict[tuple[str, tuple[tuple[str, int, int], ...]], Kit] = {}
_cache_lock = threading.Lock()  # the web server answers requests in threads


def cached_kit(assignment: Any) -> Kit:
    """:func:`build_kit`, rebuilt only when a file of the assignment's folder changes (size or mtime)."""
    root = Path(assignment.path)
    stamp = tuple(sorted((str(p.relative_to(root)), (s := p.stat()).st_mtime_ns, s.st_size)
                         for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts))
    key = (str(root), stamp)
    with _cache_lock:
        kit = _cache.get(key)
    if kit is None:
        kit = build_kit(assignment)
        with _cache_lock:
            for old in [k for k in _cache if k[0] == str(root)]:
                del _cache[old]
            _cache[key] = kit
    return kit


# --------------------------------------------------------------------------- reading (student side)


def read_kit(data: bytes, expected: str | None = None) -> Kit:
    """Parse and verify a kit zip: only allowed entries, sizes bounded, the manifest's version equal to the
    content's hash. :class:`KitError` says what is wrong."""
    if len(data) > MAX_KIT_BYTES:
        raise KitError(f"the kit is {len(data)} bytes, more than a kit can be ({MAX_KIT_BYTES})")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise KitError("the kit is not a zip file") from None
    infos = archive.infolist()
    if not infos or len(infos) > MAX_KIT_ENTRIES:
        raise KitError(f"the kit has {len(infos)} entries")
    top = {PurePosixPath(i.filename).parts[0] if i.filename else "" for i in infos}
    if len(top) != 1:
        raise KitError("the kit must hold one folder, named after its assignment")
    (assignment,) = top
    if not re.match(r"^[a-z][a-z0-9_]*$", assignment):
        raise KitError(f"the kit has an entry that no kit holds: {infos[0].filename!r}")
    if expected is not None and assignment != expected:
        raise KitError(f"the kit is for {assignment!r}, not {expected!r}")
    files: dict[str, bytes] = {}
    total = 0
    for info in infos:
        if info.is_dir():
            continue
        name = info.filename[len(assignment) + 1:]
        if not info.filename.startswith(assignment + "/") or not _ENTRY.match(name) or ".." in name.split("/"):
            raise KitError(f"the kit has an entry that no kit holds: {info.filename!r}")
        if name in files:
            raise KitError(f"the kit has {info.filename!r} twice")
        total += info.file_size
        if total > 4 * MAX_KIT_BYTES:
            raise KitError("the kit unpacks to more than a kit can be")
        files[name] = archive.read(info)
    try:
        manifest = json.loads(files[MANIFEST].decode("utf-8"))
    except KeyError:
        raise KitError(f"the kit has no {MANIFEST}") from None
    except ValueError as exc:
        raise KitError(f"the kit's {MANIFEST} is not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != KIT_FORMAT:
        raise KitError(f"the kit's format is not {KIT_FORMAT}: upgrade cs231n-grader (pip install -U cs231n-grader)")
    if manifest.get("assignment") != assignment:
        raise KitError(f"the kit's {MANIFEST} names {manifest.get('assignment')!r}, its folder {assignment!r}")
    version = content_hash(files)
    if manifest.get("version") != version:
        raise KitError("the kit's content does not match its version (damaged or altered): fetch it again")
    for needed in ("assignment.toml", "tests.py"):
        if needed not in files:
            raise KitError(f"the kit has no {needed}")
    return Kit(assignment, version, files)


def default_kits_root() -> Path:
    """Where ``grader fetch`` keeps kits: ``GRADER_KIT_DIR``, else the user's cache directory
    (``~/.cache/cs231n-grader/kits`` on Linux, ``~/Library/Caches/cs231n-grader/kits`` on macOS,
    ``%LOCALAPPDATA%\\cs231n-grader\\Cache\\kits`` on Windows)."""
    if os.environ.get("GRADER_KIT_DIR"):
        return Path(os.environ["GRADER_KIT_DIR"])
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("cs231n-grader", appauthor=False)) / "kits"


def install_kit(kit: Kit, root: Path, server: str | None = None) -> Path:
    """Unpack a verified kit into ``root/<assignment>`` (replacing an older one whole) and return the folder.
    ``server`` is recorded in ``kit.json`` beside it (``source.json``) for the newer-kit check."""
    root.mkdir(parents=True, exist_ok=True)
    target = root / kit.assignment
    staging = Path(tempfile.mkdtemp(prefix=f".{kit.assignment}-", dir=root))
    try:
        for name, data in kit.files.items():
            path = staging.joinpath(*name.split("/"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        (staging / "source.json").write_text(json.dumps({"server": server, "version": kit.version}, indent=2),
                                             encoding="utf-8")
        old = None
        if target.exists():
            old = root / f".{kit.assignment}-old-{os.getpid()}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(target, old)
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


@dataclass(frozen=True)
class InstalledKit:
    path: Path
    assignment: str
    version: str
    server: str | None


def installed_kit(path: Path, expected: str | None = None) -> InstalledKit:
    """A kit folder (fetched, or unpacked from a zip): its manifest checked against its files."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise KitError(f"{path} is not a kit folder (no {MANIFEST})") from None
    except (OSError, ValueError) as exc:
        raise KitError(f"{path / MANIFEST} cannot be read: {exc}") from None
    names = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(names, list) or not all(isinstance(n, str) and _ENTRY.match(n) for n in names):
        raise KitError(f"{path / MANIFEST} does not list the kit's files")
    files = {}
    for name in names:
        try:
            files[name] = path.joinpath(*name.split("/")).read_bytes()
        except OSError:
            raise KitError(f"the kit at {path} lacks {name}: fetch it again") from None
    if manifest.get("version") != content_hash(files):
        raise KitError(f"the kit at {path} was changed since it was fetched: fetch it again")
    assignment = str(manifest.get("assignment"))
    if expected is not None and assignment != expected:
        raise KitError(f"the kit at {path} is for {assignment!r}, not {expected!r}")
    server = None
    try:
        server = json.loads((path / "source.json").read_text(encoding="utf-8")).get("server")
    except (OSError, ValueError, AttributeError):
        pass
    return InstalledKit(path, assignment, str(manifest["version"]), server)


def unpack_kit_file(zip_path: Path, expected: str | None = None) -> Path:
    """A kit zip given with ``--kit``: verified and unpacked into a temporary folder (removed at exit)."""
    import atexit

    try:
        data = zip_path.read_bytes()
    except OSError as exc:
        raise KitError(f"cannot read {zip_path}: {exc.strerror or exc}") from None
    kit = read_kit(data, expected)
    root = Path(tempfile.mkdtemp(prefix="grader-kit-"))
    atexit.register(shutil.rmtree, root, True)
    return install_kit(kit, root)


# --------------------------------------------------------------------------- serving (the server)


def kit_for(assignment: Any, user: Any) -> Kit:
    """The kit a logged-in ``user`` may download: an unpublished assignment's kit is for course staff only
    (for anyone else it does not exist: :class:`grader.errors.NotFound`, 404)."""
    from grader.errors import NotFound

    if not assignment.published and not user.is_staff:
        raise NotFound(f"unknown assignment {assignment.id!r}")
    return cached_kit(assignment)


def kit_response(kit: Kit) -> Any:
    """The kit as an HTTP answer: the zip with ``ETag`` and ``X-Kit-Version`` (its version); a request whose
    ``If-None-Match`` names that version gets 304, and ``HEAD`` only the headers."""
    from flask import Response, request

    headers = {"X-Kit-Version": kit.version, "Cache-Control": "private, no-cache",
               "Content-Disposition": f'attachment; filename="{kit.filename}"'}
    if kit.version in request.if_none_match:
        response = Response(status=304, headers=headers)
    else:
        response = Response(kit.zip_bytes(), mimetype="application/zip", headers=headers)
    response.set_etag(kit.version)
    return response
