"""Small server-side pictures as inline SVG: the gradient-error heatmap, score histograms, score history.

No JavaScript and nothing from the internet: each function returns one
``<svg>`` element (as :class:`markupsafe.Markup`) with a text alternative
(``role="img"``, ``<title>`` and ``<desc>``). Every piece of text that comes
from a report is escaped here, since the result is inserted unescaped.

The heatmap draws the engine's ``details.error_map`` (the absolute error
``|yours - expected|`` of each entry of a 2-D parameter such as ``dW``,
max-pooled to at most 64 x 64 cells) as a PNG embedded in the SVG, one flat
block of pixels per cell, with the axes named after the parameter's axes
(``feature row`` x ``class column``), a colour bar whose title names that
quantity ("absolute error", as the title, the description and the page's
caption say), and the entry with the largest relative error (the worst-entries
table's first row) outlined. A PNG keeps a 64 x 64 map at a few kilobytes
where 4,096 ``<rect>`` elements would weigh hundreds.
"""

from __future__ import annotations

import base64
import math
import struct
import zlib
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from markupsafe import Markup, escape

# ColorBrewer's YlOrRd: pale where the entries are right, dark red where they are most wrong.
_COLORS = np.array([[0xff, 0xff, 0xcc], [0xff, 0xed, 0xa0], [0xfe, 0xd9, 0x76], [0xfe, 0xb2, 0x4c],
                    [0xfd, 0x8d, 0x3c], [0xfc, 0x4e, 0x2a], [0xe3, 0x1a, 0x1c], [0xbd, 0x00, 0x26],
                    [0x80, 0x00, 0x26]], dtype=np.float64)
_EXACT = np.array([0xf4, 0xf4, 0xf4], dtype=np.float64)  # an entry that is exactly right
#: The colour scale spans at most this many decades below the largest error.
DECADES = 6
FONT = "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif\""


def fmt(value: float) -> str:
    """A number short enough for a tick label or a table cell."""
    if isinstance(value, str):
        return value
    if math.isnan(value):
        return "nan"
    if math.isinf(value) or abs(value) >= 1e300:
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e4:
        return f"{value:.3g}"
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{mantissa.removesuffix('.0')}e{int(exponent)}"


def _float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value))  # "inf", "nan" as the engine writes non-finite numbers
    except ValueError:
        return math.nan


def _colormap(t: np.ndarray) -> np.ndarray:
    """Colours for ``t`` in [0, 1] (linear interpolation between the anchors)."""
    t = np.clip(t, 0.0, 1.0) * (len(_COLORS) - 1)
    low = np.floor(t).astype(int)
    high = np.minimum(low + 1, len(_COLORS) - 1)
    frac = (t - low)[..., None]
    return np.asarray(_COLORS[low] * (1 - frac) + _COLORS[high] * frac, dtype=np.float64)


