"""Seconds per HTML report, in-process, and whether another checkout gives the same output.

    python bench/html_bench.py [--seeds 20] [--repeat 5] [--src OTHER/src]

The HTML reports are every .html/.htm fixture under tests/fixtures plus the layout renders of
`--seeds` sample reports (UTF-8 tables with spans; GBK with Word's split runs; a flattened
table in one <p>). Each kind is extracted (`extract_bytes`, `--llm never`) `--repeat` times and
the best pass is kept; the time per report of the load stage alone (`load`) is shown as well. With
`--src`, the same measurement runs in a child process with that src folder first on
PYTHONPATH (the code before a change), under the same load, and the ratio and whether the
results are byte-identical are printed.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def documents(seeds: int) -> dict[str, list[tuple[bytes, str]]]:
    """The HTML reports by kind: fixture files, tables, GBK with split runs, flattened in one <p>."""
    sys.path.insert(0, str(ROOT / "tests"))
    import layouts

    docs: dict[str, list[tuple[bytes, str]]] = {"fixtures": [], "tables": [], "gbk_split_runs": [], "flattened": []}
    docs["fixtures"] = [(p.read_bytes(), p.name) for p in sorted((ROOT / "tests" / "fixtures").rglob("*.htm*"))]
    for seed in range(seeds):
        report = layouts.sample_report(seed) if seed % 3 else layouts.sample_report_2019(seed)
        docs["tables"].append((layouts.render_html(report), f"{seed}.html"))
        docs["gbk_split_runs"].append((layouts.render_html(report, "gbk", split_runs=True), f"{seed}-gbk.html"))
        docs["flattened"].append((layouts.render_flattened_html(report, seed=seed), f"{seed}-flat.html"))
    return docs


def measure(seeds: int, repeat: int) -> dict:
    from gxllm.extract import extract_bytes
    from gxllm.load import load

    kinds = documents(seeds)
    digest = hashlib.sha256()
    for docs in kinds.values():
        for data, name in docs:
            digest.update(json.dumps(extract_bytes(data, name, llm="never"), ensure_ascii=False).encode())

    def best(docs, work) -> float:
        passes = []
        for _ in range(repeat):
            started = time.perf_counter()
            for data, name in docs:
                work(data, name)
            passes.append(time.perf_counter() - started)
        return round(min(passes) / len(docs) * 1000, 2)

    everything = [doc for docs in kinds.values() for doc in docs]
    shown = {"reports": len(everything), "output_sha256": digest.hexdigest()}
    for kind, docs in {"all": everything, **kinds}.items():
        shown[kind] = {"extract_ms": best(docs, lambda d, n: extract_bytes(d, n, llm="never")), "load_ms": best(docs, load)}
    return shown


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--src", help="also measure with this src folder first on PYTHONPATH (before a change)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    mine = measure(args.seeds, args.repeat)
    if args.child:
        print(json.dumps(mine))
        return 0
    shown: dict = {"this": mine}
    if args.src:
        command = [sys.executable, __file__, "--child", "--seeds", str(args.seeds), "--repeat", str(args.repeat)]
        child = subprocess.run(command, env=dict(os.environ, PYTHONPATH=args.src), capture_output=True, text=True, check=True)
        other = shown["src"] = json.loads(child.stdout)
        shown["ratios_this_to_src"] = {
            f"{kind} {stage}": round(mine[kind][stage] / other[kind][stage], 3)
            for kind in ("all", "fixtures", "tables", "gbk_split_runs", "flattened")
            for stage in ("extract_ms", "load_ms")
        }
        shown["identical_output"] = mine["output_sha256"] == other["output_sha256"]
    print(json.dumps(shown, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
