"""The locate stage: turn cells into tokens and find where each table lies.

Tables are found by their section headings and their first row labels, never by a line
offset: headings go missing (a table pasted without its title), prose sits between heading
and table, and navigation debris comes before everything.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import count, repeat
from typing import Literal, NamedTuple

from .. import template as T
from ..document import Cell, Document, Line, TextLines
from .layout import NUMBER, RUN, Cutter, cutter, line_pieces
from .normalize import is_traditional, normalize_text, squeeze, traditional_count

BLANK = re.compile(r"^(?:|-+|—+|/|\\|无|空)$")  # printed for "nothing": null, never 0
# A sentence, not a label: table labels are short and never end a sentence.
_PROSE_LENGTH = 60


class Token(NamedTuple):  # a NamedTuple: tens of thousands per report are built in the hot loop
    kind: Literal["text", "value"]
    text: str  # text: normalised, whitespace removed; value: the cell as printed
    value: int | float | None  # value tokens: the number, None when printed blank
    unit: str | None  # 元 / 万元 when glued to the number
    pos: float | None
    first_in_line: bool
    values_in_line: int
    garbled: bool  # text printed among a row's numbers: a cell that is not a number
    part: int | None  # the piece of a line holding a flattened table (Line.part)
    glued: bool  # a run of digits from a flattened table: its cell boundaries are not printed
    # A sentence, not a label. Pieces of a flattened table are cut at sentence ends: only a
    # sentence is prose there. (A field, not a property: locating and parsing ask it of every token.)
    prose: bool
    line: int  # last: a line's tokens are read once, and each occurrence only adds its number

    @property
    def place(self) -> tuple[int, int]:
        """The line (and piece of a flattened line) the token is printed on."""
        return self.line, self.part or 0


def parse_number(text: str) -> tuple[int | float, str | None]:
    unit = None
    for suffix in ("万元", "元"):
        if text.endswith(suffix):
            text, unit = text[: -len(suffix)], suffix
            break
    text = text.replace(",", "")
    number = float(text) if "." in text else int(text)
    return number, unit


# Digits no count is printed as: a leading zero (`0000000`) or more than nine digits: cells glued.
_GLUED_DIGITS = re.compile(r"0\d+|\d{10,}")


@lru_cache(maxsize=1 << 16)  # cells repeat: 0, labels, headers
def _classify(text: str) -> tuple[str, str, int | float | None, str | None]:
    """(kind, shown, number, unit) of a cell, a token's first fields: a number, a blank (printed
    or empty), glued digits ("run"), or text; `shown` is what the token keeps (text squeezed, a
    value as printed)."""
    if text.isdecimal():  # digits only (most cells): a count, or counts glued together
        return ("run", text, None, None) if len(text) >= 10 or (text[0] == "0" and len(text) > 1) else ("value", text, int(text), None)
    if (text.startswith("0") or len(text) >= 10) and _GLUED_DIGITS.fullmatch(text):
        return "run", text, None, None
    if NUMBER.match(text):
        return ("value", text, *parse_number(text))
    squeezed = squeeze(text)
    if BLANK.match(text) or not squeezed:
        return "value", text, None, None
    return "text", squeezed, None, None


# --- one pass over the lines: normalise, split and tokenise each line once ----------------------

# A token without its line number (its last field).
_Proto = tuple
# A loaded line read: the squeezed texts of the lines it becomes (several for a flattened
# table); the tokens they hold; whether it held a flattened table (the next line may continue
# it); its traditional characters and its length. Only strings, numbers and flat tuples of them:
# the collector stops tracking a cached read after its first pass over it.
_Read = tuple[tuple[str, ...], tuple[_Proto, ...], bool, int, int]


class Lines(NamedTuple):
    """A document read line by line: what every later stage reads."""

    texts: list[str]  # each line's text, normalised and without whitespace (metadata, citations)
    tokens: list[Token]
    simplified: bool  # read as traditional text, simplified (繁→简): see `normalized_document`


# Loaded lines repeat within a report (`0 |`, `|||`) and across reports (labels, headers): each
# distinct one is read once per template (`Cutter.reads`). One cache per (繁→简, after a
# flattened line), keyed by the line's text where it is one unpositioned cell (a text line: a
# str keeps the cache small for the garbage collector), else by its cells.
_READS_LIMIT = 1 << 13  # distinct lines kept; then the caches start again (a batch's memory stays flat)
_new = tuple.__new__  # a NamedTuple built from a tuple, without its Python-level __new__


def read_lines(doc: Document, template: T.Template = T.NATIONAL) -> Lines:
    """Normalise every cell, split every line into its cells, cut a line holding a flattened
    table into its pieces, and tokenise: in one pass, each distinct line read once. 繁→简 is
    decided once for the whole document: a traditional one is read again, simplified. `doc` is as
    loaded (no line has pieces yet); a flattened table is cut at `template`'s titles and labels."""
    cut = cutter(template)
    if sum(map(len, cut.reads)) > _READS_LIMIT:
        for cache in cut.reads:
            cache.clear()
    texts, tokens, hits, length = _read_lines(doc, False, cut)
    if is_traditional(hits, length):
        texts, tokens, _, _ = _read_lines(doc, True, cut)
        return Lines(texts, tokens, True)
    return Lines(texts, tokens, False)


