"""The rule path's speed on distinct text reports, as a ratio to the floor (read + digit regex).

Each report is read once (caches start cold, as in a batch of different reports): N consistent
sample reports from tests/layouts.py, in turn in each text layout. One process, one core; CPU time (time.process_time), so other work on the machine counts less.

    python bench/text_speed.py            # 200 reports
    python bench/text_speed.py -n 1000 --stages
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from layouts import (  # noqa: E402
    render_blank_separated,
    render_flattened,
    render_markdown,
    render_pdf_layout,
    render_pipe_cells,
    render_pipe_rows,
    sample_report,
    sample_report_2019,
)

LAYOUTS = (render_pipe_cells, render_blank_separated, render_pipe_rows, render_markdown, render_pdf_layout)
_DIGITS = re.compile(r"\d+")


def corpus(n: int, flattened: bool) -> list[bytes]:
    out = []
    for seed in range(n):
        report = (sample_report if seed % 2 else sample_report_2019)(seed)
        text = render_flattened(report, seed=seed) if flattened else LAYOUTS[seed % len(LAYOUTS)](report)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=200, help="distinct reports (default 200)")
    parser.add_argument("--flattened", action="store_true", help="every report flattened by a crawler")
    parser.add_argument("--stages", action="store_true", help="time each stage too")
    args = parser.parse_args()
    texts = corpus(args.n, args.flattened)
    from gxllm.extract import extract_bytes  # imported after the corpus is built: only gxllm is timed

    start = time.process_time()
    for i, data in enumerate(texts):
        extract_bytes(data, f"r{i}.txt")
    seconds = time.process_time() - start
    bare = floor(texts)
    print(f"gxllm      {args.n / seconds:8.1f} reports/s  ({seconds * 1000 / args.n:.2f} ms/report)")
    print(f"floor      {args.n / bare:8.1f} reports/s  (read + digit regex)")
    print(f"ratio      {bare / seconds:8.4f}  (gxllm speed / floor speed)")
    if args.stages:
        from gxllm.layout import split_cells
        from gxllm.load import load
        from gxllm.locate import tokenize
        from gxllm.normalize import normalize_document

        texts = corpus(args.n, args.flattened)  # the same reports again, new objects
        timings = dict.fromkeys(("load", "normalize", "split", "tokenize"), 0.0)
        for i, data in enumerate(texts):
            t0 = time.process_time()
            doc = load(data, f"r{i}.txt")
            t1 = time.process_time()
            doc = normalize_document(doc)
            t2 = time.process_time()
            doc = split_cells(doc)
            t3 = time.process_time()
            tokenize(doc)
            t4 = time.process_time()
            for key, value in zip(timings, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                timings[key] += value
        print("stages     " + "  ".join(f"{k} {v * 1000 / args.n:.2f} ms" for k, v in timings.items())
              + "  (second pass: caches warm)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
