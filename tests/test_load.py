"""The load stage: rejections, decoding, text lines and the HTML table grid."""

from __future__ import annotations

import hashlib
import io
import pickle
import sys

import pytest

from gxllm.document import Cell, Line
from gxllm.errors import InputError
from gxllm.load import MAX_BYTES, declared_encoding, decode, load, read_input, sniff_format
from gxllm.load.html import html_lines

SIMPLIFIED = (
    "某某市人民政府2023年政府信息公开工作年度报告\n"
    "本报告根据《中华人民共和国政府信息公开条例》要求编制，由总体情况、主动公开政府信息情况等部分组成。\n"
    "一、总体情况\n2023年，我市认真贯彻落实党中央、国务院关于政务公开工作的决策部署，持续推进主动公开。\n"
    "二、主动公开政府信息情况\n规章 | 0 | 0 | 0 |\n行政规范性文件 | 5 | 2 | 31 |\n行政许可 | 1234 |\n"
    "三、收到和处理政府信息公开申请情况\n本年新收政府信息公开申请数量 | 12 | 3 | 0 | 0 | 1 | 0 | 16 |\n"
)
TRADITIONAL = (
    "某某市人民政府2023年政府資訊公開工作年度報告\n"
    "本報告根據《政府資訊公開條例》要求編製，由總體情況、主動公開政府資訊情況等部分組成。\n"
    "一、總體情況\n2023年，本府認真貫徹落實政務公開工作的決策部署，持續推進主動公開。\n"
    "二、主動公開政府資訊情況\n規章 | 0 | 0 | 0 |\n行政規範性文件 | 5 | 2 | 31 |\n行政許可 | 1234 |\n"
    "三、收到和處理政府資訊公開申請情況\n本年新收政府資訊公開申請數量 | 12 | 3 | 0 | 0 | 1 | 0 | 16 |\n"
)


def rows(lines):
    return [[(c.text, c.pos) for c in line.cells] for line in lines]


# --- rejections ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "r.txt: empty input"),
        (b" \n\t\r\n  ", "r.txt: empty input"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "r.txt: damaged PDF, cannot be opened; re-download it or "
         "re-save it from a PDF viewer"),
        (b"PK\x03\x04\x14\x00\x06\x00word/document.xml", "r.txt: damaged .docx (not a readable zip archive); "
         "re-save it from Word or WPS"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(200), "r.txt: legacy Word .doc (or an encrypted Office file) "
         "cannot be read; convert it to .docx first (libreoffice --headless --convert-to docx report.doc)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 4,
         "r.txt: binary file, not a text, HTML, PDF or Word report"),
        (bytes(range(1, 32)) * 50, "r.txt: binary file, not a text, HTML, PDF or Word report"),
    ],
)  # fmt: skip
def test_rejections(data, message):
    with pytest.raises(InputError) as e:
        load(data, "r.txt")
    assert str(e.value) == message


def test_read_input_errors(tmp_path):
    missing = str(tmp_path / "nope.html")
    with pytest.raises(InputError) as e:
        read_input(missing)
    assert str(e.value) == f"{missing}: no such file"
    with pytest.raises(InputError) as e:
        read_input(str(tmp_path))
    assert str(e.value) == f"{tmp_path}: is a directory (give files, or a glob)"
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(MAX_BYTES + 5 * 1024 * 1024)  # sparse: nothing is written
    with pytest.raises(InputError) as e:
        read_input(str(big))
    assert str(e.value) == f"{big}: 25.0 MB is too large for a report (limit 20 MB); is this the right file?"


def test_read_input_file_and_stdin(tmp_path, monkeypatch):
    p = tmp_path / "r.txt"
    p.write_bytes(b"abc")
    assert read_input(str(p)) == (b"abc", str(p))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("规章\n".encode("gbk"))))
    assert read_input("-") == ("规章\n".encode("gbk"), "<stdin>")


