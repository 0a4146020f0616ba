"""Seconds per HTML report, in-process, and whether another checkout gives the same output.

    python bench/html_bench.py [--seeds 20] [--repeat 5] [--src OTHER/src]

The HTML reports are every .html/.htm fixture under tests/fixtures plus the layout renders of
`--seeds` sample reports (UTF-8 tables with spans; GBK with Word's split runs; a flattened
table in one <p>). Each kind is extracted (`extract_bytes`, `--llm never`) `--repeat` times and
the best pass is kept (CPU time); the time per report of the load stage alone (`load`) is shown as well. With
`--src`, the same measurement runs in a child process with that src folder first on
PYTHONPATH (the code before a change), under the same load, and the ratio and whether the
results are byte-identical are printed.
"""

from __future__ import annotations

import sys
from pathlib import Path

import against_src

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


if __name__ == "__main__":
    sys.exit(against_src.main(__file__, __doc__.splitlines()[0], documents, 20))
