"""Plain text: one line per source line, each a single raw cell (split into cells later)."""

from __future__ import annotations

from itertools import count, repeat

from gxllm.document import Cell, Line

_new = tuple.__new__  # a NamedTuple built from a tuple, without its Python-level __new__


def text_lines(text: str) -> tuple[Line, ...]:
    """One single-cell line per source line (\\f breaks lines too), empty lines kept, raw text."""
    # Built by map and zip, not a Python loop: every line of every text report goes through here.
    cells = map(_new, repeat(Cell), zip(text.splitlines(), repeat(None)))
    return tuple(map(_new, repeat(Line), zip(zip(cells), count(1), repeat(None), repeat(None), repeat(None))))


def read(text: str, name: str) -> tuple[tuple[Line, ...], dict]:
    return text_lines(text), {}
