"""HTML pages: text blocks as single-cell lines, table rows as grid-placed cells.

One cell per ``<td>``, placed at its grid column after resolving rowspan/colspan; text outside
tables one line per block. Cell texts are raw: no NFKC, no simplified/traditional conversion.
`Segments` (text collected into block-level segments) is shared with the DOCX reader.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING

from gxllm.document import Cell, Line
from gxllm.errors import InputError

if TYPE_CHECKING:  # lxml loads only for the inputs that need it
    from lxml.etree import _Element as Tag

_DROP = frozenset(
    "script style noscript head title template iframe object embed svg canvas audio video select".split()
)
_BLOCK = frozenset(
    """address article aside blockquote body center dd details dialog dir div dl dt fieldset
    figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html legend li main menu
    nav ol p pre section summary ul caption table thead tbody tfoot tr td th""".split()
)
_ROW_CELL = frozenset(("td", "th"))
_HIDDEN = re.compile(r"display\s*:\s*none", re.IGNORECASE)
_WS = re.compile(r"\s+")


def _collapse(s: str) -> str:
    return _WS.sub(" ", s.replace("\xa0", " ")).strip()


def _contents(tag: Tag) -> Iterator[Tag | str]:
    """An element's children in document order, texts included (lxml keeps a child's following
    text as its `tail`); comments and processing instructions are left out, their tails kept."""
    if tag.text:
        yield tag.text
    for child in tag:
        if isinstance(child.tag, str):
            yield child
        if child.tail:
            yield child.tail


def _dropped(tag: Tag) -> bool:
    if tag.tag in _DROP:
        return True
    style = tag.get("style")
    return isinstance(style, str) and "none" in style and _HIDDEN.search(style) is not None


class Segments:
    """Collects text; `boundary()` closes a segment (a block edge). Inline runs join as-is.

    Whitespace is collapsed for HTML; DOCX keeps its tabs (`collapse=False`), which mark cells.
    """

    def __init__(self, *, collapse: bool = True) -> None:
        self.parts: list[str] = []
        self.segments: list[str] = []
        self.collapse = collapse

    def add(self, s: str) -> None:
        self.parts.append(s)

    def boundary(self) -> None:
        if self.parts:
            seg = "".join(self.parts)
            self.parts.clear()
            seg = _collapse(seg) if self.collapse else seg
            if seg.strip():
                self.emit(seg)

    def emit(self, seg: str) -> None:
        self.segments.append(seg)


class _Lines(Segments):
    """Document-level collector: every segment is a single-cell line; tables add row lines."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[Line] = []
        self.tables = 0  # ordinal of the data table whose rows are being emitted

    def emit(self, seg: str) -> None:
        self.lines.append(Line((Cell(seg),), len(self.lines) + 1))

    def row(self, cells: list[Cell]) -> None:
        self.boundary()
        self.lines.append(Line(tuple(cells), len(self.lines) + 1, table=self.tables))


def _walk(root: Tag, out: Segments, *, cell_mode: bool) -> None:
    """Feed the text under `root` to `out` in document order (iteratively: no recursion limit).

    Document mode hands each <table> to `_table`. Cell mode flattens nested tables into the text
    and skips <td>/<th>/<tr> of the cell's own table.
    """
    stack = [_contents(root)]
    opened: list[Tag | None] = [None]
    nested_tables = 0
    pre = 0
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            tag = opened.pop()
            if tag is not None:
                if tag.tag == "table":
                    nested_tables -= 1
                elif tag.tag == "pre":
                    pre -= 1
                if tag.tag in _BLOCK:
                    out.boundary()
            continue
        if not isinstance(child, str):
            name = child.tag
            if _dropped(child):
                continue
            if name == "br":
                out.boundary()
                continue
            if name == "table" and not cell_mode and not _is_layout(child):
                out.boundary()
                out.tables += 1  # type: ignore[attr-defined]
                _table(child, out)  # type: ignore[arg-type]
                continue
            # A table holding tables is page layout (old CMS templates): its cells are regions
            # of the page, walked like any block, and the data tables inside get their grids.
            if cell_mode and nested_tables == 0 and (name in _ROW_CELL or name == "tr"):
                continue
            if name in _BLOCK:
                out.boundary()
            if name == "table":
                nested_tables += 1
            elif name == "pre":
                pre += 1
            stack.append(_contents(child))
            opened.append(child)
        else:
            if pre and "\n" in child:
                first, *rest = child.split("\n")
                out.add(first)
                for part in rest:
                    out.boundary()
                    out.add(part)
            else:
                out.add(child)


def _is_layout(table: Tag) -> bool:
    """A table with whole tables (several rows) inside its cells; a one-cell table in a cell is
    a Word quirk and stays part of that cell's text."""
    return any(len(list(islice(inner.iterdescendants("tr"), 2))) > 1 for inner in table.iterdescendants("table"))


