"""Split normalised text lines into cells, the way each text layout marks them.

- `|` (scraped tables, markdown) and tabs mark cells explicitly; an empty field between two
  separators is a blank cell, kept in place so a row never shifts.
- Otherwise words are cells: numbers always stand alone, and words of text separated by a
  single space are one label broken by a space (`自然 人`, `总 计`). A word's character
  offset is its position, comparable between lines of a PDF text layer.

Page footers (`-4-`, `第 3 页`) are dropped wherever they appear, also inside a table.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .document import Cell, Document, Line

_FOOTER = re.compile(r"^\s*(?:[-—]\s*\d{1,3}\s*[-—]|第\s*\d{1,3}\s*页(?:\s*[,/]?\s*共\s*\d{1,3}\s*页)?|\d{1,3}\s*/\s*\d{1,3})\s*$")
_MARKDOWN_RULE = re.compile(r"^:?-{2,}:?$")
_WORD = re.compile(r"\S+")
NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:万元|元)?$")


def is_footer(text: str) -> bool:
    return bool(_FOOTER.match(text))


def _separated(text: str, separator: str) -> tuple[Cell, ...]:
    fields = [f.strip() for f in text.split(separator)]
    if separator == "|" and text.strip().startswith("|") and text.strip().endswith("|") and len(fields) > 2:
        # A markdown row: its outer pipes delimit every field, so the field index is a grid
        # column and an empty field at either end is a real blank cell.
        fields = fields[1:-1]
        if not any(fields) or all(_MARKDOWN_RULE.match(f) for f in fields):
            return ()
        return tuple(Cell(f, float(i)) for i, f in enumerate(fields))
    while fields and not fields[-1]:
        fields.pop()
    while fields and not fields[0]:
        fields.pop(0)
    if all(_MARKDOWN_RULE.match(f) for f in fields):
        return ()
    return tuple(Cell(f) for f in fields)


def _words(text: str) -> tuple[Cell, ...]:
    cells: list[Cell] = []
    previous_end = -2
    for match in _WORD.finditer(text):
        word = match.group()
        numeric = bool(NUMBER.match(word))
        if cells and not numeric and match.start() - previous_end == 1 and not NUMBER.match(cells[-1].text):
            cells[-1] = replace(cells[-1], text=cells[-1].text + word)
        else:
            position = (match.start() + match.end()) / 2 if numeric else float(match.start())
            cells.append(Cell(word, position))
        previous_end = match.end()
    return tuple(cells)


def split_line(text: str) -> tuple[Cell, ...]:
    if not text:
        return ()  # an empty line separates cells; it is not one
    if not text.strip() or text.strip() == "|":
        # A line holding only spaces (&nbsp;) or a lone `|` is an empty cell in the
        # one-cell-per-line layouts; `||`/`|||` lines are merged-cell filler.
        return (Cell(""),)
    if is_footer(text):
        return ()
    if "|" in text:
        return _separated(text, "|")
    if "\t" in text:
        return _separated(text, "\t")
    return _words(text)


def split_cells(doc: Document) -> Document:
    """Split every line that is still one unpositioned cell: a text line or an HTML paragraph.

    Cells of an HTML grid (they carry their grid column) are cells already.
    """
    lines = tuple(
        Line(split_line(line.cells[0].text), line.number, line.page, line.table)
        if len(line.cells) == 1 and line.cells[0].pos is None
        else line
        for line in doc.lines
    )
    return replace(doc, lines=lines)