def _read_lines(doc: Document, simplify: bool, cut: Cutter) -> tuple[list[str], list[Token], int, int]:
    ordinary, after_flattened = cut.reads[2:] if simplify else cut.reads[:2]
    squeezed: list[str] = []
    tokens: list[Token] = []
    add_texts, add_token, add_tokens = squeezed.extend, tokens.append, tokens.extend
    continued = False
    hits = length = 0
    for key, cells, number in _keyed(doc.lines):
        cache = after_flattened if continued else ordinary
        read = cache.get(key)
        if read is None:
            read = cache[key] = _read(cells or (_new(Cell, (key, None)),), simplify, continued, cut)
        texts, protos, continued, line_hits, line_length = read
        hits += line_hits
        length += line_length
        add_texts(texts)
        if len(protos) == 1:  # one cell per line: most lines of text layouts
            add_token(_new(Token, protos[0] + (number,)))
        elif protos:
            at = (number,)
            add_tokens([_new(Token, proto + at) for proto in protos])
    return squeezed, tokens, hits, length


def _keyed(lines: Sequence[Line]) -> Iterator[tuple[str | tuple[Cell, ...], tuple[Cell, ...] | None, int]]:
    """(cache key, cells, number) of each line: a line of one unpositioned cell is keyed by its
    text, and the cells of a text document's lines are left to be made where a line is read."""
    if isinstance(lines, TextLines):
        return zip(lines.texts, repeat(None), count(1))
    return ((cells[0][0] if len(cells) == 1 and cells[0][1] is None else cells, cells, number) for cells, number, *_ in lines)


def normalized_document(doc: Document, simplified: bool, template: T.Template = T.NATIONAL) -> Document:
    """The document as the rules read it: each cell normalised (and simplified, where
    `read_lines` found it traditional), each line split into its cells, a flattened table cut
    into its pieces (`Line.part`). Made on demand (the text an LLM reads): tokens need none of it."""
    cut = cutter(template)
    lines: list[Line] = []
    continued = False
    for cells, number, page, table, _ in doc.lines:
        pieces = _pieces(cells, simplified, continued, cut)
        continued = pieces[0][1] is not None
        lines += [_new(Line, (cells, number, page, table, part)) for cells, part in pieces]
    return Document(doc.source, tuple(lines), doc.ocr)


def _pieces(cells: tuple[Cell, ...], simplify: bool, continued: bool, cut: Cutter) -> tuple[tuple[tuple[Cell, ...], int | None], ...]:
    """A loaded line normalised and split: its lines, as (cells, part) (see `line_pieces`)."""
    if len(cells) == 1:  # every line of a text report
        text = cells[0].text
        normalised = normalize_text(text, simplify=simplify)
        if normalised is not text:
            cells = (_new(Cell, (normalised, cells[0].pos)),)
        return line_pieces(cells, continued, cut)
    texts = [c.text for c in cells]
    normalised = [normalize_text(text, simplify=simplify) for text in texts]
    if any(new is not old for new, old in zip(normalised, texts)):
        cells = tuple([_new(Cell, (text, c.pos)) for text, c in zip(normalised, cells)])
    return line_pieces(cells, continued, cut)


