"""PDF input: grids rebuilt from ruling lines, pages joined, and PDFs that cannot be read.

Whole reports in every PDF layout are in test_layouts.py; here are the pieces a real PDF
throws at the loader one at a time, on small PDFs drawn for each test.
"""

import io
import json

import pytest
from layouts import sample_report
from pdfs import render_encrypted_pdf, render_pdf, render_scanned_pdf
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

from gxllm.cli import main
from gxllm.errors import InputError, NoTextLayerError
from gxllm.load.pdf import pdf_lines
from gxllm.pipeline import extract_bytes

pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
FONT = "STSong-Light"


def draw_grid(c: canvas.Canvas, top: float, rows: list[list[str]], widths: list[float], *, left: float = 72) -> float:
    """A fully ruled table, one text line per cell; returns the y under it."""
    height = 20
    xs = [left]
    for w in widths:
        xs.append(xs[-1] + w)
    for i, row in enumerate(rows):
        y = top - (i + 1) * height
        for j, text in enumerate(row):
            c.drawString(xs[j] + 3, y + 6, text)
    for i in range(len(rows) + 1):
        c.line(xs[0], top - i * height, xs[-1], top - i * height)
    for x in xs:
        c.line(x, top, x, top - len(rows) * height)
    return top - len(rows) * height


def pdf(*pages) -> bytes:
    """One page per callable, each drawing on a fresh A4 canvas page."""
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=A4, invariant=1)
    for draw in pages:
        c.setFont(FONT, 10)
        draw(c)
        c.showPage()
    c.save()
    return out.getvalue()


def cells(lines):
    return [[(cell.text, cell.pos) for cell in line.cells] for line in lines]


def test_grid_rows_are_lines_of_cells_at_their_column():
    def page(c):
        c.drawString(72, 760, "表格前的一段文字")
        draw_grid(c, 740, [["规章", "1", "", "11"], ["行政规范性文件", "8", "26", "66"]], [150, 60, 60, 60])

    lines = pdf_lines(pdf(page), "t.pdf")
    assert cells(lines[1:]) == [
        [("规章", 0.0), ("1", 1.0), ("", 2.0), ("11", 3.0)],  # a blank cell stays in its column
        [("行政规范性文件", 0.0), ("8", 1.0), ("26", 2.0), ("66", 3.0)],
    ]
    assert [(line.page, line.table) for line in lines] == [(1, None), (1, 1), (1, 1)]


def test_wrapped_and_stacked_labels_come_out_whole_and_merged_cells_once():
    def page(c):
        top, left = 740, 72
        # A merged cell over two rows holding a label printed one character per line, and a
        # label wrapped over two lines; the merge has no rule between its two rows.
        c.line(left, top, left + 260, top)
        c.line(left + 30, top - 40, left + 260, top - 40)
        c.line(left, top - 80, left + 260, top - 80)
        for x in (left, left + 30, left + 200, left + 260):
            c.line(x, top, x, top - 80)
        for k, ch in enumerate("办理结果"):
            c.drawString(left + 10, top - 16 - k * 16, ch)
        c.drawString(left + 35, top - 16, "（二）部分公开（区分处理的，")
        c.drawString(left + 35, top - 30, "只计这一情形）")
        c.drawString(left + 220, top - 24, "9")
        c.drawString(left + 35, top - 64, "（三）不予公开")
        c.drawString(left + 220, top - 64, "12")

    lines = pdf_lines(pdf(page), "t.pdf")
    assert cells(lines) == [
        [("办理结果", 0.0), ("（二）部分公开（区分处理的，只计这一情形）", 1.0), ("9", 2.0)],
        [("（三）不予公开", 1.0), ("12", 2.0)],
    ]


def test_numbers_stacked_in_one_cell_are_never_glued():
    def page(c):
        draw_grid(c, 740, [["规章", "", "11"]], [150, 60, 60])
        c.drawString(72 + 153, 740 - 8, "1")
        c.drawString(72 + 153, 740 - 17, "26")

    (line,) = pdf_lines(pdf(page), "t.pdf")
    assert line.cells[1].text == "1 26"


