"""Read a PDF's text layer into the same lines of cells an HTML page gives.

Characters and ruling lines come from PDFium (pypdfium2). Where a table is ruled, its grid is
rebuilt from the ruling lines: row and column boundaries from the lines, merged cells where a
boundary is not drawn, and every character placed in the cell that holds it. A cell's text is
its characters line by line, so a label wrapped over three lines, a header split over two and a
block label printed one character per line all come out whole. Each grid row becomes one line
whose cells carry their grid column, exactly like an HTML ``<tr>``, so one parser reads both.

Text outside ruled grids (prose, headings, and borderless tables) becomes lines of words split
at wide gaps, each word at its horizontal position, like ``pdftotext -layout``. Page footers
(``- 4 -``) and running headers repeated at the same place on several pages are dropped; a table
continued on the next page keeps one column numbering, so it reads as one table.
"""

from __future__ import annotations

import ctypes
import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from gxllm.document import Cell, Line, OcrRead
from gxllm.errors import InputError, NoTextLayerError
from gxllm.load.grid import TOLERANCE, Glyph, Grid, Rule, boundaries, find_grids
from gxllm.tables.layout import NUMBER, is_footer

_MARGIN = 0.1  # fraction of the page height at top and bottom where running headers live
_QUARTER = math.pi / 2


@dataclass
class _Page:
    number: int
    height: float
    grids: list[Grid]
    cells: dict[tuple[int, tuple[int, int]], list[Glyph]]  # (grid index, root slot) -> glyphs
    free: list[list[Glyph]]  # lines of words outside any grid
    scanned: bool = False  # read by OCR from an image-only page


# --- reading the PDF ----------------------------------------------------------------------------


def pdf_lines(data: bytes, name: str) -> tuple[Line, ...]:
    """Lines of a PDF: grid rows as column-placed cells, other text as positioned words."""
    return read(data, name)[0]


def read(data: bytes, name: str) -> tuple[tuple[Line, ...], dict[tuple[int, float | None], OcrRead]]:
    """The lines of a PDF and, for the cells read by OCR from image-only pages, how each was read.

    Image-only pages are OCRed when the `ocr` extra is installed (`ocr`); without it a PDF
    with no text at all is refused with what to install, and a mixed one is read from its text.
    """
    document = _open(data, name)
    try:
        pages: list[_Page | None] = []  # None: an image-only page, for the OCR
        text_chars = images = 0
        for index in range(len(document)):
            page = document[index]
            glyphs = _glyphs(page)
            text_chars += len(glyphs)
            if not glyphs and _has_image(page):
                images += 1
                pages.append(None)
                continue
            pages.append(_layout_page(index + 1, page.get_height(), glyphs, _rules(page)))
        scans: dict[int, object] = {}
        if images:
            from gxllm.load import ocr as load_ocr

            if load_ocr.available():
                scans = _ocr_pages(document, pages)
            elif not text_chars:
                raise NoTextLayerError(
                    f"{name}: scanned PDF without a text layer ({images} of {len(pages)} pages are images only); "
                    f"install the OCR extra to read it ({load_ocr.EXTRA}), or OCR it first "
                    "(ocrmypdf -l chi_sim report.pdf report-ocr.pdf)"
                )
    except pdfium.PdfiumError:
        raise InputError(_damaged(name)) from None
    finally:
        document.close()
    read = [page for page in pages if page is not None]
    if not text_chars and not any(page.free or page.cells for page in read):
        raise NoTextLayerError(
            f"{name}: PDF without any text (blank pages, or text drawn as outlines); "
            "OCR it first (ocrmypdf -l chi_sim report.pdf report-ocr.pdf) and run gxllm on the result"
            if not images
            else f"{name}: scanned PDF in which the OCR found no text ({images} pages are images only)"
        )
    _drop_page_furniture(read)
    _number_tables(read)
    lines, cells = _emit(read)
    return lines, {key: _ocr_read(page, glyph, scans) for key, (page, glyph) in cells.items()}


