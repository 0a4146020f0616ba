"""Read the image-only pages of a PDF with an embedded offline OCR (RapidOCR on onnxruntime).

This is the I/O edge of the scan path; everything after it is the PDF text-layer path. Each page
is rendered at 200 dpi, its seal taken out (coloured pixels become paper, and the grey of a page
is its lightest colour channel, so red ink over print fades), its skew measured from the rows of ink and undone, and its ruling
lines found with morphology. The OCR's words become `Glyph`s and the lines `Rule`s in page
points, exactly what `pdf` reads from a text layer, so the same grid rebuilding and the
same label-anchored parser read a scan.

Only table pages are recognised: the ruled grid is found (a fraction of a second per page)
before any recognition, and a page is read when it holds a grid, is the first page (the title:
agency and year), or comes just before a grid that starts at the top of its page (the table's
heading). A scan without any grid (a borderless table) is read whole.

numpy, OpenCV and RapidOCR are imported here only, and this module is imported only for scans,
so that text, HTML and text-layer PDFs never pay for them.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import re

import pypdfium2 as pdfium

from gxllm.load.grid import Glyph, Rule, find_grids

DPI = 200
SCALE = DPI / 72  # pixels per PDF point
MODULES = ("rapidocr", "onnxruntime", "cv2", "numpy", "PIL")
EXTRA = "pip install 'gxllm[ocr]'"
_MIN_RULE = round(0.2 * DPI)  # pixels: a ruling line is at least 5 mm long; "一" and "—" are shorter
_GAP = 12.0  # points: a ruling line broken by less than this is one line
_SLACK = 2.0  # points: rules this close are on one line
_MIN_TABLE = 0.25  # a table's grid spans at least this fraction of the page width
_COLOURED = 30  # max - min channel: above it a pixel is seal ink, not black print
_BRIGHT = 150  # ... and its lightest channel above this: seal ink on paper
_INSET = 4  # pixels kept off a cell's rules when it is read again on its own
_MIN_INK = 12  # dark pixels: fewer in a cell is noise, not a printed character
_MAX_SKEW = 3.0  # degrees searched either way
_HEADING_ROOM = 0.25  # a grid starting in this top fraction of its page may have its heading on the page before
# Letters an OCR reads for digits in a number: O→0, l→1 … Applied only to a word of ASCII
# letters and digits that becomes a number, and then marked `corrected`.
_DIGIT_LOOKALIKES = str.maketrans("OoDQlI|i!SsBZz", "00001111155822")
_ASCII_WORD = re.compile(r"^[0-9A-Za-z|!.,]+$")
_NUMBER = re.compile(r"^(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")


def available() -> bool:
    """Whether the `ocr` extra is installed (without importing it)."""
    return all(importlib.util.find_spec(module) is not None for module in MODULES)


def correct_digits(text: str) -> tuple[str, bool]:
    """A word as a number where look-alike letters stand for digits (`1O` → `10`), and whether
    it was changed; any other word is returned as read."""
    if not _ASCII_WORD.match(text):
        return text, False
    fixed = text.translate(_DIGIT_LOOKALIKES)
    if fixed != text and _NUMBER.match(fixed):
        return fixed, True
    return text, False


class Scanner:
    """Renders, deskews and rules pages, and recognises the ones asked for. One OCR engine per
    document: it loads its models from the wheel (no download) in a fraction of a second."""

    def __init__(self) -> None:
        import cv2
        import numpy as np

        self._cv2, self._np = cv2, np
        self._engine = None

    def prepare(self, page: pdfium.PdfPage) -> tuple[object, tuple[list, list], float]:
        """(deskewed grey image, (horizontal, vertical) rules in points, skew) of a page: cheap."""
        np = self._np
        bitmap = page.render(scale=SCALE)
        pixels = bitmap.to_numpy()
        if pixels.ndim == 3:
            colour = pixels[:, :, :3].astype(np.int16)
            # A seal is red, a row fill light blue: their lightest channel is pale, while black
            # print stays dark, even under the seal. That is what the rules are found on.
            lines = colour.max(axis=2)
            # For the OCR, bright coloured pixels become paper, so that the seal's own text and
            # star are not read (they would swallow the numbers under them into one text line).
            words = lines.copy()
            words[((lines - colour.min(axis=2)) > _COLOURED) & (lines > _BRIGHT)] = 255
            lines, words = lines.astype(np.uint8), words.astype(np.uint8)
        else:
            lines = words = np.ascontiguousarray(pixels)
        ink = self._ink(lines)
        skew = self._skew(ink)
        if abs(skew) >= 0.05:
            ink = self._ink(self._rotate(lines, skew, 255))
            words = self._rotate(words, skew, 255)
        return words, self._rules(ink), skew

    def _ink(self, grey):
        cv2 = self._cv2
        return cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)[1]

    def _skew(self, ink) -> float:
        """The angle (degrees) whose rotation makes the rows of ink sharpest: text lines and rules
        both, so it works with or without ruling. Coarse on a quarter-size image, then fine."""
        cv2, np = self._cv2, self._np
        small = cv2.resize(ink, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_AREA)

        def sharpness(angle: float) -> float:
            rows = self._rotate(small, angle, 0).sum(axis=1, dtype=np.float64)
            return float(np.square(np.diff(rows)).sum())

        best = max(np.arange(-_MAX_SKEW, _MAX_SKEW + 1e-9, 0.25), key=sharpness)
        return float(max(np.arange(best - 0.25, best + 0.25 + 1e-9, 0.05), key=sharpness))

    def _rotate(self, image, angle: float, background: int):
        cv2 = self._cv2
        h, w = image.shape[:2]
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), -angle, 1.0)
        return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=background)

    def _rules(self, ink) -> tuple[list, list]:
        """Straight lines of ink at least 5 mm long, as `Rule`s in points (the PDF path's units),
        those of tables only: the strokes of a large title character can form a tiny grid."""

        cv2 = self._cv2
        found = []
        for kernel in ((_MIN_RULE, 1), (1, _MIN_RULE)):
            lines = cv2.morphologyEx(ink, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, kernel))
            count, _, stats, _ = cv2.connectedComponentsWithStats(lines, connectivity=8)
            rules = []
            for x, y, w, h, _area in stats[1:count]:
                if kernel[0] > 1:
                    rules.append(Rule((y + h / 2) / SCALE, x / SCALE, (x + w) / SCALE))
                else:
                    rules.append(Rule((x + w / 2) / SCALE, y / SCALE, (y + h) / SCALE))
            found.append(_bridge(rules))
        horizontal, vertical = found
        width = ink.shape[1] / SCALE
        tables = [g for g in find_grids(horizontal, vertical) if g.xs[-1] - g.xs[0] >= _MIN_TABLE * width]

        def kept(rule: Rule, across: bool) -> bool:
            for g in tables:
                (a0, a1), (b0, b1) = ((g.ys[0], g.ys[-1]), (g.xs[0], g.xs[-1])) if across else ((g.xs[0], g.xs[-1]), (g.ys[0], g.ys[-1]))
                if a0 - _SLACK <= rule.at <= a1 + _SLACK and b0 - _SLACK <= rule.start and rule.end <= b1 + _SLACK:
                    return True
            return False

        return [r for r in horizontal if kept(r, True)], [r for r in vertical if kept(r, False)]

    def recognise(self, image) -> list:
        """The OCR's words on a prepared page, as `Glyph`s in points with their confidence."""

        if self._engine is None:
            from rapidocr import RapidOCR

            self._engine = RapidOCR(params={"Global.log_level": "error"})
        colour = self._cv2.cvtColor(image, self._cv2.COLOR_GRAY2BGR)
        # No angle classifier: a page is upright once deskewed. A low text_score keeps the
        # doubtful numbers, so that they are read and marked rather than silently left blank.
        # (The engine keeps the options of its last call, so each call names all of them.)
        result = self._engine(colour, use_det=True, use_cls=False, use_rec=True, return_word_box=True, text_score=0.3)
        glyphs = []
        for words in result.word_results or ():
            for word in words:
                if len(word) != 3:
                    continue  # nothing detected on the page
                text, score, box = word
                text = text.strip()
                if not text:
                    continue
                xs = [p[0] for p in box]
                ys = [p[1] for p in box]
                text, corrected = correct_digits(text)
                glyphs.append(
                    Glyph(
                        text, min(xs) / SCALE, min(ys) / SCALE, max(xs) / SCALE, max(ys) / SCALE,
                        confidence=round(float(score), 3), corrected=corrected,
                    )
                )
        return glyphs

    def reread(self, image, box: tuple[float, float, float, float]):
        """A grid cell where the page's recognition found nothing, recognised on its own (no
        detection): a number beside a seal's text is swallowed into the seal's line, and a faint
        0 can be missed. Only a number is taken; None where the cell holds no ink or no number."""

        np = self._np
        x0, top, x1, bottom = (round(v * SCALE) for v in box)
        inner = image[top + _INSET : bottom - _INSET, x0 + _INSET : x1 - _INSET]
        if inner.size == 0 or int((inner < 128).sum()) < _MIN_INK:
            return None
        result = self._engine(
            self._cv2.cvtColor(np.ascontiguousarray(inner), self._cv2.COLOR_GRAY2BGR),
            use_det=False, use_cls=False, use_rec=True, return_word_box=False, text_score=0.3,
        )
        text = "".join(result.txts or ()).strip()
        if not text:
            return None
        text, corrected = correct_digits(text)
        if not _NUMBER.match(text):
            return None  # the seal's own strokes, or a label: the cell stays unread (and doubtful)
        score = min(result.scores) if result.scores else 0.0
        return Glyph(text, *box, confidence=round(float(score), 3), corrected=corrected)

    def crop(self, image, box: tuple[float, float, float, float]) -> str:
        """A small PNG of the scan around a cell's box, as a data URL for the review page."""
        from PIL import Image

        x0, top, x1, bottom = box
        pad = 6
        h, w = image.shape[:2]
        left, upper = max(0, round(x0 * SCALE) - pad), max(0, round(top * SCALE) - pad)
        right, lower = min(w, round(x1 * SCALE) + pad), min(h, round(bottom * SCALE) + pad)
        picture = Image.fromarray(image[upper:lower, left:right])
        picture.thumbnail((160, 60))
        buffer = io.BytesIO()
        picture.save(buffer, "PNG", optimize=True)
        return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _bridge(rules: list) -> list:
    """Collinear pieces of one ruling line joined: noise, JPEG and a seal break a scanned line
    in places, and a gap of a few characters is never a merged cell."""

    lines: list[list] = []  # rules on one line (positions within the slack), by position
    for rule in sorted(rules, key=lambda r: r.at):
        if lines and rule.at - lines[-1][0].at <= _SLACK:
            lines[-1].append(rule)
        else:
            lines.append([rule])
    out = []
    for line in lines:
        at = sum(r.at for r in line) / len(line)
        joined: list = []
        for rule in sorted(line, key=lambda r: r.start):
            if joined and rule.start <= joined[-1].end + _GAP:
                joined[-1] = Rule(at, joined[-1].start, max(joined[-1].end, rule.end))
            else:
                joined.append(Rule(at, rule.start, rule.end))
        out += joined
    return out


def pages_to_read(has_grid: list[bool | None], grid_tops: list[float | None]) -> set[int]:
    """Indexes of the image-only pages worth recognising.

    `has_grid[i]` is None for a page with a text layer (not OCRed), else whether it holds a ruled
    grid; `grid_tops[i]` the top of its first grid as a fraction of the page height.
    """
    scans = [i for i, grid in enumerate(has_grid) if grid is not None]
    if not any(has_grid[i] for i in scans):
        return set(scans)  # no ruling anywhere: a borderless table could be on any page
    chosen = {i for i in scans if has_grid[i]}
    if 0 in scans:
        chosen.add(0)
    for i in list(chosen):
        top = grid_tops[i]
        if i - 1 in scans and top is not None and top < _HEADING_ROOM:
            chosen.add(i - 1)
    return chosen
