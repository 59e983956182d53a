#!/usr/bin/env python3
"""Prints the table and the ratios of a benches/load.sh run.

    python3 benches/load_report.py [target/load/results.csv [target/load/passthrough.csv]]

Standard library only. Every number comes from the CSV files.
"""

import csv
import statistics
import sys

SCENARIOS = ["range-1KiB", "range-64KiB", "multipart", "full-1MiB"]
TARGETS = [
    ("tower-range-file", "tower-range /file/ (FileSource)"),
    ("tower-range-bytes", "tower-range /bytes/ (Bytes)"),
    ("servedir", "tower-http ServeDir"),
    ("axum-range", "axum-range"),
    ("nginx", "nginx (sendfile)"),
    ("go-file", "Go ServeContent os.File"),
    ("go-bytes", "Go ServeContent bytes.Reader"),
    ("ceiling", "ceiling (bare hyper)"),
    ("tower-range-file-inline", "tower-range /file/ --inline-io"),
    ("tower-range-mmap", "tower-range, memory-mapped file (peers)"),
    ("layer-bytes", "layer-bytes (/bytes/ under an axum Router)"),
    ("bare-bytes", "bare-bytes (no layer)"),
]
RATIOS = [
    ("tower-range-file", "nginx", "/file/ vs nginx"),
    ("tower-range-file", "servedir", "/file/ vs ServeDir"),
    ("tower-range-file", "go-file", "/file/ vs Go os.File"),
    ("tower-range-file", "axum-range", "/file/ vs axum-range"),
    ("tower-range-bytes", "ceiling", "/bytes/ vs ceiling"),
    ("tower-range-bytes", "go-bytes", "/bytes/ vs Go bytes.Reader"),
    ("tower-range-file-inline", "nginx", "/file/ --inline-io vs nginx"),
    ("tower-range-file-inline", "servedir", "/file/ --inline-io vs ServeDir"),
    ("tower-range-file-inline", "go-file", "/file/ --inline-io vs Go os.File"),
    ("tower-range-mmap", "nginx", "mapped file vs nginx"),
    ("layer-bytes", "ceiling", "layer-bytes vs ceiling"),
    ("layer-bytes", "bare-bytes", "layer-bytes vs bare-bytes"),
]


def load(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def cell(row):
    if row is None:
        return "-"
    if row["check"].startswith("ok") and row["rps"]:
        return f"{float(row['rps']):,.0f}"
    for word in ("unsupported", "skipped", "FAIL"):
        if row["check"].startswith(word):
            return {"unsupported": "n/a", "skipped": "skipped", "FAIL": "FAIL"}[word]
    return "?"


def table(title, width, column, cell_of):
    """Prints one table: a row per target, a column per scenario."""
    print()
    print(title)
    print(f"{'target':<{width}}" + "".join(f"{s:>{column}}" for s in SCENARIOS))
    for target, label in TARGETS:
        cells = [cell_of(s, target) for s in SCENARIOS]
        print(f"{label:<{width}}" + "".join(f"{c:>{column}}" for c in cells))


def rps(rows, scenario, target):
    row = rows.get((scenario, target))
    if row and row["check"].startswith("ok") and row["rps"]:
        return float(row["rps"])
    return None


def main():
    results = sys.argv[1] if len(sys.argv) > 1 else "target/load/results.csv"
    passthrough = sys.argv[2] if len(sys.argv) > 2 else "target/load/passthrough.csv"
    rows = {(r["scenario"], r["target"]): r for r in load(results)}

    width = max(len(label) for _, label in TARGETS)
    table("Requests per second (higher is better)", width, 14,
          lambda s, target: cell(rows.get((s, target))))

    def latency(s, target):
        row = rows.get((s, target))
        if row and row["check"].startswith("ok") and row["rps"]:
            return f"{float(row['latency_p50_ms']):.2f} / {float(row['latency_p99_ms']):.2f}"
        return cell(row)

    table("Latency p50 / p99 in ms", width, 18, latency)

    notes = [
        (s, t, r["check"])
        for (s, t), r in rows.items()
        if not r["check"].startswith("ok")
    ]
    if notes:
        print()
        print("Not measured or failed:")
        for s, t, check in notes:
            print(f"  {s} / {t}: {check}")

    print()
    print("Ratios of requests per second (tower-range first; > 1 means tower-range is faster)")
    label_width = max(len(label) for _, _, label in RATIOS)
    print(f"{'':<{label_width}}" + "".join(f"{s:>14}" for s in SCENARIOS))
    for a, b, label in RATIOS:
        cells = []
        for s in SCENARIOS:
            x, y = rps(rows, s, a), rps(rows, s, b)
            cells.append(f"{x / y:.2f}" if x is not None and y else "-")
        print(f"{label:<{label_width}}" + "".join(f"{c:>14}" for c in cells))

    # CPU per response: on a machine the client shares, requests per second
    # follow the sum, and the split shows work a server leaves to the client.
    cpu = {
        key: (float(r["server_cpu_us"]), float(r["client_cpu_us"]))
        for key, r in rows.items()
        if r["check"].startswith("ok") and r.get("server_cpu_us") and r.get("client_cpu_us")
    }

    def cpu_cell(s, target):
        if (s, target) not in cpu:
            return cell(rows.get((s, target)))
        server, client = cpu[(s, target)]
        return f"{server:.1f} + {client:.1f} = {server + client:.1f}"

    if cpu:
        table("CPU microseconds per response, server + client (wrk) = sum (lower is better)",
              width, 24, cpu_cell)

    try:
        rounds = load(passthrough)
    except FileNotFoundError:
        rounds = []
    per_round = []
    for number in sorted({r["round"] for r in rounds}, key=int):
        pair = {r["target"]: r for r in rounds if r["round"] == number}
        layer, bare = pair.get("layer-bytes"), pair.get("bare-bytes")
        if layer and bare and layer["rps"] and bare["rps"]:
            per_round.append(float(layer["rps"]) / float(bare["rps"]))
    if per_round:
        print()
        print(
            "Pass-through (full GETs of 1 MiB, same server with and without RangeLayer): "
            f"layer-bytes / bare-bytes = {statistics.median(per_round):.3f} median of "
            f"{len(per_round)} round(s); per round: "
            + ", ".join(f"{r:.3f}" for r in per_round)
            + " (goal: >= 0.98)"
        )


if __name__ == "__main__":
    main()