def image_only_pages(data: bytes) -> int:
    """How many pages of a PDF are images without text (0 for anything else): the pages an OCR
    would have to look at. Cheap: no rendering."""
    if b"%PDF-" not in data[:1024]:
        return 0
    try:
        document = pdfium.PdfDocument(data)
    except pdfium.PdfiumError:
        return 0
    try:
        return sum(not _glyphs(page) and _has_image(page) for page in document)
    except pdfium.PdfiumError:
        return 0
    finally:
        document.close()


def _ocr_pages(document: pdfium.PdfDocument, pages: list[_Page | None]) -> dict[int, object]:
    """Lay out the image-only pages worth reading (see `ocr.pages_to_read`); returns each
    recognised page's deskewed image, by page number, for the crops."""
    from gxllm.load.ocr import Scanner, pages_to_read

    scanner = Scanner()
    prepared = {}
    for index, page in enumerate(pages):
        if page is None:
            image, rules, _ = scanner.prepare(document[index])
            prepared[index] = (image, rules, find_grids(*rules))
    has_grid = [bool(prepared[i][2]) if i in prepared else None for i in range(len(pages))]
    heights = [document[i].get_height() for i in range(len(pages))]
    tops = [prepared[i][2][0].ys[0] / heights[i] if i in prepared and prepared[i][2] else None for i in range(len(pages))]
    images = {}
    for index in sorted(pages_to_read(has_grid, tops)):
        image, rules, _ = prepared[index]
        page = pages[index] = _layout_page(index + 1, heights[index], scanner.recognise(image), rules)
        page.scanned = True
        for g, grid in enumerate(page.grids):
            for slot in sorted(set(grid.root.values()) - {s for (h, s) in page.cells if h == g}):
                glyph = scanner.reread(image, _slot_box(grid, slot))
                if glyph is not None:
                    page.cells[(g, slot)] = [glyph]
        images[index + 1] = (scanner, image)
    return images


def _has_image(page: pdfium.PdfPage) -> bool:
    return any(kind == pdfium_c.FPDF_PAGEOBJ_IMAGE for _, kind, _ in _objects(page.raw, max_depth=2))


def _ocr_read(number: int, glyph: Glyph, scans: dict[int, object]) -> OcrRead:
    box = (glyph.x0, glyph.top, glyph.x1, glyph.bottom)
    scanner, image = scans[number]
    return OcrRead(number, tuple(round(v, 1) for v in box), glyph.confidence or 0.0, glyph.corrected, scanner.crop(image, box))


def _open(data: bytes, name: str) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data)
    except pdfium.PdfiumError as error:
        if getattr(error, "err_code", None) == pdfium_c.FPDF_ERR_PASSWORD:
            raise InputError(
                f"{name}: encrypted PDF that needs a password to open; decrypt it first "
                "(qpdf --password=PASSWORD --decrypt report.pdf plain.pdf)"
            ) from None
        raise InputError(_damaged(name)) from None


def _damaged(name: str) -> str:
    return f"{name}: damaged PDF, cannot be opened; re-download it or re-save it from a PDF viewer"


def _glyphs(page: pdfium.PdfPage) -> list[Glyph]:
    """Printed characters with their boxes; spaces and PDFium's generated line breaks dropped.

    PDFium's own calls, the boxes read into reused buffers: the helpers' per-call objects cost
    more than the calls themselves, on thousands of characters a page."""
    height = page.get_height()
    textpage = page.get_textpage()
    raw = textpage.raw
    unicode, generated, angle_of = pdfium_c.FPDFText_GetUnicode, pdfium_c.FPDFText_IsGenerated, pdfium_c.FPDFText_GetCharAngle
    loose_box, tight_box = pdfium_c.FPDFText_GetLooseCharBox, pdfium_c.FPDFText_GetCharBox
    loose = pdfium_c.FS_RECTF()
    tight_left, tight_right, tight_bottom, tight_top = (ctypes.c_double() for _ in range(4))
    glyphs = []
    try:
        count = pdfium_c.FPDFText_CountChars(raw)
        if count < 0:
            raise pdfium.PdfiumError("Failed to get character count.")
        for i in range(count):
            text = chr(unicode(raw, i))
            if not text.strip() or not text.isprintable() or generated(raw, i):
                continue
            angle = angle_of(raw, i)  # radians, -1 when unknown
            if angle > 0 and min(angle % _QUARTER, -angle % _QUARTER) > 0.05:
                continue  # a slanted watermark (内部资料, a year) laid over the tables
            if not (loose_box(raw, i, loose) and tight_box(raw, i, tight_left, tight_right, tight_bottom, tight_top)):
                raise pdfium.PdfiumError("Failed to get charbox.")
            left, bottom, right, top = loose.left, loose.bottom, loose.right, loose.top
            tl, tb, tr, tt = tight_left.value, tight_bottom.value, tight_right.value, tight_top.value
            if right - left > 3 * (tr - tl) + 6 and top - bottom > 3 * (tt - tb) + 6:
                # A font with a broken bounding box (seen in vertical labels): the loose box would
                # span half the page. Take a square around the ink instead.
                half = max(tr - tl, tt - tb) / 2
                x, y = (tl + tr) / 2, (tb + tt) / 2
                left, bottom, right, top = x - half, y - half, x + half, y + half
            glyphs.append(Glyph(text, left, height - top, right, height - bottom))
    finally:
        textpage.close()
    return glyphs


