"""Plain text: one line per source line, each a single raw cell (split into cells later)."""

from __future__ import annotations

from gxllm.document import Cell, Line

_new = tuple.__new__  # a NamedTuple built from a tuple, without its Python-level __new__


def text_lines(text: str) -> tuple[Line, ...]:
    """One single-cell line per source line (\\f breaks lines too), empty lines kept, raw text."""
    return tuple([_new(Line, ((_new(Cell, (s, None)),), i, None, None, None)) for i, s in enumerate(text.splitlines(), 1)])


def read(text: str, name: str) -> tuple[tuple[Line, ...], dict]:
    return text_lines(text), {}
