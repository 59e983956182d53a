#!/usr/bin/env python3
"""Draws docs/load.svg from target/load/results.csv (written by benches/load.sh).

    python3 benches/chart.py [results.csv [out.svg]]

One panel per scenario (each with its own requests/s axis: a 1 KiB range
and a 1 MiB GET differ by orders of magnitude), one bar per target, one
color per target across panels, the value on every bar. Targets without
a number (unsupported, skipped, failed) are marked in their slot. The
subtitle comes from target/load/env.txt when it is there. Standard
library only; every number drawn comes from the CSV.
"""

import csv
import math
import os
import sys
from xml.sax.saxutils import escape

SCENARIOS = [
    ("range-1KiB", "random 1 KiB ranges"),
    ("range-64KiB", "random 64 KiB ranges"),
    ("multipart", "3-range multipart (3 x 1 KiB)"),
    ("full-1MiB", "full GET, 1 MiB, no Range"),
]
# Target, short label (under the bar), legend label, color: tower-range in
# warm colors, its variants lighter.
TARGETS = [
    ("tower-range-file", "/file/", "tower-range /file/ (FileSource)", "#d62728"),
    ("tower-range-file-inline", "/file/ inline", "tower-range /file/ with --inline-io", "#ff9896"),
    ("tower-range-mmap", "mapped", "tower-range over a memory-mapped file (peers layer-mmap)", "#e377c2"),
    ("tower-range-bytes", "/bytes/", "tower-range /bytes/ (Bytes)", "#ff7f0e"),
    ("layer-bytes", "layer-bytes", "layer-bytes (the /bytes/ handler and layer under an axum Router)", "#ffbb78"),
    ("bare-bytes", "bare-bytes", "bare-bytes (layer-bytes without RangeLayer)", "#8c564b"),
    ("servedir", "ServeDir", "tower-http ServeDir", "#1f77b4"),
    ("axum-range", "axum-range", "axum-range", "#17becf"),
    ("nginx", "nginx", "nginx (sendfile)", "#2ca02c"),
    ("go-file", "Go file", "Go ServeContent, os.File", "#9467bd"),
    ("go-bytes", "Go bytes", "Go ServeContent, bytes.Reader", "#c5b0d5"),
    ("ceiling", "ceiling", "ceiling (bare hyper, no range logic, no multipart framing)", "#7f7f7f"),
]

PANEL_W, PANEL_H = 520, 300
MARGIN_L, MARGIN_T, GAP_X, GAP_Y = 80, 110, 70, 130
COLS = 2


def nice_step(top, ticks=5):
    raw = top / ticks
    power = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def human(value):
    if value >= 1_000_000:
        return f"{value / 1_000_000:.2f}M"
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}"


def text(x, y, body, size=12, anchor="start", weight="normal", fill="#222", rotate=None):
    transform = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate is not None else ""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
        f'font-weight="{weight}" fill="{fill}"{transform}>{escape(body)}</text>'
    )


