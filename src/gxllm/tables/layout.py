"""Split normalised text lines into cells, the way each text layout marks them.

- `|` (scraped tables, markdown) and tabs mark cells explicitly; an empty field between two
  separators is a blank cell, kept in place so a row never shifts.
- Otherwise words are cells: numbers always stand alone, and words of text separated by a
  single space are one label broken by a space (`自然 人`, `总 计`). A word's character
  offset is its position, comparable between lines of a PDF text layer.

Page footers (`-4-`, `第 3 页`) are dropped wherever they appear, also inside a table.

A table flattened into running text by a crawler (`…申请数量21710000218二、上年结转…`) has no
cell boundaries at all. Such a line is cut into pieces, each a line part of its own: labels,
headings, sentences and digit runs. A run keeps its spaces (the only boundaries it has); the
parse stage splits it into cells with the template's identities (`gxllm.tables.split`).
"""

from __future__ import annotations

import re

from .. import template as T
from ..document import Cell

_FOOTER = re.compile(r"^\s*(?:[-—]\s*\d{1,3}\s*[-—]|第\s*\d{1,3}\s*页(?:\s*[,/]?\s*共\s*\d{1,3}\s*页)?|\d{1,3}\s*/\s*\d{1,3})\s*$")
_MARKDOWN_RULE = re.compile(r"^:?-{2,}:?$")
NUMBER = re.compile(r"^[+-]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:万元|元)?$")


_new = tuple.__new__  # a Cell built from a tuple, without the NamedTuple's Python-level __new__


def is_footer(text: str) -> bool:
    return bool(_FOOTER.match(text))


def _separated(text: str, separator: str) -> tuple[Cell, ...]:
    fields = list(map(str.strip, text.split(separator)))
    rule = "--" in text  # (a markdown rule line has `--` in every field)
    if separator == "|" and len(fields) > 2 and not fields[0] and not fields[-1]:
        # A markdown row: its outer pipes delimit every field, so the field index is a grid
        # column and an empty field at either end is a real blank cell.
        fields = fields[1:-1]
        if not any(fields) or rule and all(_MARKDOWN_RULE.match(f) for f in fields):
            return ()
        return tuple([_new(Cell, (f, float(i))) for i, f in enumerate(fields)])
    while fields and not fields[-1]:
        fields.pop()
    while fields and not fields[0]:
        fields.pop(0)
    if not fields or rule and all(_MARKDOWN_RULE.match(f) for f in fields):
        return ()
    return tuple([_new(Cell, (f, None)) for f in fields])


def _words(text: str) -> tuple[Cell, ...]:
    cells: list[Cell] = []
    at = 0
    previous_end = -2
    joinable = False  # the last cell is text, not a number: a word of text right after continues it
    for word in text.split():
        start = text.find(word, at)  # words are whitespace-separated: the next one starts here
        end = at = start + len(word)
        numeric = word.isdecimal() or NUMBER.match(word) is not None  # (digits only: a number)
        if joinable and not numeric and start - previous_end == 1:
            joined = cells[-1].text + word
            cells[-1] = _new(Cell, (joined, cells[-1].pos))
            joinable = NUMBER.match(joined) is None
        else:
            cells.append(_new(Cell, (word, (start + end) / 2 if numeric else float(start))))
            joinable = not numeric
        previous_end = end
    return tuple(cells)


def split_line(text: str) -> tuple[Cell, ...]:
    if not text:
        return ()  # an empty line separates cells; it is not one
    stripped = text.strip()
    if not stripped or stripped == "|":
        # A line holding only spaces (&nbsp;) or a lone `|` is an empty cell in the
        # one-cell-per-line layouts; `||`/`|||` lines are merged-cell filler.
        return (Cell(""),)
    if _FOOTER.match(text):
        return ()
    if "|" in text:
        return _separated(text, "|")
    if "\t" in text:
        return _separated(text, "\t")
    return _words(text)


# --- tables flattened into running text ---------------------------------------------------------

# A digit run: numbers glued together, with the spaces a crawler sometimes left between cells.
RUN = re.compile(r"-?\d(?:[\d.,]*\d)?(?:[ \t]*-?\d(?:[\d.,]*\d)?)*")
# Where a new piece of running text begins: a section or row numbering (三、 (一) 2.), the end
# of a table's title, the end of a sentence.
_NUMBERING = r"[一二三四五六七八九十]+、|\([一二三四五六七八九十]+\)|\d[.、](?=[^\d\s]|$)"


