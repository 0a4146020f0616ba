"""The load stage: bytes in, a `Document` of raw cell texts out.

Sniffs what the input is (rejecting PDF, Word, binary and empty inputs with a one-line reason),
decodes it (BOM, UTF-8, UTF-16, the HTML charset declaration, then GB18030/Big5 detection) and
splits it into lines of cells: one cell per source line for text, one cell per ``<td>`` (placed
at its grid column after resolving rowspan/colspan) for HTML tables. Cell texts are *raw*: no
NFKC, no simplified/traditional conversion; normalisation is a later stage.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import stat
import sys
from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING

from gxllm.document import Cell, Document, Line, Source
from gxllm.errors import InputError

if TYPE_CHECKING:  # lxml and charset-normalizer load only for the inputs that need them
    from lxml.etree import _Element as Tag

MAX_BYTES = 20 * 1024 * 1024

_SNIFF_BYTES = 8192  # binary / UTF-16 detection window
_DECL_BYTES = 65536  # where an HTML charset declaration is looked for
_GUESS_BYTES = 65536  # sample the encoding detector reads
_HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".shtml")

# --- reading ---------------------------------------------------------------------------------


def read_input(path: str) -> tuple[bytes, str]:
    """Read a file ('-' = stdin bytes). Returns (data, display_name). Raises InputError."""
    if path == "-":
        name = "<stdin>"
        data = sys.stdin.buffer.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise InputError(
                f"{name}: more than {MAX_BYTES / 1048576:.1f} MB is too large for a report "
                "(limit 20 MB); is this the right file?"
            )
        return data, name
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise InputError(f"{path}: no such file") from None
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{path}: is a directory (give files, or a glob)")
    if st.st_size > MAX_BYTES:
        raise InputError(_too_large(path, st.st_size))
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_BYTES + 1)  # bounded even for pipes/devices that stat as size 0
    except PermissionError:
        raise InputError(f"{path}: permission denied") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read ({e.strerror or e})") from None
    if len(data) > MAX_BYTES:
        raise InputError(_too_large(path, len(data)))
    return data, path


def _too_large(path: str, size: int) -> str:
    size_mb = size / (1024 * 1024)
    return f"{path}: {size_mb:.1f} MB is too large for a report (limit 20 MB); is this the right file?"


# --- loading ---------------------------------------------------------------------------------


def load(data: bytes, name: str, encoding: str | None = None) -> Document:
    """Sniff the format, decode, and split into lines of cells. Raises InputError."""
    if not data.strip():
        raise InputError(f"{name}: empty input")
    container = _container(data, name)
    if container is not None:
        lines, ocr = _container_lines(container, data, name)
        return _document(data, name, container, None, lines, ocr)
    wide = _is_wide(encoding) if encoding is not None else _is_wide(_bom(data)[0] or "utf-8")
    if not wide and _sniff_utf16(data) is None and _looks_binary(data):
        raise InputError(f"{name}: binary file, not a text, HTML, PDF or Word report")

    html_hint = _html_name(name) or _looks_html_bytes(data)
    text, used = decode(data, encoding, is_html=html_hint, name=name)
    if not text.strip():
        raise InputError(f"{name}: empty input")

    fmt = sniff_format(text, name)
    if fmt == "html":
        try:
            lines = html_lines(text)
        except RecursionError:
            raise InputError(f"{name}: HTML is nested too deeply to read") from None
        except Exception as e:  # a few pathological inputs the parser rejects
            raise InputError(f"{name}: cannot parse this HTML ({type(e).__name__}: {e})") from None
    else:
        lines = text_lines(text)
    return _document(data, name, fmt, used, lines)


def _document(data: bytes, name: str, fmt: str, encoding: str | None, lines: tuple[Line, ...], ocr=None) -> Document:
    source = Source(name=name, format=fmt, encoding=encoding, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    return Document(source=source, lines=lines, ocr=ocr or {})


_PDF_HEADER_WINDOW = 1024  # readers accept junk before %PDF- within the first KB


def _container(data: bytes, name: str) -> str | None:
    """'pdf' or 'docx' for the binary formats gxllm reads; raises for the ones it cannot."""
    if b"%PDF-" in data[:_PDF_HEADER_WINDOW]:
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        return "docx"
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(
            f"{name}: legacy Word .doc (or an encrypted Office file) cannot be read; convert it to .docx first "
            "(libreoffice --headless --convert-to docx report.doc)"
        )
    return None


def _container_lines(container: str, data: bytes, name: str) -> tuple[tuple[Line, ...], dict]:
    """(lines, how each OCR cell was read) of a PDF or DOCX."""
    # Imported here so that text and HTML runs never pay for the PDF library.
    if container == "pdf":
        from gxllm.load_pdf import read_pdf

        return read_pdf(data, name)
    from gxllm.load_docx import docx_lines

    return docx_lines(data, name), {}


# Bytes that never occur in text (C0 controls except \t \n \v \f \r and ESC; DEL).
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27)) + b"\x7f"


def _looks_binary(data: bytes) -> bool:
    """NUL bytes (UTF-16 is ruled out by the caller) or mostly control bytes in the first 8 KB."""
    sample = data[:_SNIFF_BYTES]
    if b"\x00" in sample:
        return True
    controls = len(sample) - len(sample.translate(None, _CONTROL))
    return controls > 0.05 * len(sample)


def _is_wide(encoding: str) -> bool:
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        return False
    return codec.startswith(("utf-16", "utf-32"))


# --- decoding --------------------------------------------------------------------------------

_BOMS = (  # UTF-32 before UTF-16: FF FE 00 00 also starts with FF FE
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _bom(data: bytes) -> tuple[str | None, int]:
    for bom, enc in _BOMS:
        if data.startswith(bom):
            return enc, len(bom)
    return None, 0


def _sniff_utf16(data: bytes) -> str | None:
    """'utf-16-le'/'utf-16-be' for BOM-less UTF-16 (NULs of ASCII characters on one parity)."""
    sample = data[:_SNIFF_BYTES]
    if b"\x00" not in sample or len(sample) < 2:
        return None
    sample = sample[: len(sample) & ~1]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    # ASCII characters put their NUL on the odd (LE) or even (BE) byte; the check below rejects
    # binary data, whose NULs decode to control characters.
    enc = "utf-16-le" if odd >= even else "utf-16-be"
    text = sample.decode(enc, errors="replace")
    ascii_chars = bad = 0
    for ch in text:
        if ch < "\x80":
            ascii_chars += 1
            bad += ch < " " and ch not in "\t\n\r\v\f\x1b"
        else:  # UTF-8 or GBK bytes with a stray NUL read as UTF-16 give Hangul, Yi, private use
            bad += not ("\u3000" <= ch <= "\u9fff" or "\uff00" <= ch <= "\uffef" or "\u2000" <= ch <= "\u206f")
    ok = ascii_chars >= 0.01 * len(text) and bad <= 0.02 * len(text)
    return enc if ok else None


_DECLARED = re.compile(
    rb"""<meta\b[^>]*?charset\s*=\s*["']?\s*([-\w.:]+)|<\?xml\b[^>]*?encoding\s*=\s*["']([-\w.:]+)""",
    re.IGNORECASE,
)
_GB_ALIASES = {"gb2312", "gbk", "x-gbk", "cp936", "ms936", "windows-936", "gb_2312-80", "gb_2312",
               "euc-cn", "euccn", "csgb2312", "chinese", "gb18030", "hz-gb-2312"}  # fmt: skip
