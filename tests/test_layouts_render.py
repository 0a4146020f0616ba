"""Sanity checks of the layout renderers in tests/layouts.py (not of the extractor)."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import pytest
from layouts import (
    BLANK_MARK,
    HEADINGS,
    applications_shape_of,
    collapse_other,
    fmt,
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

from gxllm.review.printed import split_label
from gxllm.template import (
    APPLICANT_COLUMNS,
    REVIEWS_SHAPE,
    SUBTOTAL_COLUMN,
    active_disclosure_shape,
    applications_shape,
)

SEEDS = range(6)
TEXT_RENDERERS = {
    "pipe_cells": render_pipe_cells,
    "blank_separated": render_blank_separated,
    "pipe_rows": render_pipe_rows,
    "markdown": render_markdown,
    "pdf_layout": render_pdf_layout,
    "pdf_layout_shifted": lambda r: render_pdf_layout(r, page_shift=-3),
    "html": lambda r: _html_text(render_html(r)),
    "html_gbk_runs": lambda r: _html_text(render_html(r, "gbk", split_runs=True), "gbk"),
}
VARIANTS = {
    "2021": sample_report,
    "2019": sample_report_2019,
    "2021+subtotal": lambda s: with_subtotal(sample_report(s)),
    "2021+collapsed": lambda s: collapse_other(sample_report(s)),
}


def _html_text(page: bytes, encoding: str = "utf-8") -> str:
    text = page.decode(encoding)
    text = re.sub(r"</(p|tr|h1)>", "\n", text)
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def _section(text: str, key: str, end: str) -> str:
    start = text.index(HEADINGS[key]) + len(HEADINGS[key])
    return text[start : text.index(HEADINGS[end], start)]


def _t3_tokens(section: str) -> list[str]:
    # numbers that are cells: not label numbering (1. / 1、) and not a page footer (-4-)
    return re.findall(r"(?<![\d.\-])\d+(?![\d.、\-])", section)


def _t2_tokens(section: str) -> list[str]:
    return re.findall(r"(?<![\d.])-?\d+(?:\.\d+)?(?![\d.])", section)


def _values(table: dict, shape) -> list[str]:
    return [fmt(v) for r, c in shape.cell_paths() if (v := (table.get(r.key) or {}).get(c.key)) is not None]


# --- sample reports --------------------------------------------------------------------------


def _check_identities(report: dict) -> None:
    app = report["applications"]
    person_cols = [c.key for c in APPLICANT_COLUMNS]
    shape = applications_shape_of(report)
    results = [r.key for r in shape.rows if r.result]
    assert list(app) == [r.key for r in shape.rows]
    for key, row in app.items():  # T3-row
        assert row["total"] == sum(row[c] for c in person_cols), key
    for col in person_cols + ["total"]:
        assert app["total_processed"][col] == sum(app[k][col] for k in results)  # T3-results
        assert (app["new_received"][col] + app["carried_over"][col]
                == app["total_processed"][col] + app["carried_forward"][col])  # T3-flow
    for key, group in report["reviews_and_lawsuits"].items():  # T4-total
        assert group["total"] == group["upheld"] + group["corrected"] + group["other"] + group["pending"], key
    for row in list(app.values()) + list(report["reviews_and_lawsuits"].values()):  # counts
        assert all(isinstance(v, int) and 0 <= v for v in row.values())


@pytest.mark.parametrize("seed", SEEDS)
def test_sample_reports_are_consistent(seed):
    r21, r19 = sample_report(seed), sample_report_2019(seed)
    for report in (r21, r19, with_subtotal(r21), collapse_other(r21)):
        _check_identities(report)
    assert r21 == sample_report(seed)  # deterministic
    assert r21["report"]["template"] == "2021" and r19["report"]["template"] == "2019"
    assert "other_misc" in r21["applications"] and "other_processing" in r19["applications"]
    for report, variant in ((r21, "2021"), (r19, "2019")):
        shape = active_disclosure_shape(variant)
        assert list(report["active_disclosure"]) == [r.key for r in shape.rows]
        for row in shape.rows:
            assert list(report["active_disclosure"][row.key]) == [c.key for c in row.columns]
    assert not float(r21["active_disclosure"]["administrative_fees"]["amount_wan_yuan"]).is_integer()
    assert r21["active_disclosure"]["administrative_penalty"]["decisions"] >= 1000
    assert r19["active_disclosure"]["administrative_licensing"]["change"] < 0
    assert r19["active_disclosure"]["government_procurement"]["total_amount"] > 0
    assert max(v for row in r21["applications"].values() for v in row.values() if v) > 9
    sub = with_subtotal(r21)["applications"]["new_received"]
    assert list(sub)[-2:] == [SUBTOTAL_COLUMN.key, "total"]


# --- renderers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("layout", TEXT_RENDERERS)
def test_rendered_tables_hold_every_number_in_order(layout, variant):
    for seed in (0, 7):
        report = VARIANTS[variant](seed)
        report["applications"]["granted"]["research_institution"] = None  # one blank cell
        text = TEXT_RENDERERS[layout](report)
        first = next(x for x in text.splitlines() if x.strip())
        assert f"{report['report']['agency']}{report['report']['year']}年度" in first
        for key in HEADINGS.values():
            assert key in text
        t2 = _section(text, "active_disclosure", "applications")
        t3 = _section(text, "applications", "reviews_and_lawsuits")
        t4 = _section(text, "reviews_and_lawsuits", "problems")
        variant_t2 = report["report"]["template"]
        assert _t2_tokens(t2) == _values(report["active_disclosure"], active_disclosure_shape(variant_t2))
        assert _t3_tokens(t3) == _values(report["applications"], applications_shape_of(report))
        assert _t3_tokens(t4) == _values(report["reviews_and_lawsuits"], REVIEWS_SHAPE)
        # every row's numbers, in the row order of the shape, and the printed labels
        for row in applications_shape_of(report).rows:
            group, label = split_label(row.label)
            assert label.split("、")[0][:6] in t3.replace("（", "(").replace("）", ")").replace("\n", "")


def test_blank_cells_per_layout():
    report = sample_report(3)
    report["applications"]["granted"]["research_institution"] = None
    granted = report["applications"]["granted"]
    assert BLANK_MARK in render_blank_separated(report)
    assert "\n|\n" in render_pipe_cells(report)
    line = next(x for x in render_pipe_rows(report).splitlines() if "予以公开" in x)
    assert f"| {granted['commercial_enterprise']} |  | {granted['public_interest_org']} |" in line
    line = next(x for x in render_markdown(report).splitlines() if "予以公开" in x)
    assert f"| {granted['commercial_enterprise']} |  | {granted['public_interest_org']} |" in line
    assert "&nbsp;</span></p></td>" in render_html(report).decode()


@pytest.mark.parametrize("shift", [0, -3, 2])
def test_pdf_layout_columns_stay_aligned(shift):
    report = sample_report(5)
    report["applications"]["granted"]["research_institution"] = None
    lines = render_pdf_layout(report, page_shift=shift).splitlines()

    def centres(marker):
        line = next(x for x in lines if marker in x)
        return [m.start() + len(m.group()) / 2 for m in re.finditer(r"(?<![\d.])\d+(?![\d.、])", line)]

    full, blank = centres("一、本年新收"), centres("予以公开")
    assert len(full) == 7 and len(blank) == 6
    assert [round(c) for c in blank] == pytest.approx([round(c) for c in full[:2] + full[3:]], abs=1)
    after = centres("3.补正后申请内容")  # below the page footer: shifted by `shift`
    assert [a - b for a, b in zip(after, full)] == pytest.approx([shift] * 7, abs=1)


def test_pdf_layout_features():
    text = render_pdf_layout(sample_report(2))
    t3 = _section(text, "applications", "reviews_and_lawsuits").splitlines()
    stripped = [x.strip() for x in t3]
    assert "-4-" in stripped
    singles = [x for x in stripped if len(x) == 1 and x in "本年度办理结果"]
    assert "".join(singles) == "本年度办理结果"
    assert "三、" in stripped
    assert "（三）不" in stripped and "予公开" in stripped
    # a wrapped label: label part / numbers only / rest of the label
    i = next(k for k, x in enumerate(stripped) if x.startswith("（二）部分公开"))
    assert re.fullmatch(r"[\d ]+", stripped[i + 1]) and not re.search(r"\d", stripped[i + 2])
    header = [x.split() for x in stripped[:12]]
    assert any(["商业", "科研"] == w[:2] for w in header) and any("企业" in w for w in header)


def test_template_2019_and_subtotal_labels():
    r19 = render_pipe_rows(sample_report_2019(1))
    assert "(六)其他处理 |" in r19 and "3.其他" not in r19
    assert "本年新制作数量" in r19 and "采购总金额" in r19 and "本年制发件数" not in r19
    r21 = render_pipe_rows(with_subtotal(sample_report(1)))
    assert "3.其他 |" in r21 and SUBTOTAL_COLUMN.label in r21
    row = next(x for x in r21.splitlines() if x.startswith("一、本年新收"))
    assert len(re.findall(r"\| \d+", row)) == 8
    mixed = collapse_other(sample_report(1))
    assert applications_shape_of(mixed).rows == applications_shape("2019", False).rows
    assert "本年制发件数" in render_markdown(mixed) and "(六)其他处理" in render_markdown(mixed)


class _Grid(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables: list[list[list[tuple[int, int]]]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag == "td":
            self.tables[-1][-1].append((int(a.get("rowspan", 1)), int(a.get("colspan", 1))))


def _widths(rows):
    taken: set[tuple[int, int]] = set()
    for y, row in enumerate(rows):
        x = 0
        for rs, cs in row:
            while (y, x) in taken:
                x += 1
            taken |= {(y + dy, x + dx) for dy in range(rs) for dx in range(cs)}
            x += cs
    return [len({x for (yy, x) in taken if yy == y}) for y in range(len(rows))]


@pytest.mark.parametrize("encoding", ["utf-8", "gbk", "gb18030"])
def test_html_is_a_rectangular_grid(encoding):
    page = render_html(with_subtotal(sample_report(4)), encoding)
    assert f'<meta charset="{encoding}">'.encode() in page
    parser = _Grid()
    parser.feed(page.decode(encoding))
    t2, t3, t4 = parser.tables
    assert set(_widths(t2)) == {4}
    assert set(_widths(t3)) == {3 + 8}
    assert set(_widths(t4)) == {15} and len(t4) == 4
    assert any(rs > 1 for row in t3 for rs, _ in row)


def test_tables_absent_renders_prose():
    report = sample_report(1)
    report["tables_absent"] = ["active_disclosure"]
    for value in report["active_disclosure"].values():
        for k in value:
            value[k] = None
    text = render_pipe_rows(report)
    assert "第二十条" not in text and "本年制发件数" not in text
