"""Accuracy and speed of gxllm.pipeline.extract_bytes over report folders with a gold.json.

    python bench/bench.py DIR [DIR ...] [--repeat N] [--json] [-v]

A report folder holds a gold.json and one or more sources of the same report
(source.{txt,html,htm,md,pdf,docx}); each source is benchmarked on its own. DIR may be such a folder
or any folder above them (searched recursively). Only the extraction is timed, on one core.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

TABLE_KEYS = ("active_disclosure", "applications", "reviews_and_lawsuits")
META_KEYS = ("agency", "year", "template")
SOURCE_NAMES = ("source.txt", "source.html", "source.htm", "source.md", "source.pdf", "source.docx")
SKIP_KEYS = {"total_amount_unit"}  # a unit beside a cell, not a cell


def find_reports(dirs: list[str], formats: set[str] | None = None) -> list[tuple[Path, Path]]:
    """(folder, source file) of every source in a report folder under dirs, sorted, no duplicates."""
    found: dict[Path, Path] = {}
    for d in dirs:
        for root, subdirs, files in os.walk(d):
            subdirs.sort()
            if "gold.json" not in files:
                continue
            for name in SOURCE_NAMES:
                if name in files and (formats is None or name.rsplit(".", 1)[1] in formats):
                    found.setdefault((Path(root) / name).resolve(), Path(root) / name)
    return sorted(((source.parent, source) for source in found.values()), key=lambda fs: str(fs[1].resolve()))


def same(gold, got) -> bool:
    """null == null; numbers compare numerically (7545 == 7545.0); anything else by type and ==."""
    if isinstance(gold, bool) or isinstance(got, bool):
        return gold is got
    if isinstance(gold, (int, float)) and isinstance(got, (int, float)):
        return abs(float(gold) - float(got)) <= 1e-9 * max(1.0, abs(float(gold)))
    return type(gold) is type(got) and gold == got


def compare(result: dict, gold: dict) -> dict:
    """Cells of the three tables (every cell the gold names) and the report metadata."""
    wrong, cells = [], 0
    for table in TABLE_KEYS:
        for row, columns in (gold.get(table) or {}).items():
            got_row = ((result.get(table) or {}).get(row)) or {}
            for col, value in columns.items():
                if col in SKIP_KEYS:
                    continue
                cells += 1
                if not same(value, got_row.get(col)):
                    wrong.append({"cell": f"{table}.{row}.{col}", "gold": value, "got": got_row.get(col)})
    gold_meta, got_meta = gold.get("report") or {}, result.get("report") or {}
    meta = {k: same(gold_meta.get(k), got_meta.get(k)) for k in META_KEYS}
    return {"cells": cells, "correct": cells - len(wrong), "wrong": wrong, "meta": meta,
            "exact": not wrong and all(meta.values())}


def inconsistencies(result: dict, gold: dict) -> list[dict]:
    """For each identity the gold lists under source_inconsistencies: did a finding name it?"""
    named = {f.get("identity") for f in result.get("findings") or [] if f.get("kind") == "identity"}
    wanted = dict.fromkeys(s.get("identity") for s in gold.get("source_inconsistencies") or [])
    return [{"identity": i, "named": i in named} for i in wanted]


def run(reports, repeat: int) -> tuple[list[dict], float]:
    from gxllm.pipeline import extract_bytes  # lazy: the bench module imports without the extractor

    inputs = [(f"{folder.name}/{src.name}", f"{folder.name}/{src.name}", src.read_bytes(),
               json.loads((folder / "gold.json").read_text(encoding="utf-8"))) for folder, src in reports]
    rows = []
    seconds = [0.0] * len(inputs)
    for rep in range(repeat):
        for i, (name, label, data, gold) in enumerate(inputs):
            t0 = time.perf_counter()
            try:
                result, error = extract_bytes(data, label), None
            except Exception as exc:  # a crash is a result too; the bench goes on
                result, error = {}, f"{type(exc).__name__}: {exc}"
            seconds[i] += time.perf_counter() - t0
            if rep == 0:
                rows.append({"name": name, "status": "error" if error else result.get("status"), "error": error,
                             "findings": [f.get("kind") for f in result.get("findings") or []],
                             **compare(result, gold), "inconsistencies": inconsistencies(result, gold)})
    for row, total in zip(rows, seconds):
        row["seconds"] = total / repeat
    return rows, sum(seconds)


def summarise(rows: list[dict], elapsed: float, repeat: int) -> dict:
    cells, correct = sum(r["cells"] for r in rows), sum(r["correct"] for r in rows)
    meta = [ok for r in rows for ok in r["meta"].values()]
    runs = len(rows) * repeat
    return {
        "reports": len(rows),
        "cell_accuracy": correct / cells if cells else None, "cells": cells, "cells_correct": correct,
        "exact_reports": sum(r["exact"] for r in rows),
        "metadata_accuracy": sum(meta) / len(meta) if meta else None,
        "metadata_by_field": {k: sum(r["meta"][k] for r in rows) for k in META_KEYS},
        "silent_wrong": [r["name"] for r in rows if r["wrong"] and r["status"] == "ok"],
        "status": {s: sum(r["status"] == s for r in rows) for s in sorted({str(r["status"]) for r in rows})},
        "reports_per_second": runs / elapsed if elapsed else None, "extraction_seconds": elapsed, "repeat": repeat,
        "slowest_report_seconds": max((r["seconds"] for r in rows), default=None),
    }


def pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.2f}%"


def print_text(s: dict, rows: list[dict], verbose: bool) -> None:
    n = s["reports"]
    print(f"reports            {n}")
    print(f"cell accuracy      {pct(s['cell_accuracy'])} ({s['cells_correct']}/{s['cells']})")
    print(f"exact reports      {s['exact_reports']}/{n}")
    by = ", ".join(f"{k} {v}/{n}" for k, v in s["metadata_by_field"].items())
    print(f"metadata accuracy  {pct(s['metadata_accuracy'])} ({by})")
    print(f"silent wrong       {len(s['silent_wrong'])}" + (": " + ", ".join(s["silent_wrong"]) if s["silent_wrong"] else ""))
    print("status             " + ", ".join(f"{k} {v}" for k, v in s["status"].items()))
    rate = s["reports_per_second"]
    print(f"speed              {rate:.1f} reports/s on one core ({n} x {s['repeat']} runs, "
          f"{s['extraction_seconds']:.3f} s extracting)" if rate else "speed              n/a")
    width = max([len(r["name"]) for r in rows] + [6])
    print(f"slowest report     {s['slowest_report_seconds']:.3f} s")
    print(f"\n{'report':<{width}}  {'status':<7} {'cells':>9}  meta  {'seconds':>7}  findings")
    for r in rows:
        kinds = sorted(set(r["findings"]))
        counted = ", ".join(f"{k}x{r['findings'].count(k)}" for k in kinds) or "-"
        meta = sum(r["meta"].values())
        print(f"{r['name']:<{width}}  {str(r['status']):<7} {r['correct']:>4}/{r['cells']:<4}  {meta}/3   "
              f"{r['seconds']:7.3f}  {counted}")
        for inc in r["inconsistencies"]:
            print(f"{'':<{width}}  source inconsistency {inc['identity']}: {'named' if inc['named'] else 'NOT named'}")
        if r["error"]:
            print(f"{'':<{width}}  error: {r['error']}")
        if verbose and not r["error"]:
            for w in r["wrong"]:
                print(f"{'':<{width}}  {w['cell']}: gold {w['gold']!r} got {w['got']!r}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+", help="report folders or folders above them")
    ap.add_argument("--repeat", type=int, default=1, help="run the whole set N times for the speed figure")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    ap.add_argument("-v", "--verbose", action="store_true", help="list every wrong cell")
    ap.add_argument("--only", metavar="EXT", action="append", help="only sources of this format (pdf, txt, html…)")
    args = ap.parse_args(argv)
    reports = find_reports(args.dirs, set(args.only) if args.only else None)
    if not reports:
        print("no report folders (source.* + gold.json) found", file=sys.stderr)
        return 0
    rows, elapsed = run(reports, max(1, args.repeat))
    summary = summarise(rows, elapsed, max(1, args.repeat))
    if args.json:
        print(json.dumps({"summary": summary, "reports": rows}, ensure_ascii=False, indent=1))
    else:
        print_text(summary, rows, args.verbose)
    return 0


if __name__ == "__main__":
    if hasattr(os, "sched_setaffinity"):  # one core, so the speed figure is per core
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    sys.exit(main())
