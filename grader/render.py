"""The report as a readable terminal table."""

from __future__ import annotations

import re
import textwrap
from typing import Any

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