def _read(cells: tuple[Cell, ...], simplify: bool, continued: bool, cut: Cutter) -> _Read:
    pieces = _pieces(cells, simplify, continued, cut)
    squeezed = tuple(["".join("".join([c.text for c in piece]).split()) for piece, _ in pieces])
    protos = tuple([proto for piece, part in pieces for proto in _tokens(piece, part)])
    texts = [c.text for c in cells]
    return squeezed, protos, pieces[0][1] is not None, sum(map(traditional_count, texts)), sum(map(len, texts))


def _tokens(cells: tuple[Cell, ...], part: int | None) -> list[_Proto]:
    """The tokens of one line (its number left out)."""
    if len(cells) == 1:  # one cell per line: most lines of text layouts, every flattened piece
        return [_one_cell(cells[0], part)]
    heads = [_classify(cell.text.strip()) for cell in cells]  # each token's first fields
    numbers = [i for i, head in enumerate(heads) if head[2] is not None or head[0] == "run"]
    texts = [head[0] for head in heads].count("text")
    # Labels come before a row's numbers; text between two numbers fills a value cell (a
    # footnote mark, a unit, a watermark): that cell cannot be read.
    garbled = ()
    if numbers and numbers[-1] - numbers[0] >= len(numbers):  # something between its numbers
        garbled = {i for i in range(numbers[0] + 1, numbers[-1]) if heads[i][0] == "text"}
    values = len(heads) - texts + len(garbled)
    tokens = []
    for index, (cell, head) in enumerate(zip(cells, heads)):
        if head[0] == "value":  # most cells
            tokens.append(head + (cell.pos, index == 0, values, False, part, False, False))
        elif head[0] == "run":
            tokens.append(("value", head[1], None, None, cell.pos, index == 0, values, False, part, True, False))
        elif index in garbled:
            tokens.append(("value", cell.text.strip(), None, None, cell.pos, False, values, True, part, False, False))
        else:
            shown = head[1]
            prose = part is None and len(shown) > _PROSE_LENGTH or "。" in shown
            tokens.append(head + (cell.pos, index == 0, values, False, part, False, prose))
    return tokens


def _one_cell(cell: Cell, part: int | None) -> _Proto:
    """The token of a line of one cell: a number, a blank, text, or glued digits (a piece of a
    flattened line that is a run of digits, spaces and all)."""
    text = cell.text.strip()
    head = _classify(text)
    if head[0] == "run" or (part is not None and RUN.fullmatch(text)):
        return ("value", text, None, None, cell.pos, True, 1, False, part, True, False)
    if head[0] == "value":
        return head + (cell.pos, True, 1, False, part, False, False)
    shown = head[1]
    prose = part is None and len(shown) > _PROSE_LENGTH or "。" in shown
    return head + (cell.pos, True, 0, False, part, False, prose)


@dataclass(frozen=True)
class Region:
    table: str
    start: int  # token indices, end exclusive
    end: int


class _Searched(NamedTuple):
    """A report's tokens and, in order, the indices of those the searches below read: labels
    (text, not prose) and possible headings (text alone on its line). Made once per report: each
    search then skips the tokens that can never match (most of them are values)."""

    tokens: list[Token]
    labels: list[int]
    headings: list[int]


def _searched(tokens: list[Token]) -> _Searched:
    labels, headings = [], []
    for i, token in enumerate(tokens):
        if token.kind == "text":
            if not token.prose:
                labels.append(i)
            if token.first_in_line and not token.values_in_line:
                headings.append(i)
    return _Searched(tokens, labels, headings)


def _among(indices: list[int], start: int, end: int | None) -> list[int]:
    """The indices in [start, end) of a sorted list."""
    return indices[bisect_left(indices, start) : len(indices) if end is None else bisect_left(indices, end)]


def _is_heading(token: Token, regex: re.Pattern[str]) -> bool:
    """Whether a possible heading (`_Searched.headings`) is one: in running text a heading is
    followed by whatever comes next, so only its start is read."""
    text = token.text if token.part is None else token.text[:32]
    return len(text) <= 32 and regex.search(text) is not None


def _is_text(token: Token) -> bool:
    return token.kind == "text" and not token.prose


