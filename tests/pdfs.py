"""Print a canonical report dict as a realistic PDF (fixtures for the PDF loader's tests).

The PDF counterpart of ``layouts.render_html``: the same title, prose, headings and table grids
(``layouts.GRIDS``), laid out the way Word exports them to A4 — 10.5pt 宋体 body text, thin ruled
tables whose label columns wrap, the 三、本年度办理结果 label stacked one character per line in a
tall merged cell, ``- N -`` page footers, tables continuing on the next page. Drawn with the
reportlab canvas (no platypus), ``invariant=1``: the same arguments give the same bytes.

    render_pdf(report, ...)              text PDF; options for rules/fills, vertical labels,
                                         label wrapping, footer, running header, page height
    render_flattened_pdf(report)         the tables printed as running text, wrapped like paragraphs
    render_scanned_pdf(report=None)      2 pages that are only raster images: no text layer
    render_encrypted_pdf(report, pw)     render_pdf's pages behind a user password
    render_scan(report, ...)             render_pdf's pages as a real-looking scan: 200 dpi grey,
                                         skewed, noisy, JPEG q60, a red seal; image-only pages

Geometry (points): A4 portrait, 72pt margins, text width 451.3. Cell text is 6/7 of
``font_size`` (9pt by default), numbers are ``font_size``. Column widths: 表二 label column 38%;
表三 label columns 45% together (block column one character wide when the block label is
vertical, four otherwise; group column 44pt, four characters at 9pt, under three — so printed
vertically — from ``font_size`` 14.5 on; the rest for the row labels); 表四 15
equal columns. Value columns share what is left equally.
"""

from __future__ import annotations

import io
import random
import re
from dataclasses import dataclass

from layouts import GRIDS, G, _flattened_table, _parts, fw, placed, sample_report
from PIL import Image, ImageDraw
from reportlab.lib.pagesizes import A4
from reportlab.lib.pdfencrypt import StandardEncryption
from reportlab.lib.utils import ImageReader
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfgen import canvas

FONT = "STSong-Light"
if FONT not in pdfmetrics.getRegisteredFontNames():
    pdfmetrics.registerFont(UnicodeCIDFont(FONT))

PAGE_W = A4[0]
MARGIN = 72.0
TEXT_W = PAGE_W - 2 * MARGIN
HPAD = 3.0  # cell padding left/right
VPAD = 4.0  # cell padding top/bottom
RULE = 0.5  # border line width
GROUP_COLUMN = 44.0  # width of 表三's group-label column ((三)不予公开 …)
FILL_INSET = 0.6  # shading stops just inside the borders, as Word's does
BLUE = (198 / 255, 217 / 255, 241 / 255)  # the 第二十条 rows of 2024-huaian-city
HEADER_ROWS = {"active_disclosure": 2, "applications": 3, "reviews_and_lawsuits": 3}
LABEL_COLUMNS = {"active_disclosure": 1, "applications": 3, "reviews_and_lawsuits": 0}
# characters that never start a line (Word lets them hang past the margin instead)
_NO_START = set("，。、；：）》」”’！？,.;:)%")
_NO_END = set("（《「“‘(")  # ... and these never end one
_TOKEN = re.compile(r"[A-Za-z0-9.\-/%+]+|.", re.S)


def _width(text: str, size: float) -> float:
    return pdfmetrics.stringWidth(text, FONT, size)


def _wrap(text: str, width: float, size: float, first: float | None = None) -> list[str]:
    """Greedy line breaking by glyph widths; ASCII runs (numbers) are not broken; ``first``
    is the width of the first line (an indented paragraph)."""
    lines: list[str] = []
    cur, used = "", 0.0
    limit = width if first is None else first
    for tok in _TOKEN.findall(text):
        w = _width(tok, size)
        if cur and used + w > limit + 1e-6 and tok[0] not in _NO_START:
            carry = ""
            while len(cur) > 1 and cur[-1] in _NO_END:  # an opening bracket goes down too
                carry, cur = cur[-1] + carry, cur[:-1]
            lines.append(cur)
            cur, used, limit = carry, _width(carry, size), width
        cur += tok
        used += w
    if cur or not lines:
        lines.append(cur)
    return lines