# --- decoding --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data, encoding",
    [
        (SIMPLIFIED.encode("utf-8"), "utf-8"),
        (b"\xef\xbb\xbf" + SIMPLIFIED.encode("utf-8"), "utf-8-sig"),
        (SIMPLIFIED.encode("gbk"), "gb18030"),
        (TRADITIONAL.encode("big5"), "big5hkscs"),
        (b"\xff\xfe" + SIMPLIFIED.encode("utf-16-le"), "utf-16-le"),
        (SIMPLIFIED.encode("utf-16-le"), "utf-16-le"),
        (SIMPLIFIED.encode("utf-16-be"), "utf-16-be"),
    ],
)
def test_decode(data, encoding):
    text, used = decode(data)
    assert used == encoding
    assert text == (TRADITIONAL if encoding.startswith("big5") else SIMPLIFIED)


def test_load_text_records_source():
    data = SIMPLIFIED.encode("gbk")
    doc = load(data, "r.txt")
    assert doc.source.name == "r.txt" and doc.source.format == "text"
    assert doc.source.encoding == "gb18030" and doc.source.size == len(data)
    assert doc.source.sha256 == hashlib.sha256(data).hexdigest()
    assert doc.lines[5].cells == (Cell("规章 | 0 | 0 | 0 |", None),)


def test_a_new_format_is_a_module_and_a_registration(monkeypatch):
    """A format is a module with `read(source, name) -> (lines, ocr)`, registered in FORMATS with
    how it is recognised; load needs no other change."""
    import types

    import gxllm.load as loading
    from gxllm.document import Line

    csv = types.ModuleType("report_csv")
    csv.read = lambda text, name: (tuple(Line(tuple(Cell(f) for f in row.split(",")), i) for i, row in enumerate(text.splitlines(), 1)), {})
    monkeypatch.setitem(sys.modules, "report_csv", csv)
    registered = loading.Format("csv", "report_csv", False, lambda text, name: name.endswith(".csv"))
    monkeypatch.setattr(loading, "FORMATS", (registered, *loading.FORMATS))
    doc = load("规章,0,1\n".encode(), "r.csv")
    assert doc.source.format == "csv" and doc.lines[0].cells == (Cell("规章"), Cell("0"), Cell("1"))
    assert load("规章,0,1\n".encode(), "r.txt").source.format == "text"


@pytest.mark.parametrize(
    "meta",
    ['<meta charset="gb2312">', '<meta http-equiv="Content-Type" content="text/html; charset=gbk">'],
)
def test_declared_gbk_html(meta):
    assert declared_encoding(f"<html><head>{meta}".encode()) == "gb18030"
    html = f"<html><head>{meta}<title>报告</title></head><body><p>规章</p></body></html>"
    doc = load(html.encode("gbk"), "r.html")
    assert doc.source.encoding == "gb18030" and doc.source.format == "html"
    assert rows(doc.lines) == [[("规章", None)]]


def test_declared_big5_and_bom_only():
    assert declared_encoding(b'<?xml version="1.0" encoding="Big5"?>') == "big5hkscs"
    assert declared_encoding(b'<meta charset="utf-16">') is None
    with pytest.raises(InputError, match="^r.txt: empty input$"):
        load(b"\xef\xbb\xbf \n", "r.txt")


def test_forced_and_unknown_encoding():
    data = "政府信息".encode("big5")
    assert decode(data, "big5") == ("政府信息", "big5")
    assert load("規章".encode("big5"), "r.txt", encoding="big5").lines[0].cells == (Cell("規章"),)
    with pytest.raises(InputError) as e:
        load(b"abc", "r.txt", encoding="klingon")
    assert str(e.value) == "r.txt: unknown encoding 'klingon'"


def test_invalid_bytes_never_raise():
    text, used = decode(SIMPLIFIED.encode("gbk")[:-3] + b"\xff\xfe\x81" + b"\x80abc")
    assert text.startswith("某某市人民政府") and used == "gb18030"
    assert decode(b"\x81\xff" * 3, "utf-8")[0] == "\ufffd" * 6
    assert isinstance(decode(bytes(range(128, 256)) * 3)[0], str)