def _rules(page: pdfium.PdfPage) -> tuple[list[Rule], list[Rule]]:
    """(horizontal, vertical) straight segments of every visible path, rectangle edges included."""
    height = page.get_height()
    horizontal: list[Rule] = []
    vertical: list[Rule] = []
    matrices: list[tuple[float, ...]] = []  # cumulative matrix of each enclosing form level
    fs_matrix = pdfium_c.FS_MATRIX()
    fill, stroke = ctypes.c_int(), ctypes.c_int()
    colour = (ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint())
    x, y = ctypes.c_float(), ctypes.c_float()
    for obj, kind, level in _objects(page.raw, max_depth=4):
        if kind == pdfium_c.FPDF_PAGEOBJ_FORM:
            del matrices[level:]
            matrices.append(_matrix(obj, fs_matrix, matrices[-1] if matrices else None))
            continue
        if kind != pdfium_c.FPDF_PAGEOBJ_PATH or not _visible(obj, fill, stroke, colour):
            continue
        a, b, c, d, e, f = _matrix(obj, fs_matrix, matrices[level - 1] if level else None)
        points: list[tuple[float, float]] = []
        start: tuple[float, float] | None = None
        for k in range(pdfium_c.FPDFPath_CountSegments(obj)):
            segment = pdfium_c.FPDFPath_GetPathSegment(obj, k)
            pdfium_c.FPDFPathSegment_GetPoint(segment, x, y)
            point = (a * x.value + c * y.value + e, height - (b * x.value + d * y.value + f))
            segment_type = pdfium_c.FPDFPathSegment_GetType(segment)
            if segment_type == pdfium_c.FPDF_SEGMENT_MOVETO:
                start = point
            elif segment_type == pdfium_c.FPDF_SEGMENT_LINETO and points:
                _add_segment(points[-1], point, horizontal, vertical)
            # Curves (Bézier points) are never table rules.
            points.append(point)
            if pdfium_c.FPDFPathSegment_GetClose(segment) and start is not None:
                _add_segment(point, start, horizontal, vertical)
    return _merge(horizontal), _merge(vertical)


def _objects(parent, max_depth: int, level: int = 0, form: bool = False) -> Iterator[tuple[object, int, int]]:
    """(handle, type, form level) of each page object, depth first into Form XObjects, as
    `PdfPage.get_objects` walks them. PDFium's own calls, because a report page holds thousands
    of text objects and a helper object for each cost more than reading the rules themselves."""
    if form:
        count, get = pdfium_c.FPDFFormObj_CountObjects(parent), pdfium_c.FPDFFormObj_GetObject
    else:
        count, get = pdfium_c.FPDFPage_CountObjects(parent), pdfium_c.FPDFPage_GetObject
    if count < 0:
        raise pdfium.PdfiumError("Failed to get number of pageobjects.")
    for i in range(count):
        obj = get(parent, i)
        kind = pdfium_c.FPDFPageObj_GetType(obj) if obj else pdfium_c.FPDF_PAGEOBJ_UNKNOWN
        if kind == pdfium_c.FPDF_PAGEOBJ_UNKNOWN:
            raise pdfium.PdfiumError("Failed to get pageobject.")
        yield obj, kind, level
        if kind == pdfium_c.FPDF_PAGEOBJ_FORM and level < max_depth - 1:
            yield from _objects(obj, max_depth, level + 1, form=True)