def _find(searched: _Searched, pattern: str, start: int = 0, end: int | None = None) -> int | None:
    search, tokens = re.compile(pattern).search, searched.tokens
    return next((i for i in _among(searched.labels, start, end) if search(tokens[i].text) is not None), None)


def _headings(searched: _Searched, pattern: str, start: int = 0, end: int | None = None) -> list[int]:
    regex, tokens = re.compile(pattern), searched.tokens
    return [i for i in _among(searched.headings, start, end) if _is_heading(tokens[i], regex)]


def _first_rows(searched: _Searched, rows: T.FirstRows) -> int | None:
    """The first row label of a table found by its rows: one followed closely by its second row."""
    search, tokens = re.compile(rows.first).search, searched.tokens
    candidates = []
    for i in searched.labels:
        token = tokens[i]
        if search(token.text) is not None:
            candidates.append(i)
        # A flattened label wrapped at the margin (一、本 / 年新收…) is found across both, at the first.
        elif i and token.part is not None and _is_text(tokens[i - 1]) and search(tokens[i - 1].text[-8:] + token.text[:8]):
            candidates.append(i - 1)
    for i in candidates:
        if _find(searched, rows.then, i + 1, min(len(tokens), i + rows.within)) is not None:
            return i
    return candidates[0] if candidates else None


def _found_by_rows(searched: _Searched, table: T.Table) -> tuple[int, int] | None:
    """(start, end of its rows) of a table found by its rows: it begins at the last heading before
    them, else its header words close before them, else its first row."""
    rows, tokens = table.found_by, searched.tokens
    anchor = _first_rows(searched, rows)
    if anchor is None:
        return None
    headings = _headings(searched, table.heading, 0, anchor)
    header = _find(searched, table.header, max(0, anchor - rows.header_reach), anchor) if table.header else None
    start = headings[-1] if headings else header if header is not None else anchor
    last_row = _find(searched, rows.last, anchor) or anchor
    end = last_row + 1
    while end < len(tokens) and (tokens[end].kind == "value" or tokens[end].place == tokens[last_row].place):
        end += 1
    return start, end


def _first_heading(searched: _Searched, pattern: str, start: int) -> int | None:
    regex, tokens = re.compile(pattern), searched.tokens
    return next((i for i in _among(searched.headings, start, None) if _is_heading(tokens[i], regex)), None)


def locate(tokens: list[Token], template: T.Template = T.NATIONAL) -> dict[str, Region]:
    """Regions of the tables found, keyed by table key; a table not found is not in the dict.

    The table found by its rows (表三) comes first; each table after it is searched from the one
    before (its first heading, else its header words), each table before it up to the one after
    (its last heading there, else its header words). A table ends where the next one found
    begins; the last one at its own end (after its rows, at a heading of `ends`, or the text's end)."""
    tables = template.tables
    searched = _searched(tokens)
    pivot = next((i for i, t in enumerate(tables) if t.found_by), None)
    spans: dict[int, tuple[int, int]] = {}  # table index -> (start, its own end)
    search_from = 0
    if pivot is not None and (found := _found_by_rows(searched, tables[pivot])) is not None:
        spans[pivot] = found
        search_from = found[1]
    for i in range(0 if pivot is None else pivot + 1, len(tables)):
        table = tables[i]
        start = _first_heading(searched, table.heading, search_from)
        if start is None and table.header:
            start = _find(searched, table.header, search_from)
        if start is None:
            continue
        end = (_first_heading(searched, table.ends, start + 1) if table.ends else None) or len(tokens)
        spans[i] = (start, end)
        search_from = start + 1
    for i in reversed(range(pivot or 0)):
        table = tables[i]
        end = next((spans[j][0] for j in range(i + 1, len(tables)) if j in spans), len(tokens))
        headings = _headings(searched, table.heading, 0, end)
        start = headings[-1] if headings else _find(searched, table.header, 0, end) if table.header else None
        if start is not None:
            spans[i] = (start, end)
    regions: dict[str, Region] = {}
    found = sorted(spans)
    for n, i in enumerate(found):
        start, end = spans[i]
        key = tables[i].key
        regions[key] = Region(key, start, spans[found[n + 1]][0] if n + 1 < len(found) else end)
    return regions
