"""The load stage for Word .docx: the body of the main document part as lines of cells.

It produces what `load.html_lines` produces for HTML, so the same parser reads both:

- a paragraph outside tables is one single-cell line without a position (a later stage splits
  it into words); ``w:br`` starts a new line, ``w:tab`` is a tab; empty paragraphs are skipped;
- each row of a top-level table is one line with ``table=k`` (k counts those tables from 1)
  whose cells sit at the grid column they start in (``gridBefore`` and ``gridSpan`` resolved);
  a cell covered by a vertical (``vMerge``) or legacy horizontal (``hMerge``) merge is not
  emitted, like a cell under an HTML rowspan, while a blank cell is emitted as ``""``;
- a cell's text is its paragraphs joined with " ", whitespace collapsed; a table nested in a
  cell is flattened into it, unless the outer table is page layout (as in `load._is_layout`).

Deleted revisions, field instructions and ``mc:Fallback`` duplicates are skipped; insertions,
content controls, hyperlinks, field results and text boxes are read. Standard library only.
"""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
import zlib
from collections.abc import Iterator

from gxllm.document import Cell, Line
from gxllm.errors import InputError
from gxllm.load.html import Segments

MAX_XML_BYTES = 64 * 1024 * 1024  # uncompressed main document part: refuses zip bombs

W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_STRICT = b"http://purl.oclc.org/ooxml/wordprocessingml/main"  # Word's "Strict Open XML" saves
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_SKIP = frozenset(W + n for n in "del delText moveFrom instrText delInstrText tblGrid rt object".split())
_WRAPPERS = frozenset(W + n for n in ("sdt", "sdtContent", "customXml"))  # around rows and cells
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError, ValueError)


def docx_lines(data: bytes, name: str) -> tuple[Line, ...]:
    """Lines of a .docx report (see the module docstring). Raises InputError (one line)."""
    member, xml = _main_part(data, name)
    try:
        root = ET.fromstring(xml.replace(_STRICT, W[1:-1].encode()))
    except ET.ParseError:
        raise InputError(f"{name}: damaged .docx ({member} is not well-formed XML)") from None
    reader = _Reader()
    try:
        body = root.find(W + "body")
        reader.walk(body if body is not None else root, reader, grids=True)
    except RecursionError:
        raise InputError(f"{name}: .docx is nested too deeply to read") from None
    reader.boundary()
    return tuple(reader.lines)