def _hex(rgb: np.ndarray) -> str:
    r, g, b = (round(float(c)) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"


def png(rgb: np.ndarray) -> bytes:
    """An RGB image (``(h, w, 3)`` uint8) as PNG bytes (no dependency beyond zlib)."""
    h, w, _ = rgb.shape
    raw = b"".join(b"\x00" + row.tobytes() for row in np.ascontiguousarray(rgb, dtype=np.uint8))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def _ticks(count: int, max_ticks: int) -> list[int]:
    """Original indices to label on an axis of ``count`` entries: 0 and round steps."""
    if count <= 0:
        return []
    if count <= max_ticks:
        return list(range(count))
    raw = count / max_ticks
    step = next(m * 10 ** e for e in range(8) for m in (1, 2, 5) if m * 10 ** e >= raw)
    return list(range(0, count, step))


@dataclass(frozen=True)
class Scale:
    """Maps an error to [0, 1]: logarithmic over the top ``DECADES`` decades, or linear for a flat map."""

    low: float
    high: float
    log: bool

    def __call__(self, values: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.high <= 0:
                return np.zeros_like(values)
            if self.log:
                t = (np.log10(np.maximum(values, self.low)) - math.log10(self.low)) / (
                    math.log10(self.high) - math.log10(self.low))
            else:
                t = values / self.high
        return np.asarray(np.nan_to_num(np.clip(t, 0, 1), nan=1.0), dtype=np.float64)

    def ticks(self) -> list[float]:
        if self.high <= 0:
            return [0.0]
        if not self.log:
            return [0.0, self.high / 2, self.high]
        lo, hi = math.log10(self.low), math.log10(self.high)
        inner = [10.0 ** e for e in range(math.ceil(lo), math.floor(hi) + 1)]
        if len(inner) > 4:
            inner = inner[:: math.ceil(len(inner) / 4)]
        values = [self.low] + [v for v in inner if self.low * 1.5 < v < self.high / 1.5] + [self.high]
        return values


def _scale(values: np.ndarray) -> Scale:
    finite = values[np.isfinite(values)]
    high = float(finite.max()) if finite.size else 0.0
    positive = finite[finite > 0]
    if high <= 0 or not positive.size:
        return Scale(0.0, high, False)
    low = max(float(positive.min()), high * 10.0 ** -DECADES)
    if high / low < 20:
        return Scale(0.0, high, False)
    return Scale(low, high, True)


def heatmap_svg(error_map: dict[str, Any], *, axis_names: Sequence[str] = ("row", "column"),
                param: str | None = None, worst: Sequence[int] | None = None, uid: str = "heatmap",
                max_side: int = 140, max_cell: int = 16) -> Markup | None:
    """The error over a parameter as an accessible SVG heatmap; None when ``error_map`` is unusable."""
    try:
        values = np.array([[_float(v) for v in row] for row in error_map["values"]], dtype=np.float64)
        per_row = max(1, int(error_map.get("rows_per_cell", 1)))
        per_col = max(1, int(error_map.get("cols_per_cell", 1)))
        shape = [int(n) for n in error_map.get("shape", values.shape)]
    except (KeyError, TypeError, ValueError):
        return None
    if values.ndim != 2 or values.size == 0 or len(shape) != 2:
        return None
    values = np.where(np.isnan(values), np.inf, np.abs(values))
    values = np.where(values >= 1e300, np.inf, values)
    rows, cols = values.shape
    names = [str(n) for n in axis_names] or ["row", "column"]
    # A 1-D parameter (a bias) arrives as one row: its only axis runs along x.
    if len(names) == 1:
        row_name, col_name = "", names[0]
    else:
        row_name, col_name = names[0], names[1]
    what = escape(param or "the parameter")

    # Cells shrink to 2 px for the largest (64 x 64) maps, so the picture stays within about max_side.
    cw = int(min(max_cell, max(2, max_side // cols)))
    ch = int(min(max_cell, max(2, max_side // rows))) if rows > 1 else 24
    width, height = cols * cw, rows * ch
    scale = _scale(values)
    colors = _colormap(scale(values))
    exact = values == 0
    colors[exact] = _EXACT
    image = np.repeat(np.repeat(np.round(colors).astype(np.uint8), ch, axis=0), cw, axis=1)
    data = base64.b64encode(png(image)).decode("ascii")

    left, top, bar_gap, bar_w = (56 if row_name else 16), 8, 14, 12
    row_ticks = _ticks(shape[0], 8) if rows > 1 else []
    col_ticks = _ticks(shape[1], 10 if cw >= 16 else 6)
    bottom = 40
    # A narrow map (C = 3) is narrower than its axis title: the colour bar goes beyond the title's end.
    title_half = len(col_name) * 3.6 + 2  # half the width of the 12 px bold title, estimated generously
    legend_x = round(left + max(width, width / 2 + title_half) + bar_gap)
    total_w = legend_x + bar_w + 56
    total_h = top + max(height, 96) + bottom + (16 if not np.all(np.isfinite(values)) else 0)
    title_id, desc_id = f"{uid}-title", f"{uid}-desc"

    finite = values[np.isfinite(values)]
    largest = values.max() if values.size else 0.0
    r_max, c_max = np.unravel_index(int(np.argmax(np.where(np.isfinite(values), values, np.inf))), values.shape)
    wrong_cells = int(np.count_nonzero(values > 0))
    where = _location(names, [int(r_max) * per_row, int(c_max) * per_col], per_row, per_col, rows)
    description = (f"Absolute error |yours - expected| of each entry of {param or 'the parameter'} "
                   f"({shape[0]} x {shape[1]}"
                   + (f", each cell the largest of {per_row} x {per_col} entries" if per_row * per_col > 1 else "")
                   + f"): {wrong_cells} of {values.size} cells differ from the reference; "
                   f"the largest error, {fmt(float(largest))}, is at {where}.")
    if finite.size and scale.log:
        description += f" Colours run on a log scale from {fmt(scale.low)} (pale) to {fmt(scale.high)} (dark red)."
    elif finite.size:
        description += f" Colours run on a linear scale from 0 (pale) to {fmt(scale.high)} (dark red)."
    if worst is not None and len(worst) >= 1:
        at = [int(k) for k in worst] if len(worst) > 1 else [0, int(worst[0])]
        description += (" The outlined cell holds the entry with the largest relative error, at "
                        f"{_location(names, at, 1, 1, rows)}.")
    if finite.size < values.size:
        description += f" {values.size - finite.size} cells are not finite (inf or nan)."

    out: list[str] = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="heatmap" role="img" '
        f'aria-labelledby="{title_id} {desc_id}" width="{total_w}" height="{total_h}" '
        f'viewBox="0 0 {total_w} {total_h}" {FONT} font-size="11">',
        f'<title id="{title_id}">Absolute error of each entry of {what}</title>',
        f'<desc id="{desc_id}">{escape(description)}</desc>',
        f'<rect x="{left - 0.5}" y="{top - 0.5}" width="{width + 1}" height="{height + 1}" fill="none" '
        f'stroke="#57606a"/>',
        f'<image x="{left}" y="{top}" width="{width}" height="{height}" preserveAspectRatio="none" '
        f'href="data:image/png;base64,{data}"/>',
    ]
    # Axes: tick marks at original indices (a pooled cell covers several entries).
    for i in row_ticks:
        y = top + (i + 0.5) / per_row * ch
        out.append(f'<line x1="{left - 4}" x2="{left}" y1="{y:.1f}" y2="{y:.1f}" stroke="#57606a"/>')
        out.append(f'<text x="{left - 6}" y="{y + 3.5:.1f}" text-anchor="end" fill="#24292f">{i}</text>')
    for j in col_ticks:
        x = left + (j + 0.5) / per_col * cw
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + height}" y2="{top + height + 4}" stroke="#57606a"/>')
        out.append(f'<text x="{x:.1f}" y="{top + height + 15}" text-anchor="middle" fill="#24292f">{j}</text>')
    out.append(f'<text x="{left + width / 2:.1f}" y="{top + height + 31}" text-anchor="middle" fill="#24292f" '
               f'font-size="12" font-weight="600">{escape(col_name)}</text>')
    if row_name:
        cy = top + height / 2
        out.append(f'<text x="14" y="{cy:.1f}" text-anchor="middle" fill="#24292f" font-size="12" '
                   f'font-weight="600" transform="rotate(-90 14 {cy:.1f})">{escape(row_name)}</text>')
    # The worst entry, outlined in blue (it stands out from the yellow-red scale).
    if worst is not None and len(worst) >= 1:
        index = [int(k) for k in worst]
        if len(index) == 1:
            index = [0, index[0]]
        r, c = index[0] // per_row, index[1] // per_col
        if 0 <= r < rows and 0 <= c < cols:
            out.append(f'<rect x="{left + c * cw - 1.5}" y="{top + r * ch - 1.5}" width="{cw + 3}" height="{ch + 3}" '
                       f'fill="none" stroke="#0b57d0" stroke-width="2.5"><title>worst entry: '
                       f'{escape(_location(names, index, 1, 1, rows))}</title></rect>')
    # Colour bar.
    bar_h = max(height, 96)
    steps = 48
    for k in range(steps):
        t = 1 - (k + 0.5) / steps
        out.append(f'<rect x="{legend_x}" y="{top + k * bar_h / steps:.2f}" width="{bar_w}" '
                   f'height="{bar_h / steps + 0.6:.2f}" fill="{_hex(_colormap(np.array(t)))}"/>')
    out.append(f'<rect x="{legend_x - 0.5}" y="{top - 0.5}" width="{bar_w + 1}" height="{bar_h + 1}" fill="none" '
               f'stroke="#57606a"/>')
    ticks: list[tuple[float, float]] = []  # (value, y): the ends always, inner ones only where they fit
    tick_values = scale.ticks()
    for k, value in enumerate(tick_values):
        y = top + (1 - float(scale(np.array([value]))[0])) * bar_h
        ends = [top + (1 - float(scale(np.array([v]))[0])) * bar_h for v in (tick_values[0], tick_values[-1])]
        if 0 < k < len(tick_values) - 1 and (min(abs(y - e) for e in ends) < 15
                                         or any(abs(y - y2) < 15 for _, y2 in ticks)):
            continue
        ticks.append((value, y))
    for value, y in ticks:
        out.append(f'<line x1="{legend_x + bar_w}" x2="{legend_x + bar_w + 4}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="#57606a"/>')
        out.append(f'<text x="{legend_x + bar_w + 6}" y="{y + 3.5:.1f}" fill="#24292f">{escape(fmt(value))}</text>')
    # The bar's title names the quantity the colours show, as the caption and the description do.
    out.append(f'<text x="{legend_x - 4}" y="{top + bar_h + 14}" fill="#24292f" font-size="10.5" font-weight="600">'
               f'absolute</text>')
    out.append(f'<text x="{legend_x - 4}" y="{top + bar_h + 25}" fill="#24292f" font-size="10.5" font-weight="600">'
               f'error</text>')
    out.append(f'<text x="{legend_x - 4}" y="{top + bar_h + 36}" fill="#57606a" font-size="10">'
               f'{"log scale" if scale.log else "linear"}</text>')
    if not np.all(np.isfinite(values)):
        # Non-finite entries (inf, NaN) are drawn in the darkest colour; say so rather than stretch the scale.
        out.append(f'<rect x="{legend_x}" y="{top + bar_h + 42}" width="{bar_w}" height="10" '
                   f'fill="{_hex(_COLORS[-1])}"/>')
        out.append(f'<text x="{legend_x + bar_w + 6}" y="{top + bar_h + 51}" fill="#24292f">inf / nan</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _location(names: Sequence[str], index: Sequence[int], per_row: int, per_col: int, rows: int) -> str:
    if len(names) == 1:
        return f"{names[0]} {index[-1]}" + (f"-{index[-1] + per_col - 1}" if per_col > 1 else "")
    parts = []
    for name, i, per in zip(names, index, (per_row, per_col)):
        parts.append(f"{name} {i}" + (f"-{i + per - 1}" if per > 1 else ""))
    return ", ".join(parts)


def histogram_svg(counts: Sequence[int], labels: Sequence[str], *, title: str, description: str,
                  uid: str = "histogram", x_label: str = "score (% of the points)",
                  y_label: str = "students") -> Markup:
    """Vertical bars, one per bin, each labelled with its count."""
    n = len(counts)
    top, left, bottom, bar_w, gap, plot_h = 20, 40, 50, 34, 6, 160
    width = left + n * (bar_w + gap) + 10
    height = top + plot_h + bottom
    peak = max(max(counts, default=0), 1)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
           f'aria-labelledby="{uid}-title {uid}-desc" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" {FONT} font-size="11">',
           f'<title id="{uid}-title">{escape(title)}</title><desc id="{uid}-desc">{escape(description)}</desc>',
           f'<line x1="{left}" x2="{width - 6}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#57606a"/>']
    for k, (count, label) in enumerate(zip(counts, labels)):
        x = left + k * (bar_w + gap) + gap / 2
        h = plot_h * count / peak
        y = top + plot_h - h
        out.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w}" height="{h:.1f}" fill="#0b57d0">'
                   f'<title>{escape(label)}: {count}</title></rect>')
        if count:
            out.append(f'<text x="{x + bar_w / 2:.1f}" y="{y - 4:.1f}" text-anchor="middle" fill="#24292f">'
                       f'{count}</text>')
        out.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" fill="#24292f" '
                   f'font-size="10">{escape(label)}</text>')
    out.append(f'<text x="{left + (width - left) / 2:.1f}" y="{height - 12}" text-anchor="middle" fill="#24292f" '
               f'font-size="12">{escape(x_label)}</text>')
    out.append(f'<text x="12" y="{top + plot_h / 2:.1f}" text-anchor="middle" fill="#24292f" font-size="12" '
               f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">{escape(y_label)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


@dataclass(frozen=True)
class Point:
    label: str  # e.g. "#12, 3 Apr 14:05"
    percent: float | None  # None: not graded (error, queued)


def history_ticks(count: int, plot_w: float, min_gap: float = 30.0) -> list[int]:
    """Submission numbers (1-based) to label on an x axis of ``count`` evenly spaced submissions
    ``plot_w`` pixels wide: 1 and multiples of a round step, never closer than ``min_gap`` pixels."""
    if count <= 1:
        return [1] if count == 1 else []
    per = plot_w / (count - 1)
    step = next(m * 10 ** e for e in range(6) for m in (1, 2, 5) if m * 10 ** e * per >= min_gap)
    ticks = [k for k in range(step, count + 1, step)]
    if not ticks or (ticks[0] - 1) * per >= min_gap:
        ticks.insert(0, 1)
    return ticks


def history_svg(points: Sequence[Point], *, title: str, uid: str = "history", width: int = 420) -> Markup | None:
    """The scores of successive submissions (oldest left) as a line chart with axes: the score in % of the
    points (0 to 100) up, the submission's number (1 = the first) across; submissions that were not graded
    are marked on the axis. None when none was graded."""
    graded = [(k, p.percent) for k, p in enumerate(points) if p.percent is not None]
    if not graded:
        return None
    n = len(points)
    top, left, right, bottom, plot_h = 14, 52, 18, 46, 140
    plot_w = width - left - right
    height = top + plot_h + bottom

    def x_of(k: int) -> float:
        return left + (plot_w / 2 if n == 1 else plot_w * k / (n - 1))

    def y_of(pct: float) -> float:
        return top + plot_h * (1 - max(0.0, min(100.0, pct)) / 100)

    best_k, best = max(graded, key=lambda kp: (kp[1], -kp[0]))
    last = graded[-1][1]
    missing = n - len(graded)
    desc = (f"{n} submission{'s' if n != 1 else ''}, oldest first; "
            + (f"the first scored {graded[0][1]:.0f}%, " if len(graded) > 1 else "")
            + f"the best {best:.0f}% (submission {best_k + 1}), the latest graded {last:.0f}% of the points shown"
            + (f"; {missing} not graded" if missing else "") + ".")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart history" role="img" '
           f'aria-labelledby="{uid}-title {uid}-desc" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" {FONT} font-size="12">',
           f'<title id="{uid}-title">{escape(title)}</title><desc id="{uid}-desc">{escape(desc)}</desc>']
    for pct in (0, 25, 50, 75, 100):
        y = y_of(pct)
        out.append(f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="{"#57606a" if pct == 0 else "#d0d7de"}"/>')
        out.append(f'<text class="y-tick" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" fill="#24292f">'
                   f'{pct}%</text>')
    for k in history_ticks(n, plot_w):
        x = x_of(k - 1)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" stroke="#57606a"/>')
        out.append(f'<text class="x-tick" x="{x:.1f}" y="{top + plot_h + 17}" text-anchor="middle" fill="#24292f">'
                   f'{k}</text>')
    out.append(f'<text class="axis-title" x="{left + plot_w / 2:.1f}" y="{height - 8}" text-anchor="middle" '
               f'fill="#24292f">submission (1 = your first)</text>')
    cy = top + plot_h / 2
    out.append(f'<text class="axis-title" x="14" y="{cy:.1f}" text-anchor="middle" fill="#24292f" '
               f'transform="rotate(-90 14 {cy:.1f})">score</text>')
    if len(graded) > 1:
        path = " ".join(f"{'M' if m == 0 else 'L'}{x_of(k):.1f},{y_of(pct):.1f}" for m, (k, pct) in enumerate(graded))
        out.append(f'<path d="{path}" fill="none" stroke="#0b57d0" stroke-width="2"/>')
    radius = 4 if n <= 25 else 3
    for k, p in enumerate(points):
        x = x_of(k)
        if p.percent is None:
            out.append(f'<path d="M{x - 3:.1f},{top + plot_h - 3} l6,6 m0,-6 l-6,6" stroke="#57606a" '
                       f'stroke-width="1.5">'
                       f'<title>Submission {k + 1} ({escape(p.label)}): not graded</title></path>')
            continue
        out.append(f'<circle cx="{x:.1f}" cy="{y_of(p.percent):.1f}" r="{radius}" '
                   f'fill="{"#1a7f37" if k == best_k else "#0b57d0"}"><title>Submission {k + 1} ({escape(p.label)}): '
                   f'{p.percent:.0f}%{" (best)" if k == best_k else ""}</title></circle>')
    out.append("</svg>")
    return Markup("".join(out))


# --------------------------------------------------------------------------- statistics (submissions over time)


def timeline_svg(bins: Sequence[tuple[Any, Any, int]], *, deadline: Any | None, unit: str, title: str,
                 description: str, uid: str = "timeline") -> Markup | None:
    """Submissions per time bin (``(start, end, count)``, datetimes in UTC, oldest first) as bars, with the
    deadline a dashed line; None without bins. Labels are in UTC and say so."""
    n = len(bins)
    if n == 0:
        return None
    top, left, right, bottom, plot_h, width = 26, 44, 14, 52, 150, 680
    plot_w = width - left - right
    height = top + plot_h + bottom
    start, end = bins[0][0], bins[-1][1]
    span = (end - start).total_seconds() or 1.0
    peak = max(max(count for _, _, count in bins), 1)
    step = _round_step(peak)
    bar_w = plot_w / n

    def x_of(when: Any) -> float:
        return left + plot_w * (when - start).total_seconds() / span

    daily = unit in ("day", "week")
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart timeline" role="img" '
           f'aria-labelledby="{uid}-title {uid}-desc" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" {FONT} font-size="11">',
           f'<title id="{uid}-title">{escape(title)}</title><desc id="{uid}-desc">{escape(description)}</desc>']
    peak = math.ceil(peak / step) * step  # the axis ends on a gridline
    for value in range(0, peak + 1, step):
        y = top + plot_h * (1 - value / peak)
        out.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d0d7de"/>')
        out.append(f'<text x="{left - 6}" y="{y + 3.5:.1f}" text-anchor="end" fill="#57606a">{value}</text>')
    for k, (b_start, b_end, count) in enumerate(bins):
        if not count:
            continue
        h = plot_h * count / peak
        x = left + k * bar_w + min(1.0, bar_w * 0.1)
        label = (f"{b_start:%a %d %b}" if daily else f"{b_start:%a %d %b %H:%M}–{b_end:%H:%M}") + f" UTC: {count}"
        out.append(f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{max(1.0, bar_w - 2 * min(1.0, bar_w * 0.1)):.1f}" '
                   f'height="{h:.1f}" fill="#0b57d0"><title>{escape(label)}</title></rect>')
    out.append(f'<line x1="{left}" x2="{width - right}" y1="{top + plot_h}" y2="{top + plot_h}" stroke="#57606a"/>')
    # Date labels at up to seven evenly spaced bin starts.
    every = max(1, math.ceil(n / 7))
    for k in range(0, n, every):
        when = bins[k][0]
        x = left + k * bar_w
        text = f"{when:%d %b}" if daily or when.hour == 0 else f"{when:%d %b %H:%M}"
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" stroke="#57606a"/>')
        out.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="start" fill="#24292f">{escape(text)}</text>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 10}" text-anchor="middle" fill="#24292f" '
               f'font-size="12">time (UTC), submissions per {escape(unit)}</text>')
    out.append(f'<text x="12" y="{top + plot_h / 2:.1f}" text-anchor="middle" fill="#24292f" font-size="12" '
               f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">submissions</text>')
    if deadline is not None and start <= deadline <= end:
        x = x_of(deadline)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" y2="{top + plot_h}" stroke="#a40e26" '
                   f'stroke-width="2" stroke-dasharray="5 3"/>')
        anchor = "end" if x > left + plot_w * 0.8 else "start"
        dx = -4 if anchor == "end" else 4
        out.append(f'<text x="{x + dx:.1f}" y="{top - 10}" text-anchor="{anchor}" fill="#a40e26" font-weight="600">'
                   f'deadline {deadline:%d %b %H:%M} UTC</text>')
    out.append("</svg>")
    return Markup("".join(out))


def _round_step(peak: int) -> int:
    """A round step for about four gridlines up to ``peak``."""
    raw = max(1.0, peak / 4)
    return int(next(m * 10 ** e for e in range(9) for m in (1, 2, 5) if m * 10 ** e >= raw))