# --- text documents --------------------------------------------------------------------------


def test_text_lines_one_to_one():
    doc = load("  一、总体情况 \r\n\n规章 | 0 |\f第2页\n\n".encode(), "-")
    assert [(line.number, line.cells) for line in doc.lines] == [
        (1, (Cell("  一、总体情况 ", None),)),
        (2, (Cell("", None),)),
        (3, (Cell("规章 | 0 |", None),)),
        (4, (Cell("第2页", None),)),
        (5, (Cell("", None),)),
    ]


def test_text_lines_read_as_a_tuple_of_lines():
    """A text document's lines are made when read; to every reader they are the tuple of Lines."""
    lines = load("一\n\n三 | 3\n".encode(), "r.txt").lines
    as_tuple = tuple(Line((Cell(text, None),), n) for n, text in enumerate(["一", "", "三 | 3"], 1))
    assert lines == as_tuple and tuple(lines) == as_tuple and len(lines) == 3
    assert (lines[0], lines[-1], lines[1:], lines[::2]) == (as_tuple[0], as_tuple[-1], as_tuple[1:], as_tuple[::2])
    assert pickle.loads(pickle.dumps(lines)) == lines and hash(lines) == hash(as_tuple)
    with pytest.raises(IndexError):
        lines[3]


def test_sniff_format():
    assert sniff_format("plain", "r.HTM") == "html"
    assert sniff_format("\n  <!DOCTYPE html><html></html>", "r.txt") == "html"
    assert sniff_format("text\n<p>para</p>", "<stdin>") == "html"
    assert sniff_format("规章 | 0 | <pending>", "r.txt") == "text"


# --- HTML documents --------------------------------------------------------------------------

GRID = """<html><head><style>td {border: 1px}</style><script>var x = "<td>";</script></head>
<body><h2>三、收到和处理政府信息公开申请情况</h2><p>说明<span>文字</span></p>
<table><thead>
<tr><td colspan="3" rowspan="2">（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）</td>
<td colspan="7">申请人情况</td></tr>
<tr><td rowspan="2">自然人</td><td colspan="5">法人或其他组织</td><td rowspan="2">总计</td></tr>
<tr><th colspan="3">&nbsp;</th><td>商业企业</td><td>科研机构</td><td>社会公益组织</td>
<td>法律服务机构</td><td>其他</td></tr></thead>
<tbody><tr><td colspan="3">一、本年新收政府信息公开申请数量</td><td><p><span>2</span><span>3</span></p></td>
<td>1</td><td>&nbsp;</td><td>0</td><td rowspan="2;"> 0 </td><td colspan="">0</td><td>24</td></tr>
<tr><td rowspan="3">三、本年度办理结果</td><td colspan="2">（一）予以公开</td><td>5</td>
<td><p>1</p><p>0</p></td><td><table><tr><td>0</td></tr></table></td><td>0</td><td colspan="0">0</td><td>6</td></tr>
</tbody></table><p>四、政府信息公开<br>行政复议</p><!-- 注释 --><noscript>x</noscript><div>（完）</div></body></html>"""