def _matrix(obj, fs_matrix, outer: tuple[float, ...] | None) -> tuple[float, ...]:
    """The object's matrix (read into the reused `fs_matrix`), then the enclosing forms' `outer`."""
    if not pdfium_c.FPDFPageObj_GetMatrix(obj, fs_matrix):
        raise pdfium.PdfiumError("Failed to get matrix of pageobject.")
    m = fs_matrix
    return _compose((m.a, m.b, m.c, m.d, m.e, m.f), outer)


def _visible(path, fill: ctypes.c_int, stroke: ctypes.c_int, colour: tuple[ctypes.c_uint, ...]) -> bool:
    """Whether a path draws something on white paper: clipping paths and white shading do not
    (Word puts a white rectangle behind every shaded paragraph)."""
    pdfium_c.FPDFPath_GetDrawMode(path, fill, stroke)
    if stroke.value and pdfium_c.FPDFPageObj_GetStrokeColor(path, *colour) and not _invisible(*colour):
        return True
    return bool(fill.value) and bool(pdfium_c.FPDFPageObj_GetFillColor(path, *colour)) and not _invisible(*colour)


def _invisible(r: ctypes.c_uint, g: ctypes.c_uint, b: ctypes.c_uint, a: ctypes.c_uint) -> bool:
    return a.value == 0 or min(r.value, g.value, b.value) >= 250


def _compose(inner: tuple[float, ...], outer: tuple[float, ...] | None) -> tuple[float, ...]:
    """The matrix that applies `inner`, then `outer` (PDF's a b c d e f convention)."""
    if outer is None:
        return inner
    a, b, c, d, e, f = inner
    A, B, C, D, E, F = outer
    return (a * A + b * C, a * B + b * D, c * A + d * C, c * B + d * D, e * A + f * C + E, e * B + f * D + F)


def _add_segment(p: tuple[float, float], q: tuple[float, float], horizontal: list[Rule], vertical: list[Rule]) -> None:
    (x0, y0), (x1, y1) = p, q
    if abs(y1 - y0) <= TOLERANCE / 2 and abs(x1 - x0) > TOLERANCE:
        horizontal.append(Rule((y0 + y1) / 2, min(x0, x1), max(x0, x1)))
    elif abs(x1 - x0) <= TOLERANCE / 2 and abs(y1 - y0) > TOLERANCE:
        vertical.append(Rule((x0 + x1) / 2, min(y0, y1), max(y0, y1)))


def _merge(rules: list[Rule]) -> list[Rule]:
    """Join collinear rules that touch or overlap: a rule drawn as a thin rectangle, or in pieces."""
    merged: list[Rule] = []
    for rule in sorted(rules, key=lambda r: (round(r.at / TOLERANCE), r.start)):
        last = merged[-1] if merged else None
        if last and abs(last.at - rule.at) <= TOLERANCE and rule.start <= last.end + TOLERANCE:
            merged[-1] = Rule(last.at, last.start, max(last.end, rule.end))
        else:
            merged.append(rule)
    return merged


# --- one page -----------------------------------------------------------------------------------


def _layout_page(number: int, height: float, glyphs: list[Glyph], rules: tuple[list[Rule], list[Rule]]) -> _Page:
    grids = find_grids(*rules)
    cells: dict[tuple[int, tuple[int, int]], list[Glyph]] = {}
    free: list[Glyph] = []
    for glyph in glyphs:
        for g, grid in enumerate(grids):
            slot = grid.slot(glyph)
            if slot is not None:
                cells.setdefault((g, slot), []).append(glyph)
                break
        else:
            free.append(glyph)
    return _Page(number, height, grids, cells, _lines(free))


def _adjacent(a: Glyph, b: Glyph) -> bool:
    """b continues a's word: close behind it on the same baseline (half a character of gap)."""
    size = max(a.size, b.size)
    if min(a.size, b.size) < 0.75 * size and (a.text[-1].isdigit() or b.text[0].isdigit()):
        return False  # a footnote mark in smaller type beside a number is not one of its digits
    return -size / 2 <= b.x0 - a.x1 <= size / 2 and abs(b.cy - a.cy) <= size / 4


