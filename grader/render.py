"""The report as a readable terminal table; lists with a header line, and sizes in KiB and MiB."""

from __future__ import annotations

import re
import textwrap
from typing import Any, Sequence

import click

_MARK = {"passed": ("PASS", "green"), "failed": ("FAIL", "red"), "error": ("ERR ", "yellow"),
         "hidden": ("----", None)}


# Terminal control characters: text from a submission must not retitle, clear or redraw the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _safe(value: Any) -> str:
    return _CONTROL.sub("\ufffd", str(value))


def render_report(report: dict[str, Any], *, color: bool = False, width: int = 100) -> str:
    def style(text: str, fg: str | None = None, bold: bool = False) -> str:
        return click.style(text, fg=fg, bold=bold) if color else text

    lines: list[str] = []
    title = report.get("title") or report["assignment"]
    mode = "self-check (public tests only)" if report.get("mode") == "check" else "grading"
    lines.append(style(f"{title}: {mode}", bold=True))
    if report["status"] == "error":
        lines.append(style("The submission could not be graded:", fg="red", bold=True))
        lines.extend("  " + line for line in _safe(report.get("output", "")).splitlines())
        lines.append(f"seed {report.get('seed')}")
        return "\n".join(lines)
    for t in report["tests"]:
        mark, fg = _MARK.get(t["status"], ("?   ", None))
        # A test masked for a student (grader/reports.py) has no score.
        score = f"?/{t['max_score']:g}" if t.get("score") is None else f"{t['score']:g}/{t['max_score']:g}"
        name = _safe(t["name"])
        hidden = "" if t.get("visibility", "visible") == "visible" else f" [{t['visibility']}]"
        lines.append(f"{style(mark, fg=fg, bold=True)}  {score:>7}  {name}{hidden}")
        if t["status"] not in ("passed", "hidden") and t.get("output"):
            for para in _safe(t["output"]).splitlines():
                wrapped = textwrap.wrap(para, width - 10, subsequent_indent="    ") or [""]
                for w in wrapped:
                    lines.append("          " + w)
    lines.append("")
    total = f"Score: {report['score']:g} / {report['max_score']:g}"
    if report.get("hidden_max_score"):
        total += f" (+ {report['hidden_max_score']:g} in hidden tests)"
    lines.append(style(total, bold=True) + f"   ({_safe(report.get('output', ''))})")
    footer = [f"seed {report['seed']}"]
    if "execution_time" in report:
        footer.append(f"{report['execution_time']:.2f} s")
    footer.append(f"grader {report['grader_version']}")
    lines.append("  ·  ".join(footer))
    printed = report.get("student_output") or ""
    if printed.strip():
        n = len(printed.splitlines())
        dropped = report.get("student_output_truncated_bytes", 0)
        lines.append(f"Your code printed {n} lines" + (f" (and {dropped} more bytes, not kept)" if dropped else "")
                     + "; they are in the report's student_output (--json).")
    return "\n".join(lines)


def human_size(n: int) -> str:
    """A size as people read it: "900 bytes", "512 KiB", "1.5 MiB" (binary units, as the limits are set)."""
    n = int(n)
    for unit, size in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= size:
            text = f"{n / size:.1f}"
            if text.endswith(".0"):
                # Whole units only when exact: a file one byte over 512 KiB must not read "512 KiB".
                if n % size:
                    return f"{n:,} bytes"
                text = text[:-2]
            return f"{text} {unit}"
    return f"{n} byte{'' if n == 1 else 's'}"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, right: Sequence[int] = ()) -> str:
    """Rows under a header line, in columns as wide as their widest cell (the last one unpadded); the columns
    numbered in ``right`` are aligned to the right (numbers). Control characters are neutralised."""
    cells = [[_safe(c) for c in headers], *([_safe("" if c is None else c) for c in row] for row in rows)]
    widths = [max(len(row[k]) for row in cells) for k in range(len(headers))]
    lines = []
    for row in cells:
        parts = [cell.rjust(widths[k]) if k in right else
                 (cell if k == len(row) - 1 else cell.ljust(widths[k])) for k, cell in enumerate(row)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)
