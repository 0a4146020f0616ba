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

import sys
from pathlib import Path

import against_src

ROOT = Path(__file__).resolve().parent.parent


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
        "corpus": [(p.read_bytes(), f"{p.parent.name}.pdf") for p in sorted((fixtures / "reports").glob("*/source.pdf"))],
        "ruled": [],
        "unruled": [],
        "flattened": [(p.read_bytes(), f"{p.parent.name}.pdf") for p in sorted((fixtures / "flattened").glob("*/source.pdf"))],
    }
    for seed in range(seeds):
        report = layouts.sample_report(seed) if seed % 3 else layouts.sample_report_2019(seed)
        for kind, renderers in (("ruled", ruled), ("unruled", unruled)):
            docs[kind] += [(render(report), f"{seed}-{name}.pdf") for name, render in renderers.items()]
        docs["flattened"].append((render_flattened_pdf(report, seed=seed), f"{seed}-flattened.pdf"))
    return docs


if __name__ == "__main__":
    sys.exit(against_src.main(__file__, __doc__.splitlines()[0], documents, 8))