class Cutter:
    """How one template's tables are cut out of running text: where a piece begins (a numbering,
    the end of one of its tables' titles, the end of a sentence), and the row labels that, glued
    to digits, tell a flattened table (not a count in a sentence: 规章1件, 行政复议351件). It
    also keeps the lines already read with it (`tables.locate.read_lines`)."""

    __slots__ = ("piece_start", "label_glued", "reads")

    def __init__(self, template: T.Template):
        titles = "|".join(f"(?<={re.escape(t.title)})" for t in template.tables)
        self.piece_start = re.compile(rf"(?={_NUMBERING})|(?<=。)|{titles}")
        anchors = "|".join(sorted({r.anchor for t in template.tables for s in t.shapes for r in s.rows}))
        self.label_glued = re.compile(
            rf"(?:{anchors})(?:[^\d\s。]*[\u3400-\u9fff)\"])?\d+(?:[.,]\d+)*(?![\d.,]|\s*[件条个次人项余多名份家])"
        )
        # Distinct loaded lines read with this template, per (繁→简, after a flattened line).
        self.reads: tuple[dict, dict, dict, dict] = ({}, {}, {}, {})


_CUTTERS: dict[int, tuple[T.Template, Cutter]] = {}


def cutter(template: T.Template) -> Cutter:
    """The template's cutter, made once (looked up by identity: hashing a template is not cheap)."""
    kept = _CUTTERS.get(id(template))
    if kept is None or kept[0] is not template:
        kept = _CUTTERS[id(template)] = (template, Cutter(template))
    return kept[1]


_SPACE_IN_LABEL = re.compile(r"(?<=[^\d\s])\s+(?=[^\d\s])")
# The next line of a flattened table wrapped at the margin need not hold a row label.
# (A digit first, what is glued to it second: the search then skips to digits, ~1.7× faster.)
_TEXT_GLUED_TO_DIGITS = re.compile(r"\d(?:(?<=[\u3400-\u9fff)\"]\d)|[\u3400-\u9fff(])")


def _segments(text: str, cut: Cutter) -> list[str]:
    cuts = sorted({m.start() for m in cut.piece_start.finditer(text)} | {0, len(text)})
    return [text[a:b] for a, b in zip(cuts, cuts[1:]) if text[a:b].strip()]


def flattened_pieces(text: str, continued: bool = False, template: T.Template = T.NATIONAL) -> list[str] | None:
    """The pieces of a line holding a flattened table, in order; None for any other line.
    `continued`: the line before was one (a paragraph wrapped at the margin), so text glued to
    digits is enough.

    Sentences (they end in 。) stay whole. The numbering of a row label glued to the previous
    row's digits (`00000002.其他法律…`) belongs to the label: a number never ends in `.` or `、`
    followed by text.
    """
    return _flattened(text, continued, cutter(template))


def _flattened(text: str, continued: bool, cut: Cutter) -> list[str] | None:
    segments = _segments(text, cut)
    glued = _TEXT_GLUED_TO_DIGITS if continued else cut.label_glued
    if not any("。" not in s and glued.search(_SPACE_IN_LABEL.sub("", s)) for s in segments):
        return None
    pieces: list[str] = []
    for segment in segments:
        if "。" in segment:
            pieces.append(segment.strip())
            continue
        numbering = re.match(r"\d[.、](?!\d)", segment)  # a row's own 1. 2. is not a number
        at = 0
        for match in RUN.finditer(segment, numbering.end() if numbering else 0):
            pieces.append(segment[at : match.start()])
            pieces.append(match.group())
            at = match.end()
        pieces.append(segment[at:])
    return [p.strip() for p in pieces if p.strip()]


def _pieces_of(text: str, continued: bool, cut: Cutter) -> tuple[str, ...] | None:
    # most lines have no text glued to a digit at all: only those can hold a flattened table
    if not _TEXT_GLUED_TO_DIGITS.search(text):
        return None
    pieces = _flattened(text, continued, cut)
    return None if pieces is None else tuple(pieces)


def line_pieces(cells: tuple[Cell, ...], continued: bool, cut: Cutter) -> tuple[tuple[tuple[Cell, ...], int | None], ...]:
    """A normalised line's cells once split, as (cells, part) pairs: one pair (part None) for an
    ordinary line, one per piece for a line holding a flattened table (`continued`: the line
    before was one). A line that is still one unpositioned cell (a text line or an HTML
    paragraph) is split into its cells; the cells of an HTML grid (they carry their grid
    column) are cells already."""
    one = len(cells) == 1
    pieces = _pieces_of(cells[0].text if one else " ".join(c.text for c in cells), continued, cut)
    if pieces is not None:
        return tuple(((Cell(piece),), part) for part, piece in enumerate(pieces))
    if one and cells[0].pos is None:
        return ((split_line(cells[0].text), None),)
    return ((cells, None),)
