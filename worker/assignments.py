"""Loading assignments from ``assignments/<id>/`` (a new assignment is just a new folder).

``assignment.toml`` holds the title, the files students submit, the points and
visibility of each test and the sandbox limits; ``tests.py`` holds the check
functions named by the tests' ids; ``reference.py`` (trusted) and ``starter/``
complete the folder. Both Python files are imported here, on the trusted side,
under private module names; student code never sees them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

from worker.sandbox import Limits

VISIBILITIES = ("visible", "hidden", "after_due_date")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_PATH = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_]*/)*[A-Za-z_][A-Za-z0-9_]*\.py$")  # a module path, no .. or /


class AssignmentError(Exception):
    """An assignment folder is missing or malformed (a course-staff problem, not a student's)."""


class UnknownAssignment(AssignmentError):
    pass


@dataclass(frozen=True)
class TestSpec:
    id: str
    name: str
    points: float
    visibility: str = "visible"
    public: bool = False  # also run by the student's offline `grader check`
    check: str = ""  # the function in tests.py (defaults to the id)
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Assignment:
    id: str
    title: str
    files: list[str]
    tests: list[TestSpec]
    limits: Limits
    path: Path
    description: str = ""
    # Editions are data: the course edition and its conventions (e.g. {"reg": "full"} for 2017's
    # reg * sum(W*W), {"reg": "half"} for the 2021+ net's 0.5 * reg * sum(W*W)); checks read them.
    edition: str = ""
    conventions: dict[str, Any] = field(default_factory=dict)
    # Course files laid out beside the student's in the sandbox (visible course code such as the 2021+
    # cs231n/layer_utils.py), under provided/ in the assignment folder, and the order modules are executed.
    provided: list[str] = field(default_factory=list)
    load_order: list[str] = field(default_factory=list)
    # The course notebooks that call this assignment's functions (``svm.ipynb``): a student who uploads one
    # is told which files to hand in instead.
    notebooks: list[str] = field(default_factory=list)
    # Shown to students (the pages, the API, its kit); ``published = false`` in assignment.toml keeps an
    # assignment to course staff while it is being prepared.
    published: bool = True
    # The version of the public kit this was loaded from (``grader check`` with a fetched kit); "" for a
    # course folder.
    kit_version: str = ""
    _tests_module: ModuleType | None = None
    _reference: ModuleType | None = None
    _catalog: list[Any] | None = None

    @property
    def max_score(self) -> float:
        return float(sum(t.points for t in self.tests))

    @property
    def module_names(self) -> dict[str, str]:
        """file path -> module name (``linear_svm.py`` -> ``linear_svm``, ``cs231n/layers.py`` -> ``cs231n.layers``),
        for the student's files and the provided ones."""
        return {f: f[: -len(".py")].replace("/", ".") for f in [*self.files, *self.provided]}

    def provided_sources(self) -> dict[str, str]:
        """The provided course files' sources by path (read from ``provided/`` in the assignment folder)."""
        out = {}
        for f in self.provided:
            path = self.path / "provided" / f
            try:
                out[f] = path.read_text(encoding="utf-8")
            except OSError as exc:
                raise AssignmentError(f"{self.id}: provided file {f} cannot be read: {exc}") from None
        return out

    def execution_order(self) -> list[str]:
        """Every file, student's and provided, in the order the child executes them."""
        order = [f for f in self.load_order if f in self.files or f in self.provided]
        return order + [f for f in [*self.files, *self.provided] if f not in order]

    @property
    def main_module(self) -> str:
        return self.module_names[self.files[0]]

    def check_function(self, test: TestSpec) -> Callable[..., Any]:
        if self._tests_module is None:
            self._tests_module = _import_private(self.path / "tests.py", f"_grader_tests_{self.id}")
        func = getattr(self._tests_module, test.check, None)
        if not callable(func):
            raise AssignmentError(f"{self.id}/tests.py has no check function {test.check!r}")
        return func

    def reference(self) -> ModuleType:
        if self._reference is None:
            self._reference = _import_private(self.path / "reference.py", f"_grader_reference_{self.id}")
        return self._reference

    def catalog(self) -> list[Any]:
        """The catalogued mistakes of ``catalog.py`` beside the reference (trusted; empty without one)."""
        if self._catalog is None:
            path = self.path / "catalog.py"
            self._catalog = list(getattr(_import_private(path, f"_grader_catalog_{self.id}"), "MISTAKES", [])) \
                if path.is_file() else []
        return self._catalog

    @property
    def starter_dir(self) -> Path:
        return self.path / "starter"


def _import_private(path: Path, name: str) -> ModuleType:
    if not path.is_file():
        raise AssignmentError(f"{path} is missing")
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise AssignmentError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assignments_root() -> Path:
    env = os.environ.get("GRADER_ASSIGNMENTS_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "assignments"


def load_assignment_dir(path: Path, assignment_id: str | None = None) -> Assignment:
    """The assignment in ``path`` (its id is the folder's name unless ``assignment_id`` is given: a kit
    unpacked elsewhere)."""
    toml_path = path / "assignment.toml"
    try:
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UnknownAssignment(f"no assignment at {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise AssignmentError(f"{toml_path}: {exc}") from None
    aid = assignment_id or path.name
    files = data.get("files")
    if not isinstance(files, list) or not files or not all(isinstance(f, str) and f.endswith(".py") for f in files):
        raise AssignmentError(f"{toml_path}: 'files' must list the .py files students submit")
    provided = data.get("provided", [])
    load_order = data.get("load_order", [])
    for key, value in (("files", files), ("provided", provided), ("load_order", load_order)):
        if not isinstance(value, list) or not all(isinstance(f, str) and _PATH.match(f) for f in value):
            raise AssignmentError(f"{toml_path}: '{key}' must list relative .py paths such as cs231n/layers.py")
    notebooks = data.get("notebooks", [])
    if not isinstance(notebooks, list) or not all(isinstance(n, str) and n.lower().endswith(".ipynb") and "/" not in n
                                                  and "\\" not in n for n in notebooks):
        raise AssignmentError(f"{toml_path}: 'notebooks' must list notebook file names such as svm.ipynb")
    conventions = data.get("conventions", {})
    if not isinstance(conventions, dict):
        raise AssignmentError(f"{toml_path}: [conventions] must be a table")
    tests = []
    seen = set()
    for t in data.get("tests", []):
        tid = t.get("id", "")
        if not _ID.match(tid) or tid in seen:
            raise AssignmentError(f"{toml_path}: bad or duplicate test id {tid!r}")
        seen.add(tid)
        vis = t.get("visibility", "visible")
        if vis not in VISIBILITIES:
            raise AssignmentError(f"{toml_path}: test {tid}: visibility must be one of {VISIBILITIES}")
        tests.append(TestSpec(id=tid, name=str(t.get("name", tid)), points=float(t.get("points", 1)),
                              visibility=vis, public=bool(t.get("public", False)),
                              check=str(t.get("check", tid)), params=dict(t.get("params", {}))))
    if not tests:
        raise AssignmentError(f"{toml_path}: no [[tests]]")
    try:
        limits = Limits.from_mapping(dict(data.get("limits", {})))
    except (TypeError, ValueError) as exc:
        raise AssignmentError(f"{toml_path}: [limits]: {exc}") from None
    published = data.get("published", True)
    if not isinstance(published, bool):
        raise AssignmentError(f"{toml_path}: 'published' must be true or false")
    return Assignment(id=aid, title=str(data.get("title", aid)), files=files, tests=tests, limits=limits,
                      path=path, description=str(data.get("description", "")), edition=str(data.get("edition", "")),
                      conventions=dict(conventions), provided=list(provided), load_order=list(load_order),
                      notebooks=list(notebooks), published=published)


@lru_cache(maxsize=None)
def _cached(path: str, mtime: float) -> Assignment:
    return load_assignment_dir(Path(path))


def get_assignment(assignment_id: str, root: Path | None = None) -> Assignment:
    """The assignment with this id; :class:`UnknownAssignment` names the known ones."""
    root = root or assignments_root()
    if not _ID.match(assignment_id) or not (root / assignment_id / "assignment.toml").is_file():
        known = ", ".join(list_assignment_ids(root)) or "none"
        raise UnknownAssignment(f"unknown assignment {assignment_id!r} (known: {known})")
    path = root / assignment_id
    return _cached(str(path), (path / "assignment.toml").stat().st_mtime)


def list_assignment_ids(root: Path | None = None) -> list[str]:
    root = root or assignments_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "assignment.toml").is_file() and _ID.match(p.name))
