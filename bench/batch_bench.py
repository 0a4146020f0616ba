"""Throughput of `gxllm batch --llm never` over many text reports.

    python bench/batch_bench.py SOURCE_DIR [SOURCE_DIR ...] [--reports 1000] [--workers N] [--keep DIR]

Every source.txt under the SOURCE_DIRs is copied with its numbers scaled (×1…×7, so each copy
is a different report whose identities still hold; years and dates are left alone) until there
are --reports files; then the batch runs once into a fresh run folder and the wall time of the
whole command (start-up, workers, journal, outputs) is reported.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

_NUMBER = re.compile(r"(?<![\d.])(\d+)(?![\d.]|\s*年|\s*月|\s*日|号)")


def scaled(text: str, factor: int) -> str:
    return _NUMBER.sub(lambda m: str(int(m.group(1)) * factor), text)


def make_reports(sources: list[Path], count: int, folder: Path) -> None:
    texts = [p.read_text("utf-8") for p in sources]
    for i in range(count):
        text = scaled(texts[i % len(texts)], 1 + (i // len(texts)) % 7)
        (folder / f"report-{i:05d}.txt").write_text(text + f"\n<!-- copy {i} -->\n", "utf-8")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--reports", type=int, default=1000)
    ap.add_argument("--workers", type=int)
    ap.add_argument("--keep", metavar="DIR", help="build the reports and the run here and keep them")
    args = ap.parse_args()
    sources = sorted(p for d in args.dirs for p in Path(d).rglob("source.txt"))
    if not sources:
        print("no source.txt found", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep or tmp)
        reports, run = base / "reports", base / "run"
        reports.mkdir(parents=True, exist_ok=True)
        make_reports(sources, args.reports, reports)
        command = [sys.executable, "-m", "gxllm.cli", "batch", str(reports), "--out", str(run), "--llm", "never", "-q"]
        if args.workers:
            command += ["--workers", str(args.workers)]
        started = time.perf_counter()
        code = subprocess.run(command).returncode
        seconds = time.perf_counter() - started
        summary = json.loads((run / "summary.json").read_text("utf-8"))
    print(json.dumps({
        "reports": args.reports, "sources": len(sources), "exit": code, "wall_seconds": round(seconds, 2),
        "reports_per_second_wall": round(args.reports / seconds, 1), "status": summary["status"],
        "batch_seconds": summary["seconds"], "reports_per_second_batch": summary["reports_per_second"],
    }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
