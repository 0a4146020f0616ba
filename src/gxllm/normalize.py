"""The normalise stage: make the text of every cell comparable with the template's anchors.

Pure functions of their input. Order matters: NFKC first (full-width digits and brackets,
Kangxi radicals, nbsp/ideographic spaces), then pinyin annotations (they follow a character
and sit in now half-width brackets), then traditional → simplified with OpenCC where the document
needs it (decided once per document, because OpenCC costs about 2 ms/KB).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace
from functools import lru_cache

from .document import Cell, Document, Line

# Radicals outside the Kangxi block that NFKC leaves alone but PDF→Word tools emit.
_RADICAL_LOOKALIKES = str.maketrans(
    {
        "⺟": "母", "⺠": "民", "⻅": "见", "⻓": "长", "⻔": "门", "⻛": "风", "⻜": "飞",
        "⻢": "马", "⻋": "车", "⻉": "贝", "⻄": "西", "⻚": "页", "⻥": "鱼", "⻝": "食",
        "⻦": "鸟", "⻩": "黄", "⻬": "齐", "⻰": "龙", "⻳": "龟", "⺁": "厂", "⺇": "几",
        "⺊": "卜", "⺌": "小", "⺍": "小", "⺧": "牛", "⺮": "竹", "⻌": "辶",
    }
)
# Dashes and quotes that survive NFKC in several shapes; one shape each keeps anchors simple.
_PUNCTUATION = str.maketrans({"－": "-", "–": "-", "‐": "-", "〜": "~", "“": '"', "”": '"', "‘": "'", "’": "'"})

# Pinyin after a character: 報(bào), 號(hào), 鉤(gōu). Only lowercase latin letters with tone
# marks, so real brackets — (一), (单位:万元), (IPv6) — survive.
_PINYIN = re.compile(r"(?<=[\u3400-\u9fff])\((?=[a-zü]*[āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹḿ])[a-zāáǎàēéěèīíǐìōóǒòūúǔùüǖǘǚǜńňǹḿ]{1,7}\)")


# Control characters (but tab and newline), zero-width and bidi marks, BOMs, soft hyphens and
# private-use code points: invisible in a browser, poison for label matching.
_INVISIBLE = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ue000-\uf8ff]"
)


# A footnote mark printed after a number (16①, 16¹): NFKC would make it a digit (161).
_FOOTNOTE_MARK = re.compile(r"(?<=\d)[\u2460-\u2473\u2474-\u2487\u2488-\u249b\u00b9\u00b2\u00b3\u2070-\u2079]+")


@lru_cache(maxsize=1)
def _t2s():
    from opencc import OpenCC  # loads its dictionaries: only for documents that need it

    return OpenCC("t2s")


@lru_cache(maxsize=1)
def _traditional() -> dict[int, None]:
    """The characters OpenCC turns into other simplified ones: tells a traditional page at a glance.

    The conversion itself is OpenCC's, phrases included (反覆 → 反复 is a phrase, not a character).
    """
    import importlib.util  # finds the package's data without importing OpenCC itself
    import os

    package = os.path.dirname(importlib.util.find_spec("opencc").origin)
    with open(os.path.join(package, "dictionary", "TSCharacters.txt"), encoding="utf-8") as f:
        text = f.read()
    characters = []
    for line in text.splitlines():
        traditional, _, simplified = line.partition("\t")
        candidates = simplified.split()
        if len(traditional) == 1 and candidates and traditional not in candidates:
            characters.append(traditional)
    return dict.fromkeys(map(ord, characters))  # a str.translate table that deletes them


def needs_simplification(text: str) -> bool:
    """True when the text is written in traditional characters (a 繁體 page or switcher).

    A handful of such characters also occur in simplified text (乾, 著, 瞭…), so a few hits
    are not enough: a traditional page has them everywhere.
    """
    hits = len(text) - len(text.translate(_traditional()))
    return hits >= 8 or (hits >= 2 and hits * 50 >= len(text))


def normalize_text(text: str, *, simplify: bool = False) -> str:
    """NFKC, radicals, invisible characters, pinyin junk and (if asked) 繁→简, in that order."""
    if text.isascii():  # numbers, most cells: NFKC and the tables leave ASCII alone
        return text if text.isprintable() else _INVISIBLE.sub("", text)
    return _normalized(text, simplify)


@lru_cache(maxsize=1 << 16)  # labels and headers repeat in every report of a batch
def _normalized(text: str, simplify: bool) -> str:
    text = _INVISIBLE.sub("", text)
    if not text.isascii():
        text = _FOOTNOTE_MARK.sub(" 注", text)
    text = unicodedata.normalize("NFKC", text).translate(_RADICAL_LOOKALIKES).translate(_PUNCTUATION)
    if "(" in text:
        text = _PINYIN.sub("", text)
    if simplify and not text.isascii():  # most cells of a table are plain numbers
        text = _t2s().convert(text)
    return text


def normalize_document(doc: Document) -> Document:
    """Normalise every cell; decide 繁→简 once for the whole document."""
    simplify = needs_simplification("".join(cell.text for line in doc.lines for cell in line.cells))
    return replace(doc, lines=tuple(_normalized_line(line, simplify) for line in doc.lines))


def _normalized_line(line: Line, simplify: bool) -> Line:
    if len(line.cells) == 1:  # most lines of text layouts
        cell = line.cells[0]
        text = normalize_text(cell.text, simplify=simplify)
        return line if text is cell.text else Line((Cell(text, cell.pos),), line.number, line.page, line.table, line.part)
    texts = [normalize_text(c.text, simplify=simplify) for c in line.cells]
    if all(new is c.text for new, c in zip(texts, line.cells)):
        return line  # nothing to change (plain numbers, ASCII): the same line
    return Line(tuple(Cell(text, c.pos) for text, c in zip(texts, line.cells)), line.number, line.page, line.table, line.part)


def squeeze(text: str) -> str:
    """Remove all whitespace: labels broken by spaces (`自然 人`, `( 一 )`) compare as one."""
    return "".join(text.split())
