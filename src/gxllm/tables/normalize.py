"""The normalise stage: make the text of every cell comparable with the template's anchors.

Pure functions of their input. Order matters: NFKC first (full-width digits and brackets,
Kangxi radicals, nbsp/ideographic spaces), then pinyin annotations (they follow a character
and sit in now half-width brackets), then traditional → simplified with OpenCC where the document
needs it (decided once per document, because OpenCC costs about 2 ms/KB).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from .traditional import TRADITIONAL_ONLY

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
_LOOKALIKES = _RADICAL_LOOKALIKES | _PUNCTUATION  # one pass: no radical becomes a dash or a quote

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


def traditional_count(text: str) -> int:
    """How many characters of the text only traditional Chinese writes."""
    if text.isascii() or TRADITIONAL_ONLY.isdisjoint(text):  # nearly every line
        return 0
    return sum(map(TRADITIONAL_ONLY.__contains__, text))


def is_traditional(hits: int, length: int) -> bool:
    """True for a text of `length` characters holding `hits` traditional ones (a 繁體 page or
    switcher). A handful of such characters also occur in simplified text (乾, 著, 瞭…), so a few
    hits are not enough: a traditional page has them everywhere."""
    return hits >= 8 or (hits >= 2 and hits * 50 >= length)


def needs_simplification(text: str) -> bool:
    """True when the text is written in traditional characters (see `is_traditional`)."""
    return is_traditional(traditional_count(text), len(text))


# Text that normalising leaves as it is: printable ASCII, tabs, CJK unified ideographs (no
# compatibility forms among them) and the CJK punctuation NFKC keeps. Most lines of a report.
_UNCHANGED = re.compile("[\t\x20-\x7e\u3001\u3002\u300a\u300b\u4e00-\u9fff]*")


def normalize_text(text: str, *, simplify: bool = False) -> str:
    """NFKC, radicals, invisible characters, pinyin junk and (if asked) 繁→简, in that order."""
    if text.isascii():  # numbers, most cells: NFKC and the tables leave ASCII alone
        return text if text.isprintable() else _INVISIBLE.sub("", text)
    if not simplify and _UNCHANGED.fullmatch(text):
        return text
    return _normalized(text, simplify)


@lru_cache(maxsize=1 << 16)  # labels and headers repeat in every report of a batch
def _normalized(text: str, simplify: bool) -> str:
    text = _INVISIBLE.sub("", text)
    if not text.isascii():
        text = _FOOTNOTE_MARK.sub(" 注", text)
    text = unicodedata.normalize("NFKC", text).translate(_LOOKALIKES)
    if "(" in text:
        text = _PINYIN.sub("", text)
    if simplify and not text.isascii():  # most cells of a table are plain numbers
        text = _t2s().convert(text)
    return text


def squeeze(text: str) -> str:
    """Remove all whitespace: labels broken by spaces (`自然 人`, `( 一 )`) compare as one."""
    return "".join(text.split())
