"""The rule path's speed on distinct text reports, as a ratio to the floor (read + digit regex).

Each report is read once (caches start cold, as in a batch of different reports): N consistent
sample reports from tests/layouts.py, in turn in each text layout. One process, one core; CPU
time (time.process_time), so other work on the machine counts less. With `--src`, this tree and
another checkout's src are measured in turn, each in a fresh process, `--rounds` times (best kept),
and the full JSON results of every report are compared. With `--peer`, another parser is timed
on the same texts the same way (its package's folder first on the path, `--peer-function` called
with each report's text; its warnings are not logged), and the speeds are given as a ratio.

    python bench/text_speed.py            # 200 reports
    python bench/text_speed.py -n 1000 --stages
    python bench/text_speed.py --src /tmp/before/src [--flattened]
    python bench/text_speed.py --peer /tmp/govnianbao/src    # its parse_annual_report_text
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from against_src import extractor  # noqa: E402

_DIGITS = re.compile(r"\d+")


def corpus(n: int, flattened: bool) -> list[bytes]:
    # tests/layouts.py draws with gxllm's own printed grid: imported only where this tree is first
    from layouts import (
        render_blank_separated,
        render_flattened,
        render_markdown,
        render_pdf_layout,
        render_pipe_cells,
        render_pipe_rows,
        sample_report,
        sample_report_2019,
    )

    layouts = (render_pipe_cells, render_blank_separated, render_pipe_rows, render_markdown, render_pdf_layout)
    out = []
    for seed in range(n):
        report = (sample_report if seed % 2 else sample_report_2019)(seed)
        text = render_flattened(report, seed=seed) if flattened else layouts[seed % len(layouts)](report)
        out.append(text.encode("utf-8"))
    return out


def floor(texts: list[bytes]) -> float:
    """Seconds to decode every report and find its numbers: best of 5 (it is short, and noisy)."""
    best = float("inf")
    for _ in range(5):
        start = time.process_time()
        for data in texts:
            _DIGITS.findall(data.decode("utf-8"))
        best = min(best, time.process_time() - start)
    return best


def measure(texts: list[bytes]) -> dict:
    """Seconds for gxllm and for the floor, and a digest of each report's JSON result."""
    extract_bytes = extractor()  # imported after the corpus is built: only gxllm is timed

    seconds, digests = 0.0, []
    for i, data in enumerate(texts):  # each result let go once made, as a batch does (its digest not timed)
        start = time.process_time()
        result = extract_bytes(data, f"r{i}.txt")
        seconds += time.process_time() - start
        digests.append(hashlib.sha256(json.dumps(result, ensure_ascii=False).encode()).hexdigest())
    return {"seconds": seconds, "floor": floor(texts), "digests": digests}


def show(label: str, n: int, seconds: float, bare: float) -> None:
    print(f"{label:10s} {n / seconds:8.1f} reports/s  ({seconds * 1000 / n:.2f} ms/report)"
          f"  ratio to floor {bare / seconds:.4f}  (floor {n / bare:.0f} reports/s)")


def measure_peer(texts: list[bytes], function_name: str) -> dict:
    """Seconds for the peer's function over the texts, timed as `measure` times gxllm's (each
    report's bytes decoded, then parsed; each result let go once made)."""
    module, name = function_name.split(":")
    function = getattr(importlib.import_module(module), name)
    logging.disable(logging.WARNING)  # it warns per report: printing that is not parsing
    seconds = 0.0
    for data in texts:
        start = time.process_time()
        function(data.decode("utf-8"))
        seconds += time.process_time() - start
    return {"seconds": seconds, "floor": floor(texts)}


def in_child(src: str, reports: str, peer_function: str | None = None) -> dict:
    """`measure` (or `measure_peer`) in a fresh process with `src` first on PYTHONPATH, over the
    reports in that file."""
    command = [sys.executable, __file__, "--child", reports] + (["--child-peer", peer_function] if peer_function else [])
    child = subprocess.run(command, env=dict(os.environ, PYTHONPATH=src), capture_output=True, text=True)
    if child.returncode:
        raise SystemExit(f"the measurement with {src} first on the path failed:\n{child.stderr.strip()}")
    return json.loads(child.stdout)


