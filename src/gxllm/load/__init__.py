"""The load stage: bytes in, a `Document` of raw cell texts out.

Sniffs what the input is (rejecting binary, legacy Word and empty inputs with a one-line
reason), decodes a text input (`sniff`) and hands it to the reader of its format, which splits
it into lines of cells. Cell texts are *raw*: normalisation is a later stage.

Each format is a module of this package with a `read(source, name) -> (lines, ocr)` (`source`
the bytes for a binary container, the decoded text otherwise; `ocr` how each cell of a scanned
page was read, else empty), registered in `FORMATS` with how it is recognised. A module is
imported only when an input of its format comes: a text report never loads the PDF library.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import stat
import sys
from collections.abc import Callable
from typing import NamedTuple

from gxllm.document import Document, Source
from gxllm.errors import InputError

from . import sniff
from .sniff import declared_encoding, decode, sniff_format

__all__ = ["FORMATS", "MAX_BYTES", "Format", "declared_encoding", "decode", "load", "read_input", "sniff_format"]

MAX_BYTES = 20 * 1024 * 1024


class Format(NamedTuple):
    """An input format: what the result's `source.format` calls it, the module whose `read` gives
    its lines, whether it is read from the bytes (a binary container) or from the decoded text,
    and how it is recognised from those and the file name."""

    name: str
    module: str
    binary: bool
    recognise: Callable[[bytes, str], bool] | Callable[[str, str], bool]


# In the order they are tried: containers by their bytes, then text by its content; text last.
FORMATS = (
    Format("pdf", "gxllm.load.pdf", True, sniff.is_pdf),
    Format("docx", "gxllm.load.docx", True, sniff.is_zip),
    Format("html", "gxllm.load.html", False, sniff.is_html),
    Format("text", "gxllm.load.text", False, lambda text, name: True),
)

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
    container = next((f for f in FORMATS if f.binary and f.recognise(data, name)), None)
    if container is not None:
        return _document(data, name, container, None, data)
    sniff.refuse_unreadable(data, name)
    if sniff.looks_binary(data, encoding):
        raise InputError(f"{name}: binary file, not a text, HTML, PDF or Word report")
    text, used = decode(data, encoding, is_html=sniff.might_be_html(data, name), name=name)
    if not text.strip():
        raise InputError(f"{name}: empty input")
    return _document(data, name, next(f for f in FORMATS if not f.binary and f.recognise(text, name)), used, text)


def _document(data: bytes, name: str, fmt: Format, encoding: str | None, source: bytes | str) -> Document:
    reader = sys.modules.get(fmt.module) or importlib.import_module(fmt.module)  # imported once
    lines, ocr = reader.read(source, name)
    source_record = Source(name=name, format=fmt.name, encoding=encoding, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    return Document(source=source_record, lines=lines, ocr=ocr)