def _cell_text(cell: Tag) -> str:
    seg = Segments()
    _walk(cell, seg, cell_mode=True)
    seg.boundary()
    return " ".join(seg.segments)


_SPAN = re.compile(r"\s*(\d+)")


def _span(tag: Tag, attr: str, limit: int) -> int:
    """HTML's rules for rowspan/colspan: leading digits ("2;" is 2); missing, bad or 0 is 1."""
    value = tag.get(attr)
    m = _SPAN.match(value) if isinstance(value, str) else None
    n = int(m.group(1)) if m else 1
    return min(max(n, 1), limit)


def _row_cells(tr: Tag) -> list[Tag]:
    """<td>/<th> of this row in order: not inside nested tables or rows nested by unclosed <tr>."""
    cells: list[Tag] = []
    stack = [iter(tr)]
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
        elif isinstance(child.tag, str) and child.tag not in ("table", "tr") and not _dropped(child):
            if child.tag in _ROW_CELL:
                cells.append(child)
            stack.append(iter(child))
    return cells


def _table(table: Tag, out: _Lines) -> None:
    """Emit one line per <tr>, each cell once at the grid column where it starts.

    Text inside the table but outside any cell (a <caption>, stray markup) becomes ordinary
    lines where it occurs.
    """
    busy: dict[int, int] = {}  # grid column -> last row index a rowspan covers it
    r = 0
    stack = [_contents(table)]
    opened: list[Tag | None] = [None]
    in_cell = 0
    while stack:
        child = next(stack[-1], None)
        if child is None:
            stack.pop()
            tag = opened.pop()
            if tag is not None:
                if tag.tag in _ROW_CELL:
                    in_cell -= 1
                elif in_cell == 0 and tag.tag in _BLOCK:
                    out.boundary()
            continue
        if not isinstance(child, str):
            name = child.tag
            if name == "table" or _dropped(child):
                continue  # nested tables belong to a cell's text
            if in_cell == 0 and name == "caption":
                out.boundary()
                out.add(_cell_text(child))
                out.boundary()
                continue
            if name == "br" and in_cell == 0:
                out.boundary()
                continue
            if name == "tr":
                cells: list[Cell] = []
                col = 0
                for td in _row_cells(child):
                    while busy.get(col, -1) >= r:
                        col += 1
                    rowspan, colspan = _span(td, "rowspan", 65534), _span(td, "colspan", 1000)
                    cells.append(Cell(_cell_text(td), float(col)))
                    for c in range(col, col + colspan):
                        busy[c] = r + rowspan - 1
                    col += colspan
                out.row(cells)
                r += 1
            elif name in _ROW_CELL:
                in_cell += 1
            elif in_cell == 0 and name in _BLOCK:
                out.boundary()
            stack.append(_contents(child))  # kept for markup nested where it should not be
            opened.append(child)
        elif in_cell == 0:
            out.add(child)
    out.boundary()


# libxml2 turns these controls into U+FFFD; as whitespace they collapse the way they always did.
_PARSER_WHITESPACE = str.maketrans("\x0b\x0c", "  ")
# libxml2 drops text after </html>; without the closing tags it stays in the body.
_DOCUMENT_END = re.compile(r"</(?:html|body)\s*>", re.IGNORECASE)


def html_lines(html: str) -> tuple[Line, ...]:
    """Lines of an HTML page: text blocks as single-cell lines, table rows as grid-placed cells.

    Parsed by lxml (libxml2), which closes unclosed cells and rows the way browsers do. Raises
    RecursionError for markup nested deeper than libxml2's limit (2,048 elements).
    """
    from lxml import etree

    # Encoded again because lxml refuses a str that carries an encoding declaration.
    data = _DOCUMENT_END.sub("", html.translate(_PARSER_WHITESPACE)).encode("utf-8")
    parser = etree.HTMLParser(encoding="utf-8", huge_tree=True)
    root = etree.fromstring(data, parser)
    if any(e.type_name == "ERR_RESOURCE_LIMIT" for e in parser.error_log):
        raise RecursionError("HTML nested too deeply")
    out = _Lines()
    if root is not None:
        _walk(root, out, cell_mode=False)
    out.boundary()
    return tuple(out.lines)


def read(html: str, name: str) -> tuple[tuple[Line, ...], dict]:
    try:
        return html_lines(html), {}
    except RecursionError:
        raise InputError(f"{name}: HTML is nested too deeply to read") from None
    except Exception as e:  # a few pathological inputs the parser rejects
        raise InputError(f"{name}: cannot parse this HTML ({type(e).__name__}: {e})") from None
