"""The document every loader produces and every later stage reads.

A document is a sequence of lines; a line is a sequence of cells. What a "cell" is depends on
where the text came from: an HTML ``<td>``, a ``|``-separated field, a run of text between
wide gaps in a PDF text layer, or a whole line of scraped text. ``pos`` is a horizontal
position that is comparable between lines of the same table (a grid column for HTML, a
character offset for text layers) so that a row with blank cells can be aligned to its
columns; it is ``None`` where the source gives no such position.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import count
from typing import NamedTuple

# Below this the OCR itself is unsure of a word: such a number needs an identity to vouch for it.
LOW_CONFIDENCE = 0.7


# Cells and lines are NamedTuples: immutable, and cheap to build in the numbers every report needs.
class Cell(NamedTuple):
    text: str
    pos: float | None = None


class Line(NamedTuple):
    cells: tuple[Cell, ...]
    number: int  # 1-based ordinal of the line (text), row or paragraph (HTML, PDF, DOCX)
    page: int | None = None  # PDF: 1-based page the line is printed on
    table: int | None = None  # HTML/DOCX/PDF: 1-based ordinal of the table grid the row belongs to
    # A table flattened into running text is cut into pieces, each a line of its own with the
    # source line's number: `part` numbers them (None for every ordinary line).
    part: int | None = None

    @property
    def text(self) -> str:
        cells = self.cells
        return cells[0].text if len(cells) == 1 else " ".join([c.text for c in cells])

    @property
    def pipe_text(self) -> str:
        """The cells separated by " | ": a table row as shown to a person or an LLM."""
        cells = self.cells
        return cells[0].text if len(cells) == 1 else " | ".join([c.text for c in cells])


@dataclass(frozen=True)
class Source:
    """Where a document came from: what the result records about its input."""

    name: str
    format: str  # "text" | "html" | "pdf" | "docx"
    encoding: str | None  # None for binary formats (PDF, DOCX) that carry their own encoding
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class OcrRead:
    """How one cell of a scanned page was read: the page, its box (PDF points), the lowest
    confidence of its words, whether look-alike letters were turned into digits (O→0, l→1), and
    a small PNG of the scan there (a data URL) for the review page."""

    page: int
    box: tuple[float, float, float, float]  # x0, top, x1, bottom
    confidence: float
    corrected: bool
    crop: str = ""

    @property
    def suspect(self) -> bool:
        return self.confidence < LOW_CONFIDENCE or self.corrected


_new = tuple.__new__  # a NamedTuple built from a tuple, without its Python-level __new__


def _text_line(text: str, number: int) -> Line:
    return _new(Line, ((_new(Cell, (text, None)),), number, None, None, None))


class TextLines(Sequence[Line]):
    """The lines of a plain-text document, a tuple of `Line`s to every reader: line n is
    `texts[n - 1]` as one unpositioned cell, with no page or table. Each Line is made when it is
    read: the rules read `texts` (`tables.locate.read_lines`), so most lines of a report never
    become objects (~0.7 µs each, 8% of reading a text report)."""

    __slots__ = ("texts",)

    def __init__(self, texts: Sequence[str]):
        self.texts = tuple(texts)

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return tuple(map(_text_line, self.texts[index], range(1, len(self.texts) + 1)[index]))
        number = range(1, len(self.texts) + 1)[index]  # (an IndexError as a tuple's)
        return _text_line(self.texts[number - 1], number)

    def __iter__(self) -> Iterator[Line]:
        return map(_text_line, self.texts, count(1))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, TextLines):
            return self.texts == other.texts
        return tuple(self) == other if isinstance(other, tuple) else NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"TextLines({len(self.texts)} lines)"


def placed_lines(lines: Sequence[Line]) -> dict[int, Line]:
    """Line number -> line, of the lines printed on a page or in a table grid (none in plain text)."""
    if isinstance(lines, TextLines):
        return {}
    return {line.number: line for line in lines if line.page is not None or line.table is not None}


def shown_lines(lines: Sequence[Line], first: int, last: int) -> list[tuple[int, str]]:
    """(number, `Line.pipe_text`) of the lines numbered first…last, but blank ones: a table as a
    reviewer reads it. Loaders number lines 1, 2, 3…: the lines are a slice of `lines`."""
    if isinstance(lines, TextLines):
        return [(number, text) for number, text in zip(range(first, last + 1), lines.texts[first - 1 : last]) if text.strip()]
    return [
        (line.number, text)
        for line in lines[first - 1 : last]
        if first <= line.number <= last and (text := line.pipe_text).strip()
    ]


@dataclass(frozen=True)
class Document:
    source: Source
    lines: Sequence[Line]  # a tuple, or a text document's `TextLines`
    # Scans: how each OCR cell was read, by (line number, cell position); empty for text.
    ocr: Mapping[tuple[int, float | None], OcrRead] = field(default_factory=dict)
