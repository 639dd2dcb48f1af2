"""The one sanitiser at the trust boundary: every string and number that reaches a report.

A report is built from the checks' own messages *and* from what the child sent (prints, exception
messages, type names, reprs). All of it passes :func:`safe_report` once, when the engine hands the
report out, so whatever the child managed to smuggle into any field:

* text is valid UTF-8 with every control character except newline and tab escaped visibly
  (``\\x00``, ``\\x1b``, ``\\x9b``), every bidirectional-override/isolate/mark character and the
  Unicode line separators escaped as ``\\u202e`` (so nothing reorders, hides or overwrites what a
  reader sees), lone surrogates escaped as ``\\udc80``, the grader's own installation paths
  replaced by ``...``, and each string capped;
* every number is a finite ``float`` or an ``int`` small enough for any JSON reader; ``inf``,
  ``-inf`` and ``nan`` become the strings ``"inf"``, ``"-inf"``, ``"nan"``; numpy scalars become
  Python numbers; anything else becomes capped text.

So ``json.dumps(report, allow_nan=False)`` always succeeds and PostgreSQL's JSONB (which refuses
``\\u0000`` and non-finite numbers) always stores it. The functions are idempotent.
"""

from __future__ import annotations

import math
import re
import site
import sys
from pathlib import Path
from typing import Any

MAX_TEXT = 100_000  # characters per string in a report (student output is capped in bytes before this)
MAX_DEPTH = 24
MAX_INT = 2**63

# C0 controls except \t and \n, DEL, C1 controls; bidi marks/embeddings/overrides/isolates; line and
# paragraph separators; lone surrogates (from JSON escapes such as "\udc80").
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029"
                     "\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _grader_paths() -> list[str]:
    """Paths of the grader's installation that must not appear in what a student sees."""
    paths = {str(Path(__file__).resolve().parents[2]), sys.prefix, sys.base_prefix, sys.exec_prefix}
    try:
        paths.update(site.getsitepackages())
    except AttributeError:  # pragma: no cover - virtualenvs of old
        pass
    return sorted((p for p in paths if len(p) > 1), key=len, reverse=True)


GRADER_PATHS = _grader_paths()


def safe_text(text: Any, limit: int = MAX_TEXT) -> str:
    """``text`` (any object: ``str()`` is taken) made safe to store, print and show; see the module doc."""
    if not isinstance(text, str):
        if isinstance(text, (bytes, bytearray)):
            text = bytes(text).decode("utf-8", "replace")
        else:
            try:
                text = str(text)
            except Exception:  # noqa: BLE001 - a value whose __str__ fails
                text = "<unprintable>"
        text = str(text)  # a str subclass becomes a plain str
    cut = len(text) - limit
    if cut > 0:
        text = text[:limit]
    for path in GRADER_PATHS:
        if path in text:
            text = text.replace(path, "...")
    text = _UNSAFE.sub(_escape, text)
    if len(text) > limit:
        cut = max(cut, 0) + len(text) - limit
        text = text[:limit]
    if cut > 0:
        text += f"\n[... {cut} more characters cut]"
    return text


def safe_number(value: Any) -> Any:
    """A JSON-safe number: finite float, bounded int, or the strings "inf", "-inf", "nan"."""
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        value = int(value)
        if -MAX_INT <= value <= MAX_INT:
            return value
        try:
            value = float(value)
        except OverflowError:
            return "inf" if value > 0 else "-inf"
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def safe_report(value: Any, depth: int = 0) -> Any:
    """A copy of ``value`` (a report or any part of one) that is strict JSON of safe text and numbers."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, (int, float)):
        return safe_number(value)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover
        np = None  # type: ignore[assignment]
    if np is not None:
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, (np.integer, np.floating)):
            return safe_number(value.item())
    if depth >= MAX_DEPTH:
        return safe_text(f"<nested too deeply: {type(value).__name__}>")
    if isinstance(value, dict):
        return {safe_text(k, 1000): safe_report(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [safe_report(v, depth + 1) for v in value]
    return safe_text(value, 4000)


__all__ = ["GRADER_PATHS", "MAX_TEXT", "safe_number", "safe_report", "safe_text"]