def test_table_continued_on_next_page_keeps_columns_and_drops_footer_and_repeated_header():
    header = ["信息内容", "本年制发件数", "本年废止件数", "现行有效件数"]
    widths = [150, 80, 80, 80]

    def first(c):
        c.drawString(72, 790, "某某局2024年政府信息公开工作年度报告")  # running header
        draw_grid(c, 740, [header, ["规章", "1", "0", "11"]], widths)
        c.drawCentredString(297, 40, "- 1 -")

    def second(c):
        c.drawString(72, 790, "某某局2024年政府信息公开工作年度报告")
        # Word repeats the header row on the page the table continues on.
        draw_grid(c, 760, [header, ["行政规范性文件", "8", "26", "66"]], widths)
        c.drawString(72, 600, "三、收到和处理政府信息公开申请情况")
        c.drawCentredString(297, 40, "- 2 -")

    lines = pdf_lines(pdf(first, second), "t.pdf")
    assert [line.text for line in lines] == [
        "信息内容 本年制发件数 本年废止件数 现行有效件数",
        "规章 1 0 11",
        "行政规范性文件 8 26 66",
        "三、收到和处理政府信息公开申请情况",
    ]
    assert [(line.page, line.table) for line in lines] == [(1, 1), (1, 1), (2, 1), (2, None)]


def test_slanted_watermark_and_small_footnote_digits_stay_out_of_cells():
    def page(c):
        draw_grid(c, 740, [["规章", "16", "0", "11"], ["行政规范性文件", "8", "26", "66"]], [150, 60, 60, 60])
        c.setFont(FONT, 6)
        c.drawString(72 + 150 + 3 + 10.5, 740 - 14, "1")  # a footnote mark in small type after 16
        c.saveState()
        c.setFillColorRGB(0.85, 0.85, 0.85)
        c.translate(297, 720)
        c.rotate(30)
        c.setFont(FONT, 40)
        c.drawCentredString(0, 0, "2024 内部资料")
        c.restoreState()

    lines = pdf_lines(pdf(page), "t.pdf")
    assert [[cell.text for cell in line.cells] for line in lines] == [
        ["规章", "16 1", "0", "11"],  # not 161: the mark is kept apart, and the row goes to review
        ["行政规范性文件", "8", "26", "66"],
    ]


def test_consecutive_tables_on_a_page_top_are_not_joined():
    header = ["信息内容", "本年处理决定数量"]

    def first(c):
        draw_grid(c, 200, [header, ["行政许可", "12"]], [150, 150])

    def second(c):
        c.drawString(72, 790, "第二十条第（六）项")  # a heading at the very top of the page
        draw_grid(c, 780, [header, ["行政处罚", "3"]], [150, 150])

    lines = pdf_lines(pdf(first, second), "t.pdf")
    assert [(line.text, line.table) for line in lines] == [
        ("信息内容 本年处理决定数量", 1), ("行政许可 12", 1), ("第二十条第（六）项", None),
        ("信息内容 本年处理决定数量", 2), ("行政处罚 3", 2),  # a new table keeps its own header
    ]


def test_white_shading_behind_prose_is_not_a_table():
    def page(c):
        c.setFillColorRGB(1, 1, 1)
        for k in range(4):  # Word shades each paragraph line with a white rectangle
            c.rect(72, 700 - 20 * k, 450, 20, stroke=0, fill=1)
        c.setFillColorRGB(0, 0, 0)
        for k, text in enumerate(["第一行正文", "第二行正文", "第三行正文", "第四行正文"]):
            c.drawString(76, 706 - 20 * k + 20, text)

    lines = pdf_lines(pdf(page), "t.pdf")
    assert [(line.text, line.table) for line in lines] == [
        ("第一行正文", None), ("第二行正文", None), ("第三行正文", None), ("第四行正文", None),
    ]