def main():
    source = sys.argv[1] if len(sys.argv) > 1 else "target/load/results.csv"
    target_svg = sys.argv[2] if len(sys.argv) > 2 else "docs/load.svg"
    with open(source, newline="") as f:
        rows = {(r["scenario"], r["target"]): r for r in csv.DictReader(f)}

    subtitle = ""
    env = os.path.join(os.path.dirname(source), "env.txt")
    if os.path.exists(env):
        facts = dict(
            line.split(": ", 1) for line in open(env).read().splitlines() if ": " in line
        )
        wrk = next((l for l in open(env).read().splitlines() if l.startswith("wrk -t")), "")
        host = facts.get("host", "")
        subtitle = "; ".join(p for p in (wrk, host, facts.get("date", "")) if p)

    rows_n = math.ceil(len(SCENARIOS) / COLS)
    width = MARGIN_L + COLS * PANEL_W + (COLS - 1) * GAP_X + 30
    legend_rows = math.ceil(len(TARGETS) / 2)
    legend_y = MARGIN_T + rows_n * PANEL_H + (rows_n - 1) * GAP_Y + 105
    height = legend_y + legend_rows * 22 + 20

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        text(width / 2, 32, "HTTP range serving over loopback: requests per second (higher is better)",
             size=19, anchor="middle", weight="bold"),
    ]
    if subtitle:
        out.append(text(width / 2, 56, subtitle, size=12, anchor="middle", fill="#555"))
    out.append(text(width / 2, 76, "each panel has its own scale; n/a = the target does not answer that request "
                    "as asked (see the CSV's check column)", size=12, anchor="middle", fill="#555"))

    for index, (scenario, title) in enumerate(SCENARIOS):
        col, row = index % COLS, index // COLS
        x0 = MARGIN_L + col * (PANEL_W + GAP_X)
        y0 = MARGIN_T + row * (PANEL_H + GAP_Y)
        present = [t for t in TARGETS if (scenario, t[0]) in rows]
        values = []
        for key, _, _, _ in present:
            r = rows[(scenario, key)]
            ok = r["check"].startswith("ok") and r["rps"]
            values.append(float(r["rps"]) if ok else None)
        top = max([v for v in values if v is not None] or [1])
        step = nice_step(top * 1.12)
        axis_top = step * math.ceil(top * 1.12 / step)

        def y_of(v):
            return y0 + PANEL_H - v / axis_top * PANEL_H

        # Grid and y axis.
        tick = 0.0
        while tick <= axis_top + step / 2:
            y = y_of(tick)
            out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + PANEL_W}" y2="{y:.1f}" stroke="#e3e3e3"/>')
            out.append(text(x0 - 6, y + 4, human(tick), size=11, anchor="end", fill="#444"))
            tick += step
        out.append(f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y0 + PANEL_H}" stroke="#333"/>')
        out.append(f'<line x1="{x0}" y1="{y0 + PANEL_H}" x2="{x0 + PANEL_W}" y2="{y0 + PANEL_H}" stroke="#333"/>')
        out.append(text(x0 - 58, y0 + PANEL_H / 2, "requests / s", size=12, anchor="middle", rotate=-90))
        out.append(text(x0 + PANEL_W / 2, y0 - 12, title, size=14, anchor="middle", weight="bold"))
        out.append(text(x0 + PANEL_W / 2, y0 + PANEL_H + 72, f"target ({scenario})", size=12,
                        anchor="middle", fill="#444"))

        # Bars.
        slot = PANEL_W / max(len(present), 1)
        bar = slot * 0.72
        for i, ((key, short, label, color), value) in enumerate(zip(present, values)):
            x = x0 + i * slot + (slot - bar) / 2
            out.append(text(x + bar / 2 + 4, y0 + PANEL_H + 10, short, size=11, anchor="end",
                            fill="#333", rotate=-40))
            if value is None:
                out.append(text(x + bar / 2, y0 + PANEL_H - 6, "n/a", size=11, anchor="middle", fill="#999"))
                continue
            y = y_of(value)
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{y0 + PANEL_H - y:.1f}" '
                f'fill="{color}"><title>{escape(label)}: {value:,.0f} req/s</title></rect>'
            )
            out.append(text(x + bar / 2, y - 4, human(value), size=10, anchor="middle", fill="#222"))

    # Legend.
    col_w = (width - 2 * MARGIN_L) / 2
    for i, (_, _, label, color) in enumerate(TARGETS):
        lx = MARGIN_L + (i % 2) * col_w
        ly = legend_y + (i // 2) * 22
        out.append(f'<rect x="{lx:.1f}" y="{ly - 11}" width="14" height="14" fill="{color}"/>')
        out.append(text(lx + 20, ly, label, size=12))
    out.append("</svg>")

    os.makedirs(os.path.dirname(target_svg) or ".", exist_ok=True)
    with open(target_svg, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {target_svg}")


if __name__ == "__main__":
    main()