def _wrap_balanced(text: str, width: float, size: float) -> list[str]:
    """As few lines as greedy wrapping needs, but of even length (商业/企业, not 商业企/业)."""
    lines = _wrap(text, width, size)
    if len(lines) < 2:
        return lines
    target = _width(text, size) / len(lines)
    while target < width:
        attempt = _wrap(text, target, size)
        if len(attempt) <= len(lines):
            return attempt
        target += size / 4
    return lines


# --- pages ------------------------------------------------------------------------------------


class _Doc:
    """Pages of drawing operations, with a cursor ``y`` (top of the free space)."""

    def __init__(self, page_height: float, footer: bool, running_header: str | None, font_size: float):
        self.height = page_height
        self.top = page_height - MARGIN
        self.bottom = MARGIN
        self.footer = footer
        self.running_header = running_header
        self.font_size = font_size
        self.pages: list[list[tuple]] = []
        self.new_page()

    def new_page(self) -> None:
        ops: list[tuple] = []
        self.pages.append(ops)
        # Word writes header/footer first: extracted text starts with "- N -"
        if self.running_header:
            ops.append(("text", PAGE_W / 2, self.height - 42, self.running_header, 9.0, "center"))
        if self.footer:
            ops.append(("text", PAGE_W / 2, 40, f"- {len(self.pages)} -", self.font_size, "center"))
        self.y = self.top

    @property
    def page(self) -> int:
        return len(self.pages) - 1

    @property
    def at_top(self) -> bool:
        return self.y >= self.top - 1e-6

    def ensure(self, height: float) -> None:
        if self.y - height < self.bottom and not self.at_top:
            self.new_page()

    def lines(self, lines: list[str], size: float, lead: float, x: float, align: str = "left",
              indent: float = 0.0) -> None:
        for i, line in enumerate(lines):
            self.ensure(lead)
            base = self.y - (lead + size * 0.7) / 2
            if align == "center":
                self.pages[self.page].append(("text", PAGE_W / 2, base, line, size, "center"))
            else:
                self.pages[self.page].append(("text", x + (indent if i == 0 else 0), base, line, size, "left"))
            self.y -= lead


# --- tables -----------------------------------------------------------------------------------


@dataclass
class _Cell:
    g: G
    row: int
    col: int
    x0: float
    x1: float
    lines: list[str]
    size: float
    lead: float
    align: str  # "left" / "center"

    @property
    def need(self) -> float:
        return len(self.lines) * self.lead + 2 * VPAD


def _column_widths(key: str, width: int, cf: float, vertical_block: bool) -> list[float]:
    if key == "active_disclosure":
        label = 0.38 * TEXT_W
        return [label] + [(TEXT_W - label) / (width - 1)] * (width - 1)
    if key == "applications":
        area = 0.45 * TEXT_W
        block = cf + 2 * HPAD + 4 if vertical_block else 4 * cf + 2 * HPAD + 2
        group = GROUP_COLUMN  # fixed: with a large font_size it holds under 3 characters
        n = width - 3
        return [block, group, area - block - group] + [(TEXT_W - area) / n] * n
    return [TEXT_W / width] * width