def _join(run: list[Glyph]) -> Glyph:
    return Glyph(
        "".join(g.text for g in run),
        min(g.x0 for g in run),
        min(g.top for g in run),
        max(g.x1 for g in run),
        max(g.bottom for g in run),
        _confidence(run),
        any(g.corrected for g in run),
    )


def _confidence(glyphs: list[Glyph]) -> float | None:
    """The least sure word's confidence: a cell is as doubtful as its worst part."""
    scores = [g.confidence for g in glyphs if g.confidence is not None]
    return min(scores) if scores else None


def _lines(glyphs: list[Glyph]) -> list[list[Glyph]]:
    """Printed lines of words, top to bottom, each line's words left to right.

    Words are built in content order first: a label is drawn as one run, so it stays one word
    even beside a merged cell's label printed half a line higher. Lines then gather whole words,
    and neighbours on a line that touch (text drawn out of order) are joined.
    """
    words: list[list[Glyph]] = []
    for glyph in glyphs:
        if words and _adjacent(words[-1][-1], glyph):
            words[-1].append(glyph)
        else:
            words.append([glyph])
    lines: list[list[Glyph]] = []
    for word in sorted((_join(w) for w in words), key=lambda w: (w.cy, w.x0)):
        line = lines[-1] if lines else None
        if line and word.cy - line[0].cy <= max(line[0].size, word.size) / 2:
            line.append(word)
        else:
            lines.append([word])
    out = []
    for line in lines:
        joined: list[Glyph] = []
        for word in sorted(line, key=lambda w: w.x0):
            if joined and _adjacent(joined[-1], word):
                joined[-1] = _join([joined[-1], word])
            else:
                joined.append(word)
        out.append(joined)
    return out


def _cell_text(glyphs: list[Glyph]) -> str:
    """A grid cell's text: its lines joined, words of a line with a space.

    Wrapped text joins without a space (Chinese), but two lines that both hold digits at the
    break keep one, so two numbers stacked in a cell are never read as one number.
    """
    text = ""
    for line in _lines(glyphs):
        part = " ".join(word.text for word in line)
        if text and text[-1].isdigit() and part[0].isdigit():
            text += " "
        text += part
    return text


# --- the whole document -------------------------------------------------------------------------


def _signature(line: list[Glyph]) -> str:
    return re.sub(r"\d+", "#", "".join(word.text for word in line))


def _drop_page_furniture(pages: list[_Page]) -> None:
    """Remove page footers (`- 4 -`, `第 3 页`) and running headers: lines in the page margins
    that repeat, digits aside, on several pages."""
    seen: Counter[str] = Counter()
    margins: list[tuple[int, int, str]] = []
    for p, page in enumerate(pages):
        for k, line in enumerate(page.free):
            if line[0].top < page.height * _MARGIN or line[-1].bottom > page.height * (1 - _MARGIN):
                signature = _signature(line)
                margins.append((p, k, signature))
                seen[signature] += 1
    running = {(p, k) for p, k, signature in margins if seen[signature] > 1}
    for p, page in enumerate(pages):
        page.free = [
            line for k, line in enumerate(page.free)
            if (p, k) not in running and not is_footer(" ".join(word.text for word in line))
        ]


def _number_tables(pages: list[_Page]) -> None:
    """Give every grid a table ordinal; a grid that continues the previous page's last one keeps it.

    A continuation is the first thing on its page (page furniture is gone by now) and has the
    same outer left and right edges as the grid that ended the previous page.
    """
    table = 0
    previous: Grid | None = None
    for page in pages:
        for g, grid in enumerate(page.grids):
            continues = (
                g == 0
                and previous is not None
                and not any(line[0].bottom < grid.ys[0] for line in page.free)
                and abs(previous.xs[0] - grid.xs[0]) <= TOLERANCE
                and abs(previous.xs[-1] - grid.xs[-1]) <= TOLERANCE
            )
            if not continues:
                table += 1
            grid.table = table
            previous = grid
        if page.grids and any(line[0].top > page.grids[-1].ys[-1] for line in page.free):
            previous = None  # text follows the last grid: the table ended on this page


