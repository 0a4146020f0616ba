"""Ruled tables rebuilt from their ruling lines: shared by a PDF's text layer (`pdf`) and a
scanned page read by the OCR (`ocr`). Characters (`Glyph`) are placed in the grid's slots; a
slot whose boundary is not drawn is merged with its neighbour, as a merged cell is printed.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass

TOLERANCE = 2.0  # points: rule ends that miss each other by this much still meet


@dataclass(frozen=True, slots=True)
class Glyph:
    text: str
    x0: float
    top: float  # page coordinates with y growing downwards, like reading order
    x1: float
    bottom: float
    confidence: float | None = None  # OCR: how sure the engine is of the word; None in a text layer
    corrected: bool = False  # OCR: look-alike letters read as digits (O→0, l→1)

    @property
    def size(self) -> float:
        return self.bottom - self.top

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.top + self.bottom) / 2


@dataclass(frozen=True, slots=True)
class Rule:
    at: float  # y of a horizontal rule, x of a vertical one
    start: float
    end: float

    def covers(self, at: float, point: float) -> bool:
        return abs(self.at - at) <= TOLERANCE and self.start - TOLERANCE <= point <= self.end + TOLERANCE


@dataclass
class Grid:
    """A ruled table on one page: boundaries, and each slot's merged-cell root."""

    ys: list[float]
    xs: list[float]
    root: dict[tuple[int, int], tuple[int, int]]
    table: int = 0  # document-wide table ordinal; a table continued on the next page shares it

    def slot(self, glyph: Glyph) -> tuple[int, int] | None:
        if not (self.xs[0] <= glyph.cx <= self.xs[-1] and self.ys[0] <= glyph.cy <= self.ys[-1]):
            return None
        i = min(bisect_right(self.ys, glyph.cy) - 1, len(self.ys) - 2)
        j = min(bisect_right(self.xs, glyph.cx) - 1, len(self.xs) - 2)
        return self.root[(i, j)]


def find_grids(horizontal: list[Rule], vertical: list[Rule]) -> list[Grid]:
    """Ruled tables: groups of crossing rules with at least two columns (a frame is not a table)."""
    rules = horizontal + vertical
    parent = list(range(len(rules)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Vertical rules sorted by x, so each horizontal rule only looks at those within its span.
    by_x = sorted(range(len(vertical)), key=lambda j: vertical[j].at)
    xs = [vertical[j].at for j in by_x]
    for i, h in enumerate(horizontal):
        low, high = bisect_left(xs, h.start - TOLERANCE), bisect_right(xs, h.end + TOLERANCE)
        for j in by_x[low:high]:
            if vertical[j].covers(vertical[j].at, h.at):
                parent[find(i)] = find(len(horizontal) + j)
    groups: dict[int, list[int]] = {}
    for i in range(len(rules)):
        groups.setdefault(find(i), []).append(i)
    grids = []
    for members in groups.values():
        hs = [rules[i] for i in members if i < len(horizontal)]
        vs = [rules[i] for i in members if i >= len(horizontal)]
        # A row cut by a page break has no rule under it (or above it, on the next page): the
        # vertical rules still reach the edge of the cut.
        ys = boundaries(hs + [Rule(v.start, 0, 0) for v in vs] + [Rule(v.end, 0, 0) for v in vs])
        xs = boundaries(vs + [Rule(h.start, 0, 0) for h in hs] + [Rule(h.end, 0, 0) for h in hs])
        if len(ys) >= 2 and len(xs) >= 3:  # one row is enough: the tail of a table on a new page
            grids.append(_grid(ys, xs, hs, vs))
    return sorted(grids, key=lambda grid: grid.ys[0])


def boundaries(rules: list[Rule]) -> list[float]:
    """Distinct positions of rules, those closer than the tolerance taken as one."""
    positions: list[float] = []
    for at in sorted(r.at for r in rules):
        if not positions or at - positions[-1] > TOLERANCE:
            positions.append(at)
    return positions


def _grid(ys: list[float], xs: list[float], hs: list[Rule], vs: list[Rule]) -> Grid:
    """Slots between consecutive boundaries, merged wherever the line between two is not drawn."""
    root = {(i, j): (i, j) for i in range(len(ys) - 1) for j in range(len(xs) - 1)}

    def find(slot: tuple[int, int]) -> tuple[int, int]:
        while root[slot] != slot:
            root[slot] = root[root[slot]]
            slot = root[slot]
        return slot

    def union(a: tuple[int, int], b: tuple[int, int]) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:  # the top-left slot stays the root: that is where the cell is emitted
            first, second = sorted((ra, rb))
            root[second] = first

    for i in range(len(ys) - 1):
        middle_y = (ys[i] + ys[i + 1]) / 2
        for j in range(len(xs) - 1):
            middle_x = (xs[j] + xs[j + 1]) / 2
            if j + 1 < len(xs) - 1 and not any(v.covers(xs[j + 1], middle_y) for v in vs):
                union((i, j), (i, j + 1))
            if i + 1 < len(ys) - 1 and not any(h.covers(ys[i + 1], middle_x) for h in hs):
                union((i, j), (i + 1, j))
    return Grid(ys, xs, {slot: find(slot) for slot in root})