def test_html_grid():
    lines = html_lines(GRID)
    assert [line.number for line in lines] == list(range(1, len(lines) + 1))
    assert rows(lines) == [
        [("三、收到和处理政府信息公开申请情况", None)],
        [("说明文字", None)],
        [("（本列数据的勾稽关系为：第一项加第二项之和，等于第三项加第四项之和）", 0.0), ("申请人情况", 3.0)],
        [("自然人", 3.0), ("法人或其他组织", 4.0), ("总计", 9.0)],
        [("", 0.0), ("商业企业", 4.0), ("科研机构", 5.0), ("社会公益组织", 6.0), ("法律服务机构", 7.0), ("其他", 8.0)],
        [("一、本年新收政府信息公开申请数量", 0.0), ("23", 3.0), ("1", 4.0), ("", 5.0), ("0", 6.0), ("0", 7.0),
         ("0", 8.0), ("24", 9.0)],
        [("三、本年度办理结果", 0.0), ("（一）予以公开", 1.0), ("5", 3.0), ("1 0", 4.0), ("0", 5.0), ("0", 6.0),
         ("0", 8.0), ("6", 9.0)],
        [("四、政府信息公开", None)],
        [("行政复议", None)],
        [("（完）", None)],
    ]  # fmt: skip


def test_html_unclosed_cells_and_rows():
    lines = html_lines("<table><tr><td>a<td>b<tr><td>c</table>")
    assert rows(lines) == [[("a", 0.0), ("b", 1.0)], [("c", 0.0)]]


def test_html_text_after_the_document_end_and_form_feeds_are_read():
    lines = html_lines("<html><body><p>一\x0c二</p></body></html>\n<p>三</p>")
    assert [line.cells[0].text for line in lines] == ["一 二", "三"]


def test_xhtml_with_an_encoding_declaration():
    lines = html_lines('<?xml version="1.0" encoding="gb2312"?><html><body><p>规章</p></body></html>')
    assert [line.cells[0].text for line in lines] == ["规章"]


def test_html_nested_too_deeply_is_one_clear_error():
    with pytest.raises(InputError) as e:
        load(("<div>" * 3000 + "规章" + "</div>" * 3000).encode(), "deep.html")
    assert str(e.value) == "deep.html: HTML is nested too deeply to read"


def test_word_html_in_gbk():
    html = (
        '<html xmlns:o="urn:schemas-microsoft-com:office:office">\n<head>\n'
        '<meta http-equiv=Content-Type content="text/html; charset=gb2312">\n'
        "<meta name=Generator content=\"Microsoft Word 15\">\n<style>\n<!-- p.MsoNormal {margin:0cm} -->\n</style>\n"
        "<!--[if gte mso 9]><xml><o:DocumentProperties></o:DocumentProperties></xml><![endif]-->\n</head>\n"
        "<body lang=ZH-CN><div class=WordSection1>\n<p class=MsoNormal><span style='font-family:仿宋'>二、主动公开"
        "政府信息情况</span></p>\n<table class=MsoNormalTable border=1><tr><td width=200><p class=MsoNormal>"
        "<span>规章</span></p></td><td><p class=MsoNormal><span lang=EN-US>1</span><span lang=EN-US>2</span></p></td>"
        "<td><p class=MsoNormal><span lang=EN-US><o:p>&nbsp;</o:p></span></p></td></tr></table>\n"
        "<p class=MsoNormal><span lang=EN-US><o:p>&nbsp;</o:p></span></p></div></body></html>"
    )
    doc = load(html.encode("gbk"), "report.htm")
    assert (doc.source.format, doc.source.encoding) == ("html", "gb18030")
    assert rows(doc.lines) == [[("二、主动公开政府信息情况", None)], [("规章", 0.0), ("12", 1.0), ("", 2.0)]]


def test_layout_table_around_data_tables_is_walked_as_page_regions():
    html = (
        "<table><tr><td><div>标题</div><p>二、主动公开政府信息情况</p>"
        "<table><tr><td>规章</td><td>1</td><td>0</td></tr><tr><td>行政许可</td><td>5</td></tr></table>"
        "<p>三、收到和处理</p></td></tr></table>"
    )
    assert [[(c.text, c.pos) for c in line.cells] for line in html_lines(html)] == [
        [("标题", None)],
        [("二、主动公开政府信息情况", None)],
        [("规章", 0.0), ("1", 1.0), ("0", 2.0)],
        [("行政许可", 0.0), ("5", 1.0)],
        [("三、收到和处理", None)],
    ]
