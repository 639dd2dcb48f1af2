"""Static checks on the student's source, done on the trusted side with ``ast`` (never executed)."""

from __future__ import annotations

import ast
from collections import deque
from dataclasses import dataclass


@dataclass
class Loop:
    line: int
    kind: str  # "for loop", "while loop", "list comprehension", ...


_LOOP_NODES: dict[type, str] = {
    ast.For: "for loop",
    ast.AsyncFor: "for loop",
    ast.While: "while loop",
    ast.ListComp: "list comprehension",
    ast.SetComp: "set comprehension",
    ast.DictComp: "dict comprehension",
    ast.GeneratorExp: "generator expression",
}


def find_function(tree: ast.Module, name: str, cls: str | None = None) -> ast.FunctionDef | None:
    """The last top-level definition of ``name`` (or of method ``cls.name``), as Python would bind it."""
    body = tree.body
    if cls is not None:
        classes = [n for n in body if isinstance(n, ast.ClassDef) and n.name == cls]
        if not classes:
            return None
        body = classes[-1].body
    found = None
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == name:
            found = node
    return found  # type: ignore[return-value]


def loops_in(func: ast.FunctionDef) -> list[Loop]:
    """Every loop or comprehension inside ``func``'s body (nested functions included)."""
    return [Loop(getattr(node, "lineno", 0), kind) for node in ast.walk(func)
            for t, kind in _LOOP_NODES.items() if isinstance(node, t)]


def calls_in(func: ast.FunctionDef) -> set[str]:
    """Names of the plain functions ``func`` calls (``f(...)``, ``mod.f(...)``)."""
    names = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Name):
                names.add(node.func.id)
            elif isinstance(node.func, ast.Attribute):
                names.add(node.func.attr)
    return names


def positional_params(func: ast.FunctionDef) -> list[str]:
    return [a.arg for a in func.args.posonlyargs + func.args.args]


def signature_problem(func: ast.FunctionDef, expected: list[str], display: str) -> str | None:
    """A message if ``func`` cannot be called with ``expected`` positional arguments in that order."""
    params = positional_params(func)
    if params and params[0] == "self" and expected and expected[0] != "self":
        params = params[1:]
    required = len(params) - len(func.args.defaults)
    if func.args.vararg is not None:
        return None
    if len(params) < len(expected) or required > len(expected):
        return (f"{display} is defined as {display}({', '.join(params)}), expected "
                f"{display}({', '.join(expected)})")
    return None


def top_level_functions(tree: ast.Module) -> dict[str, ast.FunctionDef]:
    """Name -> the last top-level ``def`` of that name (as Python binds it), in one pass over the module."""
    index: dict[str, ast.FunctionDef] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            index[node.name] = node  # type: ignore[assignment]
    return index


def local_calls_in(func: ast.FunctionDef) -> set[str]:
    """Bare names ``func`` calls (``f(...)``): only these can be the file's own top-level helpers; a call through
    an attribute (``scipy.special.logsumexp(...)``, ``np.sum(...)``) is a library's, whatever its name."""
    return {node.func.id for node in ast.walk(func) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}


def loops_reachable(tree: ast.Module, func: ast.FunctionDef) -> list[tuple[str, list[Loop]]]:
    """Loops in ``func`` and in every top-level function of the same file that it (transitively) calls by its
    bare name. Linear in the size of the file: each function is indexed and walked once."""
    index = top_level_functions(tree)
    found: list[tuple[str, list[Loop]]] = []
    seen: set[str] = {func.name}
    todo = deque([func])  # each function queued once (marked when queued), popped in O(1)
    while todo:
        node = todo.popleft()
        loops = loops_in(node)
        if loops:
            found.append((node.name, loops))
        for name in sorted(local_calls_in(node)):
            callee = index.get(name)
            if callee is not None and name not in seen:
                seen.add(name)
                todo.append(callee)
    return found