_BIG5_ALIASES = {"big5", "big-5", "cn-big5", "csbig5", "x-x-big5", "big5-hkscs", "big5hkscs",
                 "cp950", "ms950", "windows-950"}  # fmt: skip


def declared_encoding(data: bytes) -> str | None:
    """The codec named by an HTML <meta> charset or XML declaration, as a Python codec name.

    GB2312/GBK are widened to GB18030 and Big5 to Big5-HKSCS (supersets); unknown names and
    UTF-16/32 (impossible in an ASCII-compatible declaration) give None.
    """
    m = _DECLARED.search(data[:_DECL_BYTES])
    if not m:
        return None
    codec = _canonical((m.group(1) or m.group(2)).decode("ascii", "replace"))
    return None if codec is None or codec.startswith(("utf-16", "utf-32")) else codec


def _canonical(label: str) -> str | None:
    """A Python codec name for an encoding label; GB and Big5 variants widened to supersets."""
    label = label.strip().lower()
    if label in _GB_ALIASES:
        return "gb18030"
    if label in _BIG5_ALIASES:
        return "big5hkscs"
    try:
        codec = codecs.lookup(label).name
    except LookupError:
        return None
    if codec in ("gbk", "gb2312", "gb18030"):
        return "gb18030"
    if codec in ("big5", "big5hkscs", "cp950"):
        return "big5hkscs"
    return codec


