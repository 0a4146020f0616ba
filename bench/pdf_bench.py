"""Milliseconds of CPU per PDF report, in-process, and whether another checkout gives the same output.

    python bench/pdf_bench.py [--seeds 8] [--repeat 5] [--src OTHER/src]

The PDF reports are, by kind: the corpus PDFs under tests/fixtures/reports; the PDFs tests/pdfs.py
draws from `--seeds` sample reports, ruled (a grid, split over pages under a running header, big
type with stacked labels, labels not wrapped) and unruled (row fills only, borderless, borderless
over pages), the layouts of tests/test_layouts.py; and flattened tables in running text (the
fixtures under tests/fixtures/flattened and `render_flattened_pdf`). Each kind is extracted
(`extract_bytes`, `--llm never`) `--repeat` times and the best pass is kept; the load stage alone
(`load`: characters and rules read, grids rebuilt) is shown as well. CPU time, so other work on
a shared machine counts less than in wall time. With `--src`, the same measurement runs in a child
process with that src folder first on PYTHONPATH (the code before a change), under the same load;
the ratios are printed, and whether every report's result is byte-identical (the names of those
that are not).
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
KINDS = ("all", "corpus", "ruled", "unruled", "flattened")


def documents(seeds: int) -> dict[str, list[tuple[bytes, str]]]:
    """The PDF reports by kind: corpus fixtures, ruled and unruled renders, flattened running text."""
    sys.path.insert(0, str(ROOT / "tests"))
    import layouts
    from pdfs import render_flattened_pdf, render_pdf

    ruled = {
        "ruled": render_pdf,
        "split_pages_running_header": lambda r: render_pdf(r, page_height=600, running_header="政府信息公开工作年度报告"),
        "big_type_stacked_labels": lambda r: render_pdf(r, font_size=16, fills=True),
        "labels_not_wrapped": lambda r: render_pdf(r, vertical_block=False, wrap_labels=False),
    }
    unruled = {
        "row_fills_only": lambda r: render_pdf(r, ruled=False, fills=True),
        "borderless": lambda r: render_pdf(r, ruled=False),
        "borderless_split_pages": lambda r: render_pdf(r, ruled=False, page_height=600),
    }
    fixtures = ROOT / "tests" / "fixtures"
    docs: dict[str, list[tuple[bytes, str]]] = {
        "corpus": [(p.read_bytes(), p.parent.name) for p in sorted((fixtures / "reports").glob("*/source.pdf"))],
        "ruled": [],
        "unruled": [],
        "flattened": [(p.read_bytes(), p.parent.name) for p in sorted((fixtures / "flattened").glob("*/source.pdf"))],
    }
    for seed in range(seeds):
        report = layouts.sample_report(seed) if seed % 3 else layouts.sample_report_2019(seed)
        for kind, renderers in (("ruled", ruled), ("unruled", unruled)):
            docs[kind] += [(render(report), f"{seed}-{name}") for name, render in renderers.items()]
        docs["flattened"].append((render_flattened_pdf(report, seed=seed), f"{seed}-flattened"))
    return docs


def measure(seeds: int, repeat: int) -> dict:
    from gxllm.extract import extract_bytes
    from gxllm.load import load

    kinds = documents(seeds)
    everything = [doc for docs in kinds.values() for doc in docs]
    digests = {
        f"{kind}/{name}": hashlib.sha256(json.dumps(extract_bytes(data, "report.pdf", llm="never"), ensure_ascii=False).encode()).hexdigest()
        for kind, docs in kinds.items()
        for data, name in docs
    }

    def best(docs, work) -> float:
        passes = []
        for _ in range(repeat):
            started = time.process_time()
            for data, _name in docs:
                work(data, "report.pdf")
            passes.append(time.process_time() - started)
        return round(min(passes) / len(docs) * 1000, 2)

    shown: dict = {"reports": len(everything), "output_sha256": hashlib.sha256("".join(digests.values()).encode()).hexdigest()}
    for kind, docs in {"all": everything, **kinds}.items():
        shown[kind] = {"extract_ms": best(docs, lambda d, n: extract_bytes(d, n, llm="never")), "load_ms": best(docs, load)}
    shown["digests"] = digests
    return shown


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=8)
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
            f"{kind} {stage}": round(mine[kind][stage] / other[kind][stage], 3) for kind in KINDS for stage in ("extract_ms", "load_ms")
        }
        shown["identical_output"] = mine["output_sha256"] == other["output_sha256"]
        shown["different_output"] = [name for name, digest in mine["digests"].items() if other["digests"].get(name) != digest]
        del other["digests"]
    del mine["digests"]
    print(json.dumps(shown, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
