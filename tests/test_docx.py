"""Word .docx input: whole reports made with python-docx, and `docx_lines` on hand-built XML."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from layouts import collapse_other, sample_report, sample_report_2019, with_subtotal
from office import render_docx

from gxllm.cli import main
from gxllm.errors import InputError
from gxllm.load.docx import docx_lines
from gxllm.pipeline import extract_bytes

CANONICAL = ("active_disclosure", "applications", "reviews_and_lawsuits")
SAMPLES = {
    "2021": lambda: sample_report(1),
    "2019": lambda: sample_report_2019(2),
    "subtotal": lambda: with_subtotal(sample_report(3)),
    "2021_t2_collapsed_t3": lambda: collapse_other(sample_report(4)),
    "2019_subtotal": lambda: with_subtotal(sample_report_2019(5)),
}


# --- whole reports ---------------------------------------------------------------------------


@pytest.mark.parametrize("merged", [True, False], ids=["word_merges", "unmerged_blank_cells"])
@pytest.mark.parametrize("sample", SAMPLES)
def test_report_extracts_exactly(sample, merged):
    report = SAMPLES[sample]()
    result = extract_bytes(render_docx(report, merged=merged), "r.docx")
    assert {k: result[k] for k in CANONICAL} == {k: report[k] for k in CANONICAL}
    assert result["report"]["template"] == report["report"]["template"]
    assert (result["status"], result["findings"]) == ("ok", [])
    assert (result["source"]["format"], result["source"]["encoding"]) == ("docx", None)


def test_blank_cell_is_null():
    report = sample_report(1)
    apps = report["applications"]
    assert apps["granted"]["research_institution"] == 0
    apps["granted"]["research_institution"] = None
    result = extract_bytes(render_docx(report), "r.docx")
    assert result["applications"]["granted"] == apps["granted"]
    assert [f["cells"] for f in result["findings"]] == [["applications.granted.research_institution"]]


# --- docx_lines on hand-built documents --------------------------------------------------------

NS = (
    'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" '
    'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006" '
    'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape" '
    'xmlns:v="urn:schemas-microsoft-com:vml" mc:Ignorable="wps"'
)


TYPES = '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>'


def docx(body: str, *, member: str = "word/document.xml", extra: dict[str, str] | None = None, ns: str = NS) -> bytes:
    """A minimal .docx whose body is `body` (a real one also has styles, settings, ...)."""
    xml = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document {ns}><w:body>{body}<w:sectPr/></w:body></w:document>'
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", TYPES)
        zf.writestr(member, xml)
        for name, text in (extra or {}).items():
            zf.writestr(name, text)
    return out.getvalue()


def p(*runs: str) -> str:
    return "<w:p>" + "".join(runs) + "</w:p>"


def r(text: str) -> str:
    return f'<w:r><w:t xml:space="preserve">{text}</w:t></w:r>'


def tc(text: str = "", pr: str = "") -> str:
    return f"<w:tc><w:tcPr>{pr}</w:tcPr>{p(r(text)) if text else p()}</w:tc>"


def tbl(*rows: str) -> str:
    return "<w:tbl><w:tblPr/><w:tblGrid/>" + "".join(rows) + "</w:tbl>"


def tr(*cells: str, pr: str = "") -> str:
    return f"<w:tr><w:trPr>{pr}</w:trPr>" + "".join(cells) + "</w:tr>"


def lines(body: str, **kw) -> list[tuple]:
    """(number, table, [(text, pos), ...]) of every line."""
    return [(ln.number, ln.table, [(c.text, c.pos) for c in ln.cells]) for ln in docx_lines(docx(body, **kw), "t.docx")]


def cells(body: str) -> list[list[tuple[str, float | None]]]:
    return [c for _, _, c in lines(body)]


def test_paragraphs_breaks_tabs_and_empty_paragraphs():
    body = (
        p(r("一、总体")) + p() + p(r("  ")) + '<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="420"/></w:tabs></w:pPr>'
        + r("规章") + "<w:r><w:tab/></w:r>" + r("16") + "<w:r><w:br/></w:r>" + r("行政") + "<w:r><w:cr/></w:r>"
        + r("许可") + "<w:r><w:t>A</w:t><w:noBreakHyphen/><w:t>B</w:t><w:softHyphen/></w:r></w:p>"
    )  # fmt: skip
    assert lines(body) == [
        (1, None, [("一、总体", None)]),
        (2, None, [("规章\t16", None)]),
        (3, None, [("行政", None)]),
        (4, None, [("许可A-B", None)]),
    ]


def test_grid_before_and_grid_span_place_cells_at_their_grid_column():
    span2 = '<w:gridSpan w:val="2"/>'
    body = tbl(
        tr(tc("A", span2), tc("B"), tc("C")),
        tr(tc("x"), tc("y", span2), pr='<w:gridBefore w:val="1"/><w:gridAfter w:val="1"/>'),
    )
    assert cells(body) == [[("A", 0.0), ("B", 2.0), ("C", 3.0)], [("x", 1.0), ("y", 2.0)]]


def test_vertical_merge_emits_the_cell_in_its_first_row_only():
    restart, cont = '<w:vMerge w:val="restart"/>', "<w:vMerge/>"
    body = tbl(
        tr(tc("三、本年度办理结果", restart), tc("(一)予以公开"), tc("5")),
        tr(tc("", cont), tc("(二)部分公开"), tc("")),
        tr(tc("", '<w:vMerge w:val="continue"/>'), tc("(三)", restart), tc("7")),
        tr(tc("四、结转"), tc("", cont), tc("8")),
    )
    assert cells(body) == [
        [("三、本年度办理结果", 0.0), ("(一)予以公开", 1.0), ("5", 2.0)],
        [("(二)部分公开", 1.0), ("", 2.0)],  # a blank cell is data
        [("(三)", 1.0), ("7", 2.0)],
        [("四、结转", 0.0), ("8", 2.0)],
    ]


def test_vertical_merge_continue_with_nothing_above_is_a_cell():
    assert cells(tbl(tr(tc("A", "<w:vMerge/>"), tc("B")))) == [[("A", 0.0), ("B", 1.0)]]


def test_legacy_horizontal_merge():
    body = tbl(tr(tc("申请人情况", '<w:hMerge w:val="restart"/>'), tc("", "<w:hMerge/>"), tc("总计")))
    assert cells(body) == [[("申请人情况", 0.0), ("总计", 2.0)]]


def test_cell_text_joins_paragraphs_breaks_and_nested_tables():
    cell = (
        "<w:tc>" + p(r("（一）予以"), "<w:r><w:br/></w:r>", r("公开")) + p() + p(r("  a\tb  ")) + "<w:r><w:tab/></w:r>"
        + tbl(tr(tc("内"), tc("表"))) + p(r("末")) + "</w:tc>"
    )  # fmt: skip
    body = tbl(tr(cell, tc())) + p(r("之后")) + tbl(tr(tc("T2")))
    assert lines(body) == [
        (1, 1, [("（一）予以 公开 a b 内 表 末", 0.0), ("", 1.0)]),
        (2, None, [("之后", None)]),
        (3, 2, [("T2", 0.0)]),  # the nested table is not counted
    ]


def test_layout_table_holding_whole_tables_is_walked_as_blocks():
    """A page laid out in a one-cell table (Word documents saved from web pages): the cell's
    paragraphs are lines and the data tables inside it get their grids, as in HTML."""
    inner = tbl(tr(tc("规章"), tc("16")), tr(tc("行政许可"), tc("7")))
    body = tbl(tr("<w:tc>" + p(r("二、主动公开")) + inner + p(r("表后")) + "</w:tc>"))
    assert lines(body) == [
        (1, None, [("二、主动公开", None)]),
        (2, 1, [("规章", 0.0), ("16", 1.0)]),
        (3, 1, [("行政许可", 0.0), ("7", 1.0)]),
        (4, None, [("表后", None)]),
    ]


def test_tracked_changes_deleted_text_skipped_inserted_text_kept():
    body = p(
        r("共"),
        '<w:del w:id="1" w:author="a"><w:r><w:delText>12</w:delText></w:r></w:del>',
        '<w:ins w:id="2" w:author="a"><w:r><w:t>13</w:t></w:r></w:ins>',
        '<w:moveFrom w:id="3" w:author="a"><w:r><w:t>旧</w:t></w:r></w:moveFrom>',
        r("件"),
    ) + tbl(tr(tc("删"), pr='<w:del w:id="4" w:author="a"/>'), tr(tc("留")))
    assert cells(body) == [[("共13件", None)], [("留", 0.0)]]


def test_fields_hyperlinks_content_controls_and_smart_tags():
    body = (
        p(
            '<w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText> PAGE </w:instrText></w:r>',
            '<w:r><w:fldChar w:fldCharType="separate"/></w:r>', r("4"), '<w:r><w:fldChar w:fldCharType="end"/></w:r>',
            '<w:fldSimple w:instr=" DATE ">', r("2024"), "</w:fldSimple>",
            '<w:hyperlink w:anchor="x">', r("链接"), "</w:hyperlink>",
            '<w:smartTag w:uri="u" w:element="e">', r("标记"), "</w:smartTag>",
        )
        + "<w:sdt><w:sdtPr><w:alias w:val=\"不是文字\"/></w:sdtPr><w:sdtContent>" + p(r("控件")) + tbl(
            tr(tc("行")), "<w:sdt><w:sdtContent>" + tr(tc("控件行")) + "</w:sdtContent></w:sdt>"
        ) + "</w:sdtContent></w:sdt>"
    )  # fmt: skip
    assert lines(body) == [
        (1, None, [("42024链接标记", None)]),
        (2, None, [("控件", None)]),
        (3, 1, [("行", 0.0)]),
        (4, 1, [("控件行", 0.0)]),
    ]


def test_text_box_read_once_from_alternate_content_choice():
    box = "<w:txbxContent>" + p(r("框内一")) + p(r("框内二")) + "</w:txbxContent>"
    body = p(
        r("前"),
        "<w:r><mc:AlternateContent><mc:Choice Requires=\"wps\"><w:drawing><wps:wsp><wps:txbx>" + box
        + "</wps:txbx></wps:wsp></w:drawing></mc:Choice><mc:Fallback><w:pict><v:shape><v:textbox>" + box
        + "</v:textbox></v:shape></w:pict></mc:Fallback></mc:AlternateContent></w:r>",
        r("后"),
    ) + p("<w:r><w:pict><v:shape><v:textbox>" + box.replace("框内", "旧式") + "</v:textbox></v:shape></w:pict></w:r>")  # fmt: skip
    assert cells(body) == [[("前", None)], [("框内一", None)], [("框内二", None)], [("后", None)],
                           [("旧式一", None)], [("旧式二", None)]]  # fmt: skip


def test_main_part_named_by_relationships_and_strict_namespace():
    rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" '
        'Type="http://purl.oclc.org/ooxml/officeDocument/relationships/officeDocument" Target="/word/document2.xml"/>'
        "</Relationships>"
    )
    strict = 'xmlns:w="http://purl.oclc.org/ooxml/wordprocessingml/main"'
    body = p(r("严格")) + tbl(tr(tc("A", '<w:gridSpan w:val="2"/>'), tc("B")))
    data = docx(body, member="word/document2.xml", extra={"_rels/.rels": rels}, ns=strict)
    assert [[(c.text, c.pos) for c in ln.cells] for ln in docx_lines(data, "t.docx")] == [
        [("严格", None)], [("A", 0.0), ("B", 2.0)]
    ]


def test_no_text_gives_no_lines_and_extract_says_no_table():
    assert docx_lines(docx(p() + tbl()), "t.docx") == ()
    result = extract_bytes(docx(p(r("网站首页"))), "t.docx")
    assert result["status"] == "failed" and result["findings"][0]["kind"] == "no_table"


# --- errors ---------------------------------------------------------------------------------------


def zip_of(files: dict[str, bytes | str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, content in files.items():
            zf.writestr(name, content)
    return out.getvalue()


DAMAGED = "r.docx: damaged .docx (not a readable zip archive); re-save it from Word or WPS"
SAVE_AS = "save the report as .docx, .html or .txt"


@pytest.mark.parametrize(
    "data, message",
    [
        (b"PK\x03\x04\x14\x00\x06\x00word/document.xml", DAMAGED),
        (docx(p(r("x")))[:-40], DAMAGED),  # truncated download: no central directory
        (zip_of({"a.txt": "hello"}), "r.docx: a zip archive, not a Word .docx report; unzip it and run gxllm on the report inside"),
        (zip_of({"xl/workbook.xml": "<workbook/>"}), f"r.docx: an Excel workbook, not a Word report; {SAVE_AS}"),
        (zip_of({"ppt/presentation.xml": "<p/>"}), f"r.docx: a PowerPoint presentation, not a Word report; {SAVE_AS}"),
        (zip_of({"mimetype": "application/vnd.oasis.opendocument.text", "content.xml": "<x/>"}),
         "r.docx: an OpenDocument text (.odt), not a Word .docx report; convert it to .docx "
         "(libreoffice --headless --convert-to docx report.odt)"),
        (zip_of({"word/document.xml": "<w:document><w:body>"}),
         "r.docx: damaged .docx (word/document.xml is not well-formed XML)"),
    ],
    ids=["damaged", "truncated", "plain_zip", "xlsx", "pptx", "odt", "malformed_xml"],
)  # fmt: skip
def test_errors_are_one_line(data, message):
    with pytest.raises(InputError) as e:
        docx_lines(data, "r.docx")
    assert str(e.value) == message


def test_corrupted_member_is_damaged():
    data = bytearray(docx(p(r("一段足够长的文字" * 20))))
    start = data.index(b"word/document.xml") + len(b"word/document.xml") + 10
    data[start : start + 20] = bytes(20)  # garbage in the deflate stream (or a CRC mismatch)
    with pytest.raises(InputError) as e:
        docx_lines(bytes(data), "r.docx")
    assert str(e.value) == DAMAGED


def test_zip_bomb_refused_before_reading():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("word/document.xml", b" " * (65 * 1024 * 1024))
    assert len(out.getvalue()) < 200_000
    with pytest.raises(InputError) as e:
        docx_lines(out.getvalue(), "r.docx")
    assert str(e.value) == (
        "r.docx: word/document.xml is too large for a report (65.0 MB uncompressed, limit 64 MB); is this the right file?"
    )


def test_pathological_nesting_is_an_input_error():
    deep = "<w:sdt><w:sdtContent>" * 5000 + p(r("x")) + "</w:sdtContent></w:sdt>" * 5000
    with pytest.raises(InputError) as e:
        docx_lines(docx(deep), "r.docx")
    assert str(e.value) == "r.docx: .docx is nested too deeply to read"


# --- CLI ------------------------------------------------------------------------------------------


def test_cli_extracts_a_docx(capsys, tmp_path):
    path = tmp_path / "report.docx"
    report = sample_report(7)
    path.write_bytes(render_docx(report))
    code = main(["extract", str(path)])
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert (code, err, result["status"], result["source"]["format"]) == (0, "", "ok", "docx")
    assert result["applications"] == report["applications"]


def test_cli_damaged_docx_exits_2_with_one_line(capsys, tmp_path):
    path = tmp_path / "bad.docx"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)))
    code = main(["extract", str(path)])
    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == f"error: {path}: damaged .docx (not a readable zip archive); re-save it from Word or WPS\n"
