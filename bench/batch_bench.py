"""Throughput and peak memory of `gxllm batch --llm never` over many text reports.

    python bench/batch_bench.py SOURCE_DIR [SOURCE_DIR ...] [--reports 200 1600] [--workers 1 2]
                                [--src OTHER/src] [--repeat N] [--keep DIR]

Every source.txt under the SOURCE_DIRs is copied with its numbers scaled (×1…×7, so each copy
is a different report whose identities still hold; years and dates are left alone) until there
are --reports files; then the batch runs into a fresh run folder, once per report count and
worker count, and the wall time of the whole command (start-up, workers, journal, outputs), its
CPU time and its peak memory (the largest resident set of the gxllm process or one of its
workers, from wait4) are reported, with the ratios between the runs: memory of the largest run
to the smallest, and throughput of each worker count to the first. `--src` runs the same
commands with another checkout's `src` first on the path (the code before a change) in the
same session, so a before/after ratio is measured under the same load.
"""

from __future__ import annotations

import argparse
import json
import os
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


def run_batch(reports: Path, run: Path, workers: int | None, src: str | None) -> dict:
    """One `gxllm batch` into a fresh `run`: wall seconds, CPU seconds and peak RSS (MB)."""
    command = [sys.executable, "-m", "gxllm.cli", "batch", str(reports), "--out", str(run), "--llm", "never", "-q"]
    if workers:
        command += ["--workers", str(workers)]
    env = dict(os.environ, PYTHONPATH=src) if src else None
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    summary = json.loads((run / "summary.json").read_text("utf-8"))
    return {"exit": process.returncode, "wall_seconds": round(seconds, 2), "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_mb": round(usage.ru_maxrss / 1024, 1), "status": summary["status"]}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dirs", nargs="+")
    ap.add_argument("--reports", type=int, nargs="+", default=[1000], help="report counts to run (default 1000)")
    ap.add_argument("--workers", type=int, nargs="+", default=[None], help="worker counts to run (default: cores)")
    ap.add_argument("--src", help="also run with this src folder first on PYTHONPATH (before a change)")
    ap.add_argument("--repeat", type=int, default=1, help="runs of each; the best wall time and lowest memory are kept")
    ap.add_argument("--keep", metavar="DIR", help="build the reports and the runs here and keep them")
    args = ap.parse_args()
    sources = sorted(p for d in args.dirs for p in Path(d).rglob("source.txt"))
    if not sources:
        print("no source.txt found", file=sys.stderr)
        return 2
    trees = [("this", None)] + ([("src", args.src)] if args.src else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(args.keep or tmp)
        for count in args.reports:
            reports = base / f"reports-{count}"
            reports.mkdir(parents=True, exist_ok=True)
            make_reports(sources, count, reports)
            for workers in args.workers:
                for name, src in trees:
                    runs = []
                    for attempt in range(args.repeat):
                        run = base / f"run-{count}-{workers}-{name}-{attempt}"
                        runs.append(run_batch(reports, run, workers, src))
                    best = min(runs, key=lambda r: r["wall_seconds"])
                    best["peak_mb"] = min(r["peak_mb"] for r in runs)
                    rows.append({"tree": name, "reports": count, "workers": workers, **best,
                                 "reports_per_second": round(count / best["wall_seconds"], 1)})  # fmt: skip
    print(json.dumps({"sources": len(sources), "repeat": args.repeat, "runs": rows, "ratios": ratios(rows)}, indent=1,
                     ensure_ascii=False))  # fmt: skip
    return 0


def ratios(rows: list[dict]) -> dict:
    """Peak memory of the largest run to the smallest, throughput of each worker count to the
    first, and this tree to --src, for each pairing measured."""
    out: dict[str, float] = {}
    for tree in {r["tree"] for r in rows}:
        mine = [r for r in rows if r["tree"] == tree]
        for workers in {r["workers"] for r in mine}:
            by_count = sorted((r for r in mine if r["workers"] == workers), key=lambda r: r["reports"])
            if len(by_count) > 1:
                small, large = by_count[0], by_count[-1]
                out[f"{tree} workers={workers}: peak memory {large['reports']}/{small['reports']} reports"] = round(large["peak_mb"] / small["peak_mb"], 2)
        for count in {r["reports"] for r in mine}:
            by_workers = [r for r in mine if r["reports"] == count]
            for r in by_workers[1:]:
                out[f"{tree} {count} reports: throughput workers={r['workers']}/workers={by_workers[0]['workers']}"] = round(
                    r["reports_per_second"] / by_workers[0]["reports_per_second"], 2)  # fmt: skip
    for r in rows:
        other = next((o for o in rows if o["tree"] == "src" and (o["reports"], o["workers"]) == (r["reports"], r["workers"])), None)
        if r["tree"] == "this" and other:
            key = f"{r['reports']} reports workers={r['workers']}: this/src"
            out[key + " wall"] = round(r["wall_seconds"] / other["wall_seconds"], 2)
            out[key + " peak memory"] = round(r["peak_mb"] / other["peak_mb"], 2)
    return out


if __name__ == "__main__":
    sys.exit(main())
