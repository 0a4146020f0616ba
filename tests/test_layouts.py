"""Each layout family, rendered from consistent sample reports, extracts exactly.

PDFs are real PDFs (tests/pdfs.py draws them with reportlab): ruled grids, Word-style row
fills, borderless tables, tables split over pages under a running header, big type that
stacks the group labels one character per line.
"""

import copy

import pytest
from layouts import (
    collapse_other,
    render_blank_separated,
    render_html,
    render_markdown,
    render_pdf_layout,
    render_pipe_cells,
    render_pipe_rows,
    sample_report,
    sample_report_2019,
    with_subtotal,
)
from pdfs import render_pdf

from gxllm.pipeline import extract_bytes

CANONICAL = ("active_disclosure", "applications", "reviews_and_lawsuits")
RENDERERS = {
    "pipe_cells": lambda r: render_pipe_cells(r).encode(),
    "blank_separated": lambda r: render_blank_separated(r).encode(),
    "pipe_rows": lambda r: render_pipe_rows(r).encode(),
    "markdown": lambda r: render_markdown(r).encode(),
    "html": render_html,
    "html_gbk_word_runs": lambda r: render_html(r, "gbk", split_runs=True),
    "pdf_layout": lambda r: render_pdf_layout(r).encode(),
    "pdf_layout_next_page_shifted": lambda r: render_pdf_layout(r, page_shift=-3).encode(),
    "pdf_ruled": render_pdf,
    "pdf_row_fills_only": lambda r: render_pdf(r, ruled=False, fills=True),
    "pdf_borderless": lambda r: render_pdf(r, ruled=False),
    "pdf_split_pages_running_header": lambda r: render_pdf(r, page_height=600, running_header="政府信息公开工作年度报告"),
    "pdf_borderless_split_pages": lambda r: render_pdf(r, ruled=False, page_height=600),
    "pdf_big_type_stacked_labels": lambda r: render_pdf(r, font_size=16, fills=True),
    "pdf_labels_not_wrapped": lambda r: render_pdf(r, vertical_block=False, wrap_labels=False),
}
SAMPLES = {
    "2021": sample_report(1),
    "2019": sample_report_2019(2),
    "subtotal": with_subtotal(sample_report(3)),
    "2021_t2_collapsed_t3": collapse_other(sample_report(4)),
}


def extract(report: dict, renderer: str) -> dict:
    name = "report.html" if renderer.startswith("html") else "report.txt"  # PDFs are known by their bytes
    return extract_bytes(RENDERERS[renderer](report), name)


@pytest.mark.parametrize("sample", SAMPLES)
@pytest.mark.parametrize("renderer", RENDERERS)
def test_layout_extracts_exactly(renderer, sample):
    report = SAMPLES[sample]
    result = extract(report, renderer)
    assert {k: result[k] for k in CANONICAL} == {k: report[k] for k in CANONICAL}
    assert result["report"]["template"] == report["report"]["template"]
    assert (result["status"], result["findings"]) == ("ok", [])


@pytest.mark.parametrize("renderer", RENDERERS)
def test_blank_cells_stay_in_their_column_as_null(renderer):
    report = copy.deepcopy(SAMPLES["2021"])
    apps = report["applications"]
    blank = [("granted", "research_institution"), ("granted", "legal_service_org")]
    for row, column in blank:
        assert apps[row][column] == 0  # so every identity still holds with the blank read as 0
        apps[row][column] = None
    result = extract(report, renderer)
    assert result["applications"]["granted"] == apps["granted"]
    assert result["status"] == "ok"
    assert result["findings"] == [
        {
            "kind": "blank",
            "cells": [f"applications.granted.{c}" for _, c in blank],
            "message": "2 cell(s) printed blank (kept as null)",
        }
    ]


@pytest.mark.parametrize("renderer", RENDERERS)
def test_blank_last_cell(renderer):
    """A blank 总计 at the end of a row: kept where the layout marks cell boundaries, else review."""
    report = copy.deepcopy(SAMPLES["2021"])
    row = report["applications"]["carried_forward"]
    row.update(dict.fromkeys(row, 0))
    row["total"] = None
    result = extract(report, renderer)
    if renderer == "pipe_rows":
        # `… | 0 | |||`: an empty last field cannot be told from the trailing filler.
        assert result["status"] == "review"
        assert result["applications"]["carried_forward"] == dict.fromkeys(row)
        assert [f["kind"] for f in result["findings"]] == ["unreadable"]
        assert result["findings"][0]["message"] == (
            "row 「四、结转下年度继续办理」: 6 values (0 0 0 0 0 0) for 7 columns; cannot tell which cell is which"
        )
    else:
        assert result["applications"]["carried_forward"] == row
        assert result["findings"][0]["cells"] == ["applications.carried_forward.total"]
