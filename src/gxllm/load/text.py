"""Plain text: one line per source line, each a single raw cell (split into cells later)."""

from __future__ import annotations

from gxllm.document import TextLines


def text_lines(text: str) -> TextLines:
    """One single-cell line per source line (\\f breaks lines too), empty lines kept, raw text."""
    return TextLines(text.splitlines())


def read(text: str, name: str) -> tuple[TextLines, dict]:
    return text_lines(text), {}