def _main_part(data: bytes, name: str) -> tuple[str, bytes]:
    """(member name, bytes) of the main document part, read with a bounded read."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            member = _office_document(zf)
            if member is None:
                raise InputError(_not_word(zf, name))
            size, xml = zf.getinfo(member).file_size, b""
            if size <= MAX_XML_BYTES:
                with zf.open(member) as f:
                    xml = f.read(MAX_XML_BYTES + 1)
                size = len(xml)
    except _ZIP_ERRORS:
        raise InputError(f"{name}: damaged .docx (not a readable zip archive); re-save it from Word or WPS") from None
    if size > MAX_XML_BYTES:
        raise InputError(
            f"{name}: {member} is too large for a report ({size / 1048576:.1f} MB uncompressed, "
            f"limit {MAX_XML_BYTES / 1048576:g} MB); is this the right file?"
        )
    return member, xml


def _office_document(zf: zipfile.ZipFile) -> str | None:
    """word/document.xml, or the word/ part `_rels/.rels` names (Word Online writes document2.xml)."""
    names = set(zf.namelist())
    if "_rels/.rels" in names:
        try:
            with zf.open("_rels/.rels") as f:
                rels = ET.fromstring(f.read(1 << 20))
        except ET.ParseError:
            rels = ET.Element("none")
        for rel in rels.iter(_RELS):
            target = rel.get("Target", "").lstrip("/")
            if rel.get("Type", "").endswith("/officeDocument") and target.startswith("word/") and target in names:
                return target
    return "word/document.xml" if "word/document.xml" in names else None


def _not_word(zf: zipfile.ZipFile, name: str) -> str:
    names, fix = set(zf.namelist()), "save the report as .docx, .html or .txt"
    if "xl/workbook.xml" in names:
        return f"{name}: an Excel workbook, not a Word report; {fix}"
    if "ppt/presentation.xml" in names:
        return f"{name}: a PowerPoint presentation, not a Word report; {fix}"
    if "mimetype" in names and zf.open("mimetype").read(100).strip() == b"application/vnd.oasis.opendocument.text":
        return (f"{name}: an OpenDocument text (.odt), not a Word .docx report; convert it to .docx "
                "(libreoffice --headless --convert-to docx report.odt)")  # fmt: skip
    return f"{name}: a zip archive, not a Word .docx report; unzip it and run gxllm on the report inside"


def _int(pr: ET.Element | None, prop: str, default: int) -> int:
    el = pr.find(W + prop) if pr is not None else None
    try:
        return min(max(int(el.get(W + "val", "")), 0), 1000) if el is not None else default
    except ValueError:
        return default


def _items(parent: ET.Element, tag: str) -> Iterator[ET.Element]:
    """Children `tag` of `parent`, also those inside content controls and custom XML."""
    for child in parent:
        if child.tag == tag:
            yield child
        elif child.tag in _WRAPPERS:
            yield from _items(child, tag)


def _is_layout(tbl: ET.Element) -> bool:
    """A table holding whole tables (several rows) in its cells lays out the page."""
    return any(inner is not tbl and len(list(_items(inner, W + "tr"))) > 1 for inner in tbl.iter(W + "tbl"))


class _Reader(Segments):
    """Document-level collector: every segment is a single-cell line; tables add row lines."""

    def __init__(self) -> None:
        super().__init__(collapse=False)
        self.lines: list[Line] = []
        self.tables = 0

    def emit(self, text: str) -> None:
        self.lines.append(Line((Cell(text),), len(self.lines) + 1))

    def walk(self, el: ET.Element, out: Segments, grids: bool) -> None:
        """Feed the text under `el` to `out` in document order; `grids`: tables give row lines."""
        for child in el:
            tag = child.tag
            if tag in _SKIP or tag.endswith(("Pr", "PrEx")) or tag == _MC + "Fallback":
                continue  # properties (pPr, tcPr, sectPr, ...) hold no text, only settings
            if tag == W + "t":
                out.add(child.text or "")
            elif tag in (W + "tab", W + "ptab"):
                out.add("\t")
            elif tag in (W + "br", W + "cr"):
                out.boundary()
            elif tag == W + "noBreakHyphen":
                out.add("-")
            elif tag == W + "tbl" and grids and not _is_layout(child):
                self.table(child)
            elif tag in (W + "p", W + "txbxContent"):  # text boxes: their paragraphs, no grids
                out.boundary()
                self.walk(child, out, grids and tag == W + "p")
                out.boundary()
            elif tag == _MC + "AlternateContent":  # the first Choice (the Fallback duplicates it)
                choice = child.find(_MC + "Choice")
                self.walk(child if choice is None else choice, out, grids)
            else:  # runs, insertions, hyperlinks, fields, content controls, drawings, layout cells
                self.walk(child, out, grids)

    def table(self, tbl: ET.Element) -> None:
        self.boundary()
        self.tables += 1
        above: set[int] = set()  # grid columns where a cell of the previous row starts
        for tr in _items(tbl, W + "tr"):
            tr_pr = tr.find(W + "trPr")
            if tr_pr is not None and tr_pr.find(W + "del") is not None:
                continue  # a row deleted with track changes on
            col = _int(tr_pr, "gridBefore", 0)
            cells: list[Cell] = []
            starts: set[int] = set()
            for tc in _items(tr, W + "tc"):
                pr = tc.find(W + "tcPr")
                v = pr.find(W + "vMerge") if pr is not None else None
                h = pr.find(W + "hMerge") if pr is not None else None
                v_covered = v is not None and v.get(W + "val", "continue") == "continue" and col in above
                if not v_covered and (h is None or h.get(W + "val", "continue") != "continue"):
                    text = Segments(collapse=False)
                    self.walk(tc, text, grids=False)
                    text.boundary()
                    cells.append(Cell(" ".join(" ".join(text.segments).split()), float(col)))
                starts.add(col)
                col += max(_int(pr, "gridSpan", 1), 1)
            above = starts
            self.lines.append(Line(tuple(cells), len(self.lines) + 1, table=self.tables))


def read(data: bytes, name: str) -> tuple[tuple[Line, ...], dict]:
    return docx_lines(data, name), {}