def _layout_table(key: str, report: dict, *, font_size: float, vertical_block: bool,
                  wrap_labels: bool) -> tuple[list[_Cell], list[float], list[bool]]:
    width, rows = GRIDS[key](report)
    cf = font_size * 6 / 7
    widths = _column_widths(key, width, cf, vertical_block)
    edges = [MARGIN]
    for w in widths:
        edges.append(edges[-1] + w)
    nlabel = LABEL_COLUMNS[key]
    data_row = [any(c.value for c in row) for row in rows]
    cells: list[_Cell] = []
    for r, c, g in placed((width, rows)):
        x0, x1 = edges[c], edges[c + g.colspan]
        inner = x1 - x0 - 2 * HPAD
        text = fw(g.text)
        size, align = cf, "center"
        if g.value:
            size = font_size
            if text and _width(text, size) > inner:
                size *= inner / _width(text, size)
            lines = [text] if text else []
        elif key == "applications" and data_row[r] and c < 2 and g.rowspan > 1:  # block / group label
            vertical = vertical_block and (c == 0 or inner < 3 * cf)
            lines = list(text) if vertical else _wrap_balanced(text, inner, cf)
        elif data_row[r] and c < nlabel:  # a row label
            align = "left"
            if wrap_labels:
                lines = _wrap(text, inner, cf)
            else:  # Word's "fit text": one line, squeezed
                size = min(cf, cf * inner / max(_width(text, cf), 1e-6))
                lines = [text]
        elif key == "applications" and r == 0 and c == 0:  # the 勾稽关系 note
            align = "left"
            lines = _wrap(text, inner, cf)
        else:
            lines = _wrap_balanced(text, inner, cf) if text else []
        cells.append(_Cell(g, r, c, x0, x1, lines, size, size * 1.25, align))
    min_h = font_size * 1.25 + 2 * VPAD + (6 if key == "active_disclosure" else 0)
    heights = [min_h] * len(rows)
    for cell in cells:
        if cell.g.rowspan == 1:
            heights[cell.row] = max(heights[cell.row], cell.need)
    for cell in cells:
        span = range(cell.row, cell.row + cell.g.rowspan)
        short = cell.need - sum(heights[i] for i in span)
        if cell.g.rowspan > 1 and short > 0:
            for i in span:
                heights[i] += short / cell.g.rowspan
    section = [len(row) == 1 and row[0].colspan == width for row in rows]  # 第二十条第(x)项
    return cells, heights, section


def _allot(n: int, parts: list[tuple[float, int]]) -> list[int]:
    """Split n lines over the parts of a split cell, proportional to their heights and
    within each part's capacity; (height, capacity) per part."""
    total = sum(h for h, _ in parts) or 1.0
    out, done, acc = [], 0, 0.0
    for h, _ in parts:
        acc += h
        upto = round(n * acc / total)
        out.append(upto - done)
        done = upto
    for i in range(len(out) - 1):  # overflow moves on to the next part
        cap = parts[i][1]
        if out[i] > cap:
            out[i + 1] += out[i] - cap
            out[i] = cap
    for i in range(len(out) - 1, 0, -1):  # and what the last part cannot hold moves back
        cap = parts[i][1]
        if out[i] > cap:
            out[i - 1] += out[i] - cap
            out[i] = cap
    return out


def _merge(segments: list[tuple[float, float, float]]) -> list[tuple[float, float, float]]:
    """Union of collinear segments (pos, start, end): one stroke per unbroken run."""
    out: list[tuple[float, float, float]] = []
    for pos, a, b in sorted((round(p, 3), min(a, b), max(a, b)) for p, a, b in segments):
        if out and out[-1][0] == pos and a <= out[-1][2] + 1e-3:
            out[-1] = (pos, out[-1][1], max(out[-1][2], b))
        else:
            out.append((pos, a, b))
    return out