def against(args: argparse.Namespace) -> int:
    """This tree and `--src` (and `--peer`) in turn, each in a fresh process: the fastest round
    of each, against the fastest floor of all rounds (the same work on every side, and the
    noisiest figure)."""
    sides = {"this": (str(ROOT / "src"), None)}
    if args.src:
        sides["src"] = (args.src, None)
    if args.peer:
        sides["peer"] = (args.peer, args.peer_function)
    runs: dict[str, list[dict]] = {label: [] for label in sides}
    with tempfile.TemporaryDirectory() as folder:  # the reports drawn once, by this tree, for all
        reports = os.path.join(folder, "reports.json")
        with open(reports, "w", encoding="utf-8") as f:
            json.dump([data.decode("utf-8") for data in corpus(args.n, args.flattened)], f, ensure_ascii=False)
        for _ in range(args.rounds):
            for label, (src, peer_function) in sides.items():
                runs[label].append(in_child(src, reports, peer_function))
    bare = min(m["floor"] for ms in runs.values() for m in ms)
    best = {label: min(ms, key=lambda m: m["seconds"]) for label, ms in runs.items()}
    for label, m in best.items():
        show(label, args.n, m["seconds"], bare)
    if "peer" in best:
        print(f"this/peer  {best['peer']['seconds'] / best['this']['seconds']:8.3f}×  (speed of this tree over the peer's)")
    if "src" not in best:
        return 0
    print(f"this/src   {best['src']['seconds'] / best['this']['seconds']:8.2f}×  (speed of this tree over --src)")
    different = [i for i, (a, b) in enumerate(zip(best["this"]["digests"], best["src"]["digests"])) if a != b]
    print(f"identical  {'yes' if not different else 'NO'}: full JSON of {args.n} reports"
          + (f"; different: {', '.join(f'r{i}' for i in different)}" if different else ""))
    return 0 if not different else 1


def stages(args: argparse.Namespace) -> None:
    from gxllm.load import load
    from gxllm.tables.locate import read_lines

    texts = corpus(args.n, args.flattened)  # the same reports again, new objects
    timings = dict.fromkeys(("load", "lines"), 0.0)
    for i, data in enumerate(texts):
        t0 = time.process_time()
        doc = load(data, f"r{i}.txt")
        t1 = time.process_time()
        read_lines(doc)
        t2 = time.process_time()
        for key, value in zip(timings, (t1 - t0, t2 - t1)):
            timings[key] += value
    print("stages     " + "  ".join(f"{k} {v * 1000 / args.n:.2f} ms" for k, v in timings.items())
          + "  (second pass: caches warm; lines = normalise, split and tokenise)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200, help="distinct reports (default 200)")
    parser.add_argument("--flattened", action="store_true", help="every report flattened by a crawler")
    parser.add_argument("--stages", action="store_true", help="time each stage too")
    parser.add_argument("--src", help="also measure with this src folder first on PYTHONPATH (before a change)")
    parser.add_argument("--peer", metavar="DIR", help="also time another parser: the folder holding its package")
    parser.add_argument("--peer-function", default="govnianbao:parse_annual_report_text", metavar="MODULE:NAME",
                        help="with --peer: the function called with each report's text (default %(default)s)")
    parser.add_argument("--rounds", type=int, default=3, help="with --src/--peer: rounds of each, best kept (default 3)")
    parser.add_argument("--child", metavar="REPORTS", help=argparse.SUPPRESS)
    parser.add_argument("--child-peer", metavar="MODULE:NAME", help=argparse.SUPPRESS)  # a child timing the peer
    args = parser.parse_args()
    if args.child:
        with open(args.child, encoding="utf-8") as f:
            texts = [text.encode("utf-8") for text in json.load(f)]
        print(json.dumps(measure_peer(texts, args.child_peer) if args.child_peer else measure(texts)))
        return 0
    if args.src or args.peer:
        return against(args)
    m = measure(corpus(args.n, args.flattened))
    print(f"gxllm      {args.n / m['seconds']:8.1f} reports/s  ({m['seconds'] * 1000 / args.n:.2f} ms/report)")
    print(f"floor      {args.n / m['floor']:8.1f} reports/s  (read + digit regex)")
    print(f"ratio      {m['floor'] / m['seconds']:8.4f}  (gxllm speed / floor speed)")
    if args.stages:
        stages(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