def test_rules_drawn_in_nested_transformed_forms_are_a_grid():
    """Some generators draw a table as Form XObjects: each rule is placed by the matrices of
    every form around it."""
    def page(c):
        c.beginForm("row")  # one row's rules, 80 x 20
        for x in (0, 40, 60, 80):
            c.line(x, 0, x, 20)
        c.line(0, 0, 80, 0)
        c.line(0, 20, 80, 20)
        c.endForm()
        c.beginForm("table")  # two rows of it, one above the other
        for k in range(2):
            c.saveState()
            c.translate(0, 20 * k)
            c.doForm("row")
            c.restoreState()
        c.endForm()
        c.saveState()
        c.translate(100, 600)
        c.scale(2, 2)  # the table is 160 x 80 on the page
        c.doForm("table")
        c.restoreState()
        for i, row in enumerate([["规章", "1", "11"], ["行政规范性文件", "8", "66"]]):
            for j, text in enumerate(row):
                c.drawString(100 + (0, 80, 120)[j] + 3, 600 + 40 * (1 - i) + 15, text)

    lines = pdf_lines(pdf(page), "t.pdf")
    assert cells(lines) == [
        [("规章", 0.0), ("1", 1.0), ("11", 2.0)],
        [("行政规范性文件", 0.0), ("8", 1.0), ("66", 2.0)],
    ]


def test_a_split_report_records_pages_and_table_of_every_cell():
    result = extract_bytes(render_pdf(sample_report(1), page_height=600), "r.pdf")
    assert result["status"] == "ok"
    assert result["source"]["format"] == "pdf" and result["source"]["encoding"] is None
    provenance = result["provenance"]["applications"]
    assert provenance["pages"] == "2-3"
    first, last = provenance["cells"]["new_received.natural_person"], provenance["cells"]["carried_forward.total"]
    assert (first["page"], last["page"]) == (2, 3)
    assert first["table"] == last["table"]  # one table, continued on the next page


@pytest.fixture
def without_ocr(monkeypatch):
    """As on an install without the `ocr` extra."""
    from gxllm.load import ocr as load_ocr

    monkeypatch.setattr(load_ocr, "available", lambda: False)


def test_scanned_pdf_without_the_ocr_extra_fails_fast_with_what_to_do(without_ocr):
    with pytest.raises(NoTextLayerError) as error:
        extract_bytes(render_scanned_pdf(), "scan.pdf")
    assert str(error.value) == (
        "scan.pdf: scanned PDF without a text layer (2 of 2 pages are images only); install the OCR extra "
        "to read it (pip install 'gxllm[ocr]'), or OCR it first (ocrmypdf -l chi_sim report.pdf report-ocr.pdf)"
    )


def test_encrypted_and_damaged_pdfs_are_one_line_errors():
    with pytest.raises(InputError) as error:
        extract_bytes(render_encrypted_pdf(sample_report(1)), "locked.pdf")
    assert str(error.value) == (
        "locked.pdf: encrypted PDF that needs a password to open; decrypt it first "
        "(qpdf --password=PASSWORD --decrypt report.pdf plain.pdf)"
    )
    whole = render_pdf(sample_report(1))
    for broken in (whole[: len(whole) // 2], b"%PDF-1.7\n" + bytes(range(256)) * 20):
        with pytest.raises(InputError) as error:
            extract_bytes(broken, "broken.pdf")
        assert str(error.value) == (
            "broken.pdf: damaged PDF, cannot be opened; re-download it or re-save it from a PDF viewer"
        )


def test_cli_reports_scanned_encrypted_and_damaged_pdfs(tmp_path, capsys, without_ocr):
    good = tmp_path / "good.pdf"
    good.write_bytes(render_pdf(sample_report(1)))
    scan = tmp_path / "scan.pdf"
    scan.write_bytes(render_scanned_pdf())
    locked = tmp_path / "locked.pdf"
    locked.write_bytes(render_encrypted_pdf(sample_report(1)))
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(good.read_bytes()[:2000])

    assert main(["extract", str(scan)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith(f"error: {scan}: scanned PDF without a text layer")

    assert main(["extract", str(good), str(scan), str(locked), str(broken), "--format", "jsonl"]) == 2
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [(r["status"], r["findings"][0]["kind"] if r["findings"] else None) for r in records] == [
        ("ok", None),
        ("failed", "no_text_layer"),
        ("failed", "unreadable_input"),
        ("failed", "unreadable_input"),
    ]
    assert len(captured.err.splitlines()) == 3
