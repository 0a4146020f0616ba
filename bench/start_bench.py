"""Start-up of `gxllm extract x.txt --llm never` against a bare `python -c "import json"`.

    python bench/start_bench.py [--file REPORT] [--repeat 30] [--src OTHER/src]

The commands run in turn (bare, gxllm, gxllm with --src first on PYTHONPATH: the code before a
change), --repeat times each, so that the machine's load falls on all of them alike; the
median and best wall time of each and their ratios to the bare interpreter are printed, with
the number of modules each gxllm run imports.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPORT = Path(__file__).resolve().parent.parent / "tests/fixtures/reports/corpus-2024-huaian-city/source.txt"
# What the console script does (`from gxllm.cli import main`), then how many modules it took.
_GXLLM = "import sys\nfrom gxllm.cli import main\ncode = main()\nprint(len(sys.modules), file=sys.stderr)\nsys.exit(code)"


def timed(command: list[str], env: dict | None) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{command}: exit {done.returncode}: {done.stderr.strip()}")
    return seconds, done.stderr.strip()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--file", default=str(REPORT), help="the report to extract (default: a corpus .txt)")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--src", help="also time with this src folder first on PYTHONPATH (before a change)")
    args = ap.parse_args()
    extract = [sys.executable, "-c", _GXLLM, "extract", args.file, "--llm", "never"]  # JSON on stdout
    runs = {"bare": ([sys.executable, "-c", "import json"], None), "gxllm": (extract, None)}
    if args.src:
        runs["gxllm --src"] = (extract, dict(os.environ, PYTHONPATH=args.src))
    times: dict[str, list[float]] = {name: [] for name in runs}
    modules: dict[str, str] = {}
    for _ in range(args.repeat):
        for name, (command, env) in runs.items():
            seconds, err = timed(command, env)
            times[name].append(seconds)
            modules[name] = err
    bare = statistics.median(times["bare"])
    shown = {
        name: {
            "median_ms": round(statistics.median(t) * 1000, 1),
            "best_ms": round(min(t) * 1000, 1),
            "ratio_to_bare_median": round(statistics.median(t) / bare, 2),
            "ratio_to_bare_best": round(min(t) / min(times["bare"]), 2),
            **({"modules": int(modules[name])} if name != "bare" else {}),
        }
        for name, t in times.items()
    }
    print(json.dumps({"file": args.file, "repeat": args.repeat, "runs": shown}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