def decode(
    data: bytes, encoding: str | None = None, is_html: bool = False, *, name: str = "<input>"
) -> tuple[str, str]:
    """Decode report bytes; returns (text, codec name). Never raises on undecodable bytes.

    Order: forced ``encoding``; BOM; BOM-less UTF-16; strict UTF-8; (HTML) the declared charset;
    charset-normalizer's guess (it tells GBK from Big5); GB18030 with replacement.
    A leading U+FEFF is dropped. Raises InputError only for an unknown forced encoding name.
    """
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding).name
        except LookupError:
            raise InputError(f"{name}: unknown encoding {encoding!r}") from None
        return _strip_bom(data.decode(codec, errors="replace")), codec

    enc, skip = _bom(data)
    if enc is not None:
        return data[skip:].decode(enc, errors="replace"), enc

    enc = _sniff_utf16(data)
    if enc is not None:
        return _strip_bom(data.decode(enc, errors="replace")), enc

    try:
        return _strip_bom(data.decode("utf-8")), "utf-8"
    except UnicodeDecodeError:
        pass

    if is_html:
        declared = declared_encoding(data)
        if declared in ("gb18030", "big5hkscs"):
            text = data.decode(declared, errors="replace")
            if _replacement_ratio(text) <= 0.01:
                return _strip_bom(text), declared
    # A Western charset declared on a Chinese page is a CMS default: let the detector decide.
    import charset_normalizer

    best = charset_normalizer.from_bytes(data[:_GUESS_BYTES]).best()
    if best is not None:
        codec = _canonical(best.encoding) or best.encoding
        return _strip_bom(data.decode(codec, errors="replace")), codec
    return _strip_bom(data.decode("gb18030", errors="replace")), "gb18030"


def _strip_bom(text: str) -> str:
    return text[1:] if text.startswith("\ufeff") else text


def _replacement_ratio(text: str) -> float:
    return text.count("\ufffd") / max(1, len(text))


# --- format sniffing -------------------------------------------------------------------------

_HTML_START = ("<!doctype", "<html", "<?xml")
_HTML_TAG = re.compile(r"<(?:html|table|body|p)[\s>/]", re.IGNORECASE)
_HTML_TAG_BYTES = re.compile(rb"<(?:!doctype|html|\?xml|table|body|p[\s>/]|meta)", re.IGNORECASE)


def _html_name(name: str) -> bool:
    return name.lower().endswith(_HTML_SUFFIXES)


def _looks_html_bytes(data: bytes) -> bool:
    return _HTML_TAG_BYTES.search(data[:4096]) is not None


def sniff_format(text: str, name: str = "") -> str:
    """'html' for an .html/.htm/.xhtml/.shtml name or markup at the start; else 'text'."""
    if _html_name(name):
        return "html"
    head = text[:4096]
    if head.lstrip("\ufeff \t\r\n\f\v").lower().startswith(_HTML_START):
        return "html"
    return "html" if _HTML_TAG.search(head) else "text"


# --- text documents --------------------------------------------------------------------------


_new = tuple.__new__  # a NamedTuple built from a tuple, without its Python-level __new__: a text has thousands of lines


def text_lines(text: str) -> tuple[Line, ...]:
    """One single-cell line per source line (\\f breaks lines too), empty lines kept, raw text."""
    return tuple([_new(Line, ((_new(Cell, (s, None)),), i, None, None, None)) for i, s in enumerate(text.splitlines(), 1)])


# --- HTML documents --------------------------------------------------------------------------

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
