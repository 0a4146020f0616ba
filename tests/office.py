"""Render a canonical report dict as a Word .docx, the Word counterpart of `layouts.render_html`.

Built with python-docx (a dev-only dependency): the title, prose and headings are paragraphs,
each table a real Word table whose merged cells are Word merges (``gridSpan`` / ``vMerge``), or,
with ``merged=False``, separate empty cells where the merges were. Numbers are split over two
runs and labels printed with full-width punctuation, as Word documents carry them.
"""

from __future__ import annotations

import io

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from layouts import GRIDS, Grid, _parts, fw, placed


def _runs(paragraph, text: str, *, split: bool = False, bold: bool = False) -> None:
    pieces = [text[:1], text[1:]] if split and len(text) > 1 else [text]
    for piece in pieces:
        run = paragraph.add_run(piece)
        if bold:
            run.bold = True
        run.font.name = "仿宋_GB2312"
        run._element.get_or_add_rPr().get_or_add_rFonts().set(qn("w:eastAsia"), "仿宋_GB2312")


def _table(doc, grid: Grid, merged: bool) -> None:
    width, rows = grid
    table = doc.add_table(rows=len(rows), cols=width)
    table.style = "Table Grid"
    cells = [row.cells for row in table.rows]  # before merging (table.cell() is slow)
    for y, x, g in placed(grid):
        cell = cells[y][x]
        if merged and (g.rowspan > 1 or g.colspan > 1):
            cell = cell.merge(cells[y + g.rowspan - 1][x + g.colspan - 1])
        paragraph = cell.paragraphs[0]
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        if g.text:
            _runs(paragraph, g.text if g.value else fw(g.text), split=g.value)


def render_docx(report: dict, *, merged: bool = True) -> bytes:
    doc = Document()
    for kind, text in _parts(report):
        if kind == "table":
            _table(doc, GRIDS[text](report), merged)
        elif kind == "title":
            paragraph = doc.add_paragraph()
            paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            _runs(paragraph, text, bold=True)
        else:
            paragraph = doc.add_paragraph()
            paragraph.paragraph_format.first_line_indent = doc.styles["Normal"].font.size or 203200
            _runs(paragraph, text, bold=kind == "heading")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
