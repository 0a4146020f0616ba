"""Scanned reports: cells right, silent wrong, printed errors still flagged, seconds per report/page.

Each report's gold (a report folder's `gold.json`, or `--samples N` generated reports of both
templates) is drawn as a PDF (tests/pdfs.py), then printed and scanned by `render_scan`: 200 dpi,
grey paper, skewed ±1.5°, noise, JPEG q60, a red seal over the table, image-only pages. Then
`extract_bytes` reads the scan with the OCR (the `ocr` extra) and the cells are compared with the
gold. Needs a CJK system font for the drawing (Debian: fonts-wqy-microhei).

    python bench/ocr_bench.py tests/fixtures/reports            # the real reports' numbers
    python bench/ocr_bench.py ../shared --samples 4 -v           # + 4 generated reports per template
    python bench/ocr_bench.py tests/fixtures/reports --grey      # a grey scan: the seal cannot be taken out
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))

import pypdfium2 as pdfium  # noqa: E402
from layouts import sample_report, sample_report_2019  # noqa: E402
from pdfs import render_scan  # noqa: E402

from bench import compare, inconsistencies  # noqa: E402
from gxllm.pipeline import extract_bytes  # noqa: E402


def golds(dirs: list[str], samples: int) -> list[tuple[str, dict]]:
    found = {}
    for d in dirs:
        for path in sorted(Path(d).rglob("gold.json")):
            found.setdefault(path.resolve(), (path.parent.name, json.loads(path.read_text(encoding="utf-8"))))
    out = list(found.values())
    for seed in range(samples):
        out += [(f"sample-2021-{seed}", sample_report(100 + seed)), (f"sample-2019-{seed}", sample_report_2019(100 + seed))]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dirs", nargs="*", help="folders holding report folders with gold.json")
    parser.add_argument("--samples", type=int, default=0, help="generated reports per template")
    parser.add_argument("--dpi", type=int, default=200)
    parser.add_argument("--grey", action="store_true", help="scan in grey: the seal grey too, so it cannot be taken out by colour")
    parser.add_argument("-v", "--verbose", action="store_true", help="list every wrong cell")
    args = parser.parse_args(argv)
    rows = []
    for name, gold in golds(args.dirs, args.samples):
        scan = render_scan(gold, dpi=args.dpi, colour=not args.grey)
        pages = len(pdfium.PdfDocument(scan))
        started = time.perf_counter()
        result = extract_bytes(scan, f"{name}.pdf")
        seconds = time.perf_counter() - started
        score = compare(result, gold)
        printed = inconsistencies(result, gold)
        row = {
            "report": name, "pages": pages, "seconds": round(seconds, 1), "status": result["status"],
            "cells": score["cells"], "correct": score["correct"],
            "silent_wrong": bool(score["wrong"]) and result["status"] == "ok",
            "printed_errors_flagged": all(p["named"] for p in printed) if printed else None,
            "findings": sorted({f["kind"] for f in result["findings"]}),
        }
        rows.append(row)
        print(
            f"{name:32} {row['pages']}p {row['seconds']:6.1f}s  {row['correct']}/{row['cells']}  {row['status']:6}"
            f"{'  SILENT WRONG' if row['silent_wrong'] else ''}"
            f"{'' if row['printed_errors_flagged'] is None else '  printed error flagged: ' + str(row['printed_errors_flagged'])}"
            f"  {','.join(row['findings'])}",
            flush=True,
        )
        if args.verbose:
            for wrong in score["wrong"]:
                print(f"    {wrong['cell']}: gold {wrong['gold']} got {wrong['got']}")
    if not rows:
        print("no reports")
        return 0
    cells, correct = sum(r["cells"] for r in rows), sum(r["correct"] for r in rows)
    seconds, pages = sum(r["seconds"] for r in rows), sum(r["pages"] for r in rows)
    statuses = ", ".join(f"{s} {sum(r['status'] == s for r in rows)}" for s in ("ok", "review", "failed"))
    print(
        f"\n{len(rows)} scans, {pages} pages: cells right {correct}/{cells} = {100 * correct / cells:.1f}%, "
        f"silent wrong {sum(r['silent_wrong'] for r in rows)}, "
        f"status {statuses}, "
        f"{seconds / len(rows):.1f} s per report, {seconds / pages:.1f} s per page (slowest report "
        f"{max(r['seconds'] for r in rows):.1f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
