"""Telling what an input is, and decoding it: the first step of the load stage.

Binary containers are told by their first bytes (PDF, a ZIP for DOCX; a legacy Word file is
refused with a way out). A text input is decoded: BOM, UTF-16 without one, strict UTF-8, the HTML
charset declaration, then charset-normalizer's guess (it tells GBK from Big5). Then it is HTML
(by name or markup) or plain text.
"""

from __future__ import annotations

import codecs
import re

from gxllm.errors import InputError

_SNIFF_BYTES = 8192  # binary / UTF-16 detection window
_DECL_BYTES = 65536  # where an HTML charset declaration is looked for
_GUESS_BYTES = 65536  # sample the encoding detector reads
_HTML_SUFFIXES = (".html", ".htm", ".xhtml", ".shtml")

_PDF_HEADER_WINDOW = 1024  # readers accept junk before %PDF- within the first KB


def is_pdf(data: bytes, name: str = "") -> bool:
    return b"%PDF-" in data[:_PDF_HEADER_WINDOW]


def is_zip(data: bytes, name: str = "") -> bool:
    """A ZIP container: a .docx (the DOCX reader names any other Office file it finds inside)."""
    return data.startswith(b"PK\x03\x04")


def refuse_unreadable(data: bytes, name: str) -> None:
    """Raise InputError for a binary format gxllm cannot read, with what to do instead."""
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise InputError(
            f"{name}: legacy Word .doc (or an encrypted Office file) cannot be read; convert it to .docx first "
            "(libreoffice --headless --convert-to docx report.doc)"
        )


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


def looks_binary(data: bytes, encoding: str | None = None) -> bool:
    """Not text at all (neither UTF-16/32, forced or sniffed, nor mostly printable bytes)."""
    wide = _is_wide(encoding) if encoding is not None else _is_wide(_bom(data)[0] or "utf-8")
    return not wide and _sniff_utf16(data) is None and _looks_binary(data)


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


def is_html(text: str, name: str = "") -> bool:
    return sniff_format(text, name) == "html"


def might_be_html(data: bytes, name: str) -> bool:
    """Before decoding: an HTML name or markup near the start (its charset declaration counts)."""
    return _html_name(name) or _looks_html_bytes(data)