def _column_positions(pages: list[_Page]) -> dict[int, list[float]]:
    """Each table's column boundaries over all its pages, so a continued table keeps its numbering."""
    xs: dict[int, list[float]] = {}
    for page in pages:
        for grid in page.grids:
            xs.setdefault(grid.table, []).extend(grid.xs)
    return {table: boundaries([Rule(x, 0, 0) for x in positions]) for table, positions in xs.items()}


def _emit(pages: list[_Page]) -> tuple[tuple[Line, ...], dict[tuple[int, float], tuple[int, Glyph]]]:
    """The document's lines in reading order, and for the cells of scanned pages, by (line
    number, cell position), the page and the cell's words joined (box, confidence)."""
    columns = _column_positions(pages)
    first_rows: dict[int, list[tuple[str, ...]]] = {}  # each table's rows on its first page
    # page, y, order, cells, table, and per cell the OCR glyph (scanned pages)
    items: list[tuple[int, float, int, tuple[Cell, ...], int | None, tuple[Glyph | None, ...]]] = []
    for page in pages:
        for line in page.free:
            cells = tuple(Cell(word.text, round(word.cx, 1)) for word in line)
            items.append((page.number, line[0].top, 1, cells, None, tuple(line) if page.scanned else ()))
        for g, grid in enumerate(page.grids):
            bounds = columns[grid.table]
            slots = [[(i, j) for j in range(len(grid.xs) - 1) if grid.root[(i, j)] == (i, j)] for i in range(len(grid.ys) - 1)]
            rows = [
                tuple(Cell(_cell_text(page.cells.get((g, slot), [])), float(_nearest(bounds, grid.xs[slot[1]]))) for slot in row)
                for row in slots
            ]
            texts = [tuple(cell.text for cell in row) for row in rows]
            start = 0
            if grid.table in first_rows:
                # Word repeats a table's header rows on every page it continues on: read them once.
                repeated = first_rows[grid.table]
                same = next((i for i, text in enumerate(texts) if i >= len(repeated) or text != repeated[i]), len(texts))
                if any(texts[:same]) and not any(_is_value(t) for row in texts[:same] for t in row):
                    start = same
            else:
                first_rows[grid.table] = texts
            for i in range(start, len(rows)):
                if rows[i]:
                    read = tuple(_slot_glyph(page, g, grid, slot) for slot in slots[i]) if page.scanned else ()
                    items.append((page.number, grid.ys[i], 0, rows[i], grid.table, read))
    items.sort(key=lambda item: item[:3])
    lines = tuple(Line(cells, n, page=page, table=table) for n, (page, _, _, cells, table, _) in enumerate(items, 1))
    read = {
        (n, cell.pos): (page, glyph)
        for n, (page, _, _, cells, _, glyphs) in enumerate(items, 1)
        for cell, glyph in zip(cells, glyphs)
        if glyph is not None
    }
    return lines, read


def _slot_glyph(page: _Page, g: int, grid: Grid, slot: tuple[int, int]) -> Glyph:
    """A scanned grid cell's words as one glyph; an empty cell is the slot itself with confidence
    0: on a scan, nothing read may be a number the OCR missed, not a blank."""
    glyphs = page.cells.get((g, slot))
    if glyphs:
        return _join(glyphs)
    return Glyph("", *_slot_box(grid, slot), 0.0)


def _slot_box(grid: Grid, slot: tuple[int, int]) -> tuple[float, float, float, float]:
    """(x0, top, x1, bottom) of a grid cell, merged slots included."""
    i, j = slot
    bottom = next(grid.ys[k + 1] for k in range(i, len(grid.ys) - 1) if grid.root.get((k + 1, j)) != slot)
    right = next(grid.xs[k + 1] for k in range(j, len(grid.xs) - 1) if grid.root.get((i, k + 1)) != slot)
    return grid.xs[j], grid.ys[i], right, bottom


def _is_value(text: str) -> bool:
    return bool(NUMBER.match(text.replace(" ", "")))


def _nearest(bounds: list[float], x: float) -> int:
    return min(range(len(bounds)), key=lambda k: abs(bounds[k] - x))