def _table(doc: _Doc, key: str, report: dict, *, ruled: bool, fills: bool, vertical_block: bool,
           wrap_labels: bool, font_size: float) -> None:
    cells, heights, section = _layout_table(key, report, font_size=font_size,
                                            vertical_block=vertical_block, wrap_labels=wrap_labels)
    doc.y -= 4
    where: list[tuple[int, float]] = []  # (page, top) per row
    for h in heights:
        doc.ensure(h)
        where.append((doc.page, doc.y))
        doc.y -= h
    doc.y -= font_size
    pages = sorted({p for p, _ in where})
    fill_ops: dict[int, list] = {p: [] for p in pages}
    text_ops: dict[int, list] = {p: [] for p in pages}
    hseg: dict[int, list] = {p: [] for p in pages}
    vseg: dict[int, list] = {p: [] for p in pages}
    if fills:
        for r, (p, top) in enumerate(where):
            fill_ops[p].append(("fill", MARGIN + FILL_INSET, top - heights[r] + FILL_INSET,
                                TEXT_W - 2 * FILL_INSET, heights[r] - 2 * FILL_INSET,
                                BLUE if section[r] else (1.0, 1.0, 1.0)))
    for cell in cells:
        parts: list[tuple[int, float, float]] = []  # (page, top, bottom)
        for r in range(cell.row, cell.row + cell.g.rowspan):
            p, top = where[r]
            if parts and parts[-1][0] == p:
                parts[-1] = (p, parts[-1][1], top - heights[r])
            else:
                parts.append((p, top, top - heights[r]))
        for i, (p, top, bottom) in enumerate(parts):
            if i == 0:  # a split merged cell is open at the page break, as Word prints it
                hseg[p].append((top, cell.x0, cell.x1))
            if i == len(parts) - 1:
                hseg[p].append((bottom, cell.x0, cell.x1))
            vseg[p] += [(cell.x0, bottom, top), (cell.x1, bottom, top)]
        caps = [(top - bottom, max(0, int((top - bottom - 2 * VPAD + 1e-6) // cell.lead)))
                for _, top, bottom in parts]
        counts = _allot(len(cell.lines), caps) if len(parts) > 1 else [len(cell.lines)]
        k = 0
        for (p, top, bottom), n in zip(parts, counts):
            chunk, k = cell.lines[k : k + n], k + n
            cy = (top + bottom) / 2
            for j, line in enumerate(chunk):
                base = cy + ((len(chunk) - 1) / 2 - j) * cell.lead - 0.35 * cell.size
                if cell.align == "left":
                    text_ops[p].append(("text", cell.x0 + HPAD, base, line, cell.size, "left"))
                else:
                    text_ops[p].append(("text", (cell.x0 + cell.x1) / 2, base, line, cell.size, "center"))
    for p in pages:
        ops = doc.pages[p]
        ops += fill_ops[p]
        ops += text_ops[p]
        if ruled:
            ops += [("line", a, y, b, y) for y, a, b in _merge(hseg[p])]
            ops += [("line", x, a, x, b) for x, a, b in _merge(vseg[p])]


# --- the document -----------------------------------------------------------------------------


def _document(report: dict, *, ruled: bool, fills: bool, vertical_block: bool, wrap_labels: bool,
              footer: bool, running_header: str | None, page_height: float, font_size: float,
              flattened_seed: int | None = None) -> _Doc:
    doc = _Doc(page_height, footer, running_header, font_size)
    body_lead = font_size * 1.9
    parts = _parts(report)
    if flattened_seed is not None:  # each table's cells run together, printed as a paragraph
        rng = random.Random(flattened_seed)
        parts = [("para", _flattened_table(GRIDS[t](report), rng, 0.15, 0.2)) if k == "table" else (k, t) for k, t in parts]
    for i, (kind, text) in enumerate(parts):
        if kind == "title":
            size = font_size * 1.6
            doc.y -= font_size
            doc.lines(_wrap(text, TEXT_W, size), size, size * 1.6, MARGIN, "center")
            doc.y -= font_size
        elif kind == "heading":
            size = font_size * 1.15
            nxt = parts[i + 1] if i + 1 < len(parts) else ("para", "")
            keep = 2 * body_lead
            if nxt[0] == "table":  # keep with the table's header rows
                _, heights, _ = _layout_table(nxt[1], report, font_size=font_size,
                                              vertical_block=vertical_block, wrap_labels=wrap_labels)
                keep = 4 + sum(heights[:HEADER_ROWS[nxt[1]] + 1])
            doc.ensure(size * 1.9 + keep)
            doc.lines([text], size, size * 1.9, MARGIN, indent=2 * font_size)
        elif kind == "para":
            indent = 2 * font_size
            doc.lines(_wrap(text, TEXT_W, font_size, first=TEXT_W - indent), font_size, body_lead,
                      MARGIN, indent=indent)
        else:
            _table(doc, text, report, ruled=ruled, fills=fills, vertical_block=vertical_block,
                   wrap_labels=wrap_labels, font_size=font_size)
    return doc


def _emit(doc: _Doc, *, encrypt=None) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=(PAGE_W, doc.height), invariant=1, encrypt=encrypt)
    c.setTitle("政府信息公开工作年度报告")
    for ops in doc.pages:
        c.setLineWidth(RULE)
        c.setStrokeColorRGB(0, 0, 0)
        for op in ops:
            if op[0] == "text":
                _, x, y, s, size, align = op
                c.setFillColorRGB(0, 0, 0)
                c.setFont(FONT, size)
                (c.drawCentredString if align == "center" else c.drawString)(x, y, s)
            elif op[0] == "line":
                _, x0, y0, x1, y1 = op
                c.line(x0, y0, x1, y1)
            else:
                _, x, y, w, h, rgb = op
                c.setFillColorRGB(*rgb)
                c.rect(x, y, w, h, stroke=0, fill=1)
        c.showPage()
    c.save()
    return buf.getvalue()


def render_pdf(report: dict, *, ruled: bool = True, fills: bool = False, vertical_block: bool = True,
               wrap_labels: bool = True, footer: bool = True, running_header: str | None = None,
               page_height: float = A4[1], font_size: float = 10.5) -> bytes:
    """The report as a Word-exported PDF.

    ``ruled``: every cell border as a 0.5pt stroke, merged cells without inner lines.
    ``fills``: each table row's background as a filled rectangle (light blue for 第二十条 rows,
    white otherwise) under the text and any rules; with ``ruled=False`` the rectangles' edges are
    the only ruling. ``ruled=False, fills=False``: a borderless table, only text.
    ``vertical_block``: 三、本年度办理结果 (and a group label whose column is under three characters
    wide) one character per line. ``wrap_labels``: long row labels wrap inside their cell
    (False: squeezed onto one line). Rows that do not fit start a new page; a merged cell split by
    the break is drawn open at the break, its text divided between the parts.
    """
    doc = _document(report, ruled=ruled, fills=fills, vertical_block=vertical_block,
                    wrap_labels=wrap_labels, footer=footer, running_header=running_header,
                    page_height=page_height, font_size=font_size)
    return _emit(doc)


def render_flattened_pdf(report: dict, *, seed: int = 0) -> bytes:
    """A PDF whose tables were pasted as running text: each table's cells run together in one
    paragraph, wrapped at the margin (a line break may fall inside a run of digits)."""
    doc = _document(report, ruled=False, fills=False, vertical_block=True, wrap_labels=True, footer=True,
                    running_header=None, page_height=A4[1], font_size=10.5, flattened_seed=seed)
    return _emit(doc)


def render_encrypted_pdf(report: dict, password: str = "secret") -> bytes:
    """``render_pdf(report)`` encrypted: opening it needs the user password."""
    doc = _document(report, ruled=True, fills=False, vertical_block=True, wrap_labels=True, footer=True,
                    running_header=None, page_height=A4[1], font_size=10.5)
    enc = StandardEncryption(userPassword=password, ownerPassword=password + "-owner", canPrint=1)
    return _emit(doc, encrypt=enc)


def render_scanned_pdf(report: dict | None = None) -> bytes:
    """Two A4 pages, each a single grey-scale raster (a 'scan': bars for text lines, a ruled
    grid for the table); no text objects at all."""
    report = report or sample_report(0)
    dpi = 100
    wpx, hpx = round(PAGE_W / 72 * dpi), round(A4[1] / 72 * dpi)
    px = dpi / 72
    left, right = round(MARGIN * px), round((PAGE_W - MARGIN) * px)
    top, bottom = round(MARGIN * px), round((A4[1] - MARGIN) * px)
    images = [Image.new("L", (wpx, hpx), 255) for _ in range(2)]
    draws = [ImageDraw.Draw(im) for im in images]
    page, y = 0, top
    line = round(19 * px)
    char = 10.5 * px

    def advance(h: int) -> ImageDraw.ImageDraw | None:
        nonlocal page, y
        if y + h > bottom:
            page, y = page + 1, top
        return draws[page] if page < 2 else None

    for kind, text in _parts(report):
        if kind == "table":
            width, rows = GRIDS[text](report)
            for _ in rows:
                d = advance(line)
                if d is None:
                    break
                d.rectangle([left, y, right, y + line], outline=0, width=1)
                for k in range(1, min(width, 8)):
                    x = left + round((right - left) * (0.38 + 0.62 * k / min(width, 8)))
                    d.line([x, y, x, y + line], fill=0, width=1)
                d.rectangle([left + 6, y + line // 3, left + 6 + round(char * 5), y + 2 * line // 3], fill=40)
                y += line
            y += line // 2
            continue
        indent = round(2 * char) if kind != "title" else 0
        per_line = int((right - left - indent) / char)
        for i in range(0, max(1, len(text)), max(1, per_line)):
            d = advance(line)
            if d is None:
                break
            n = min(per_line, len(text) - i)
            x0 = left + (indent if i == 0 else 0)
            if kind == "title":
                x0 = (wpx - round(n * char * 1.6)) // 2
                d.rectangle([x0, y + 4, x0 + round(n * char * 1.6), y + line - 2], fill=0)
            else:
                d.rectangle([x0, y + line // 3, x0 + round(n * char), y + 2 * line // 3 + 1], fill=60)
            y += line
    for d in draws:  # the page number, printed
        d.rectangle([wpx // 2 - 12, hpx - 44, wpx // 2 + 12, hpx - 36], fill=0)
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1)
    for im in images:
        c.drawImage(ImageReader(im), 0, 0, PAGE_W, A4[1])
        c.showPage()
    c.save()
    return buf.getvalue()


def render_scan(report: dict, *, dpi: int = 200, skews: tuple[float, ...] = (-1.5, 1.2, 0.8, -1.0),
                noise: float = 10.0, quality: int = 60, seal_page: int = 1, seal_at: tuple[float, float] = (0.62, 0.45),
                colour: bool = True, text_pages: tuple[int, ...] = ()) -> bytes:
    """``render_pdf(report)`` printed and scanned: each page rasterised at ``dpi``, on grey
    paper, rotated by ``skews[page]`` degrees, with Gaussian noise, a red seal (a ring with text)
    stamped over the table on page ``seal_page`` (0-based) at ``seal_at`` (fractions of the page;
    the red multiplies, as ink does), and JPEG-compressed at ``quality``: in colour, or all grey
    (``colour=False``: the seal grey too); then the JPEGs are put back into a PDF of image-only pages.
    Pages in ``text_pages`` keep their text layer (a mixed PDF, as when a cover page is typed).
    Needs a CJK system font for PDFium to draw the text (Debian: fonts-wqy-microhei)."""
    import numpy as np
    import pypdfium2 as pdfium

    source = pdfium.PdfDocument(render_pdf(report))
    rng = np.random.default_rng(len(source))
    out = io.BytesIO()
    pages: list[bytes | None] = []
    for index in range(len(source)):
        if index in text_pages:
            pages.append(None)
            continue
        image = source[index].render(scale=dpi / 72).to_pil().convert("RGB")
        if index == seal_page:
            seal = Image.new("RGB", image.size, (255, 255, 255))
            draw = ImageDraw.Draw(seal)
            cx, cy, r = image.width * seal_at[0], image.height * seal_at[1], dpi * 0.8
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(215, 40, 45), width=max(2, dpi // 25))
            font = _seal_font(round(dpi * 0.22))
            if font is not None:
                draw.text((cx, cy - r * 0.45), "政府信息公开专用章", fill=(215, 40, 45), font=font, anchor="mm")
            draw.regular_polygon((cx, cy + r * 0.1, r * 0.25), 5, fill=(215, 40, 45))
            image = Image.fromarray((np.asarray(image, np.float32) * np.asarray(seal, np.float32) / 255).astype(np.uint8))
        image = image.rotate(skews[index % len(skews)], resample=Image.BICUBIC, fillcolor=(255, 255, 255))
        pixels = np.asarray(image, np.float32) * 0.82 + 28  # grey paper, faded ink
        pixels += rng.normal(0, noise, pixels.shape[:2])[:, :, None]
        image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).convert("RGB" if colour and index == seal_page else "L")
        jpeg = io.BytesIO()
        image.save(jpeg, "JPEG", quality=quality)
        pages.append(jpeg.getvalue())
    scan = pdfium.PdfDocument.new()
    for index, jpeg in enumerate(pages):
        if jpeg is None:
            scan.import_pages(source, [index])
            continue
        page = scan.new_page(PAGE_W, A4[1])
        picture = pdfium.PdfImage.new(scan)
        picture.load_jpeg(io.BytesIO(jpeg), inline=True)
        picture.set_matrix(pdfium.PdfMatrix().scale(PAGE_W, A4[1]))
        page.insert_obj(picture)
        page.gen_content()
    scan.save(out)
    return out.getvalue()


def _seal_font(size: int):
    from PIL import ImageFont

    for path in ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"):
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            continue
    return None
