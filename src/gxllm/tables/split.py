"""Split glued digit runs into cells, decided by the template's identities. Pure.

A crawler that flattened a table leaves `21710000218` for 217|1|0|0|0|0|218. The boundaries are
not in the text, but the identities are in the template: a split is kept only where every
identity over the row holds (T3-row, T3-subtotal, T4-total), and rows that stay ambiguous are
decided across rows by the column identities (T3-results, T3-flow). A row is read only where
exactly one split survives; otherwise its candidates are reported and it stays unread.

What a split may do, and nothing else:
- a cell is a number as the column prints it: no leading zeros but `0` itself, a sign only in a
  signed column (本年增/减), decimals only in an amount, `1,234` thousands groups;
- a space (or an explicit blank mark such as `—`) is a boundary, never inside a number;
- a cell printed as nothing leaves no trace, so up to `MAX_BLANKS` cells of a row may be blank.

The search is bounded (`BUDGET` steps): a run that cannot be decided in it is left unread.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ..template import SumInstance, ValueKind

Value = int | float | None
Candidate = tuple[Value, ...]

MAX_BLANKS = 2  # cells of one row printed as nothing
BUDGET = 200_000  # search steps for one row, or for one table's column solve
CANDIDATE_LIMIT = 64  # more splits than this: the row is ambiguous beyond deciding by its columns
_INTEGER_DIGITS = {"count": 9, "signed": 9, "money": 12}
_DECIMALS = 6
_BOUNDARY, _BLANK = "|", "_"


@dataclass
class RowSplit:
    candidates: list[Candidate]  # the splits kept, at most CANDIDATE_LIMIT + 1
    failing: tuple[str, ...] = ()  # instances some kept split breaks: no split keeps them all
    broken: tuple[str, ...] = ()  # instances every kept split breaks: the printed numbers' own error
    exhausted: bool = False  # the search budget ran out: nothing can be said
    steps: int = 0  # search steps taken, at most BUDGET per relaxation level tried

    @property
    def unique(self) -> Candidate | None:
        return self.candidates[0] if len(self.candidates) == 1 and not self.exhausted else None


def encode(pieces: Sequence[str | None]) -> str:
    """A row's printed pieces as one string: runs joined (a line break inside a run is no
    boundary), spaces and empty pieces as boundaries, None (a printed blank mark) as a blank cell."""
    out = []
    for piece in pieces:
        if piece is None:
            out.append(_BOUNDARY + _BLANK + _BOUNDARY)
        else:
            out.append(_BOUNDARY.join(piece.split()) or _BOUNDARY)
    return "".join(out).strip(_BOUNDARY)


def _numbers(text: str, at: int, kind: ValueKind) -> Iterator[tuple[int | float, int]]:
    """(value, end) of every number the column could print starting at `at`."""
    i = at
    negative = text.startswith("-", i)
    if negative:
        if kind != "signed":
            return
        i += 1
    if i >= len(text) or not text[i].isdigit():
        return
    ends = []
    if text[i] == "0":
        ends.append(i + 1)
    else:
        j = i
        while j < len(text) and text[j].isdigit() and j - i < _INTEGER_DIGITS[kind]:
            j += 1
            ends.append(j)
        # 1,234,567: one to three digits, then groups of three after each comma
        j = i + 1
        while j < len(text) and j - i <= 3 and text[j].isdigit():
            j += 1
        while j + 4 <= len(text) and text[j] == "," and text[j + 1 : j + 4].isdigit():
            j += 4
            ends.append(j)
    for end in ends:
        integer = int(text[i:end].replace(",", ""))
        if negative and integer == 0:
            continue
        sign = -1 if negative else 1
        yield sign * integer, end
        if kind != "money" or not text.startswith(".", end):
            continue
        d = end + 1
        while d < len(text) and text[d].isdigit() and d - end <= _DECIMALS:
            d += 1
            yield sign * float(text[i:d].replace(",", "")), d


def split_row(
    pieces: Sequence[str | None], kinds: Sequence[ValueKind], instances: Sequence[SumInstance] = ()
) -> RowSplit:
    """Every split of a row's printed pieces into `len(kinds)` cells under which its identities
    hold; instances name cells by their index. Where no split lets every instance hold, the splits
    that let the most hold are kept, and `failing` names the others."""
    text = encode(pieces)
    width = len(kinds)
    digits_after = [0] * (len(text) + 1)
    blanks_after = [0] * (len(text) + 1)
    for i in range(len(text) - 1, -1, -1):
        digits_after[i] = digits_after[i + 1] + text[i].isdigit()
        blanks_after[i] = blanks_after[i + 1] + (text[i] == _BLANK)
    # Each instance as index ranges: sums over a range come from running sums of the cells so far.
    checks: dict[int, list[tuple[str, tuple[int, int], tuple[int, int]]]] = {}
    general: dict[int, list[SumInstance]] = {}
    for instance in instances:
        lhs, rhs = _span(instance.lhs), _span(instance.rhs)
        if lhs and rhs and len(set(instance.cells)) == len(instance.cells):
            checks.setdefault(max(instance.cells), []).append((instance.name, lhs, rhs))
        else:
            general.setdefault(max(instance.cells), []).append(instance)
    # A total printed after its parts (T3-row, T4-total) has at least as many digits as their sum
    # so far: a split whose parts outgrow the digits left is dead early.
    totals_after = [
        (lhs[0], rhs)
        for cell_checks in checks.values()
        for _, lhs, rhs in cell_checks
        if lhs[1] - lhs[0] == 1 and lhs[0] >= rhs[1] and all(kinds[c] != "signed" for c in range(*rhs))
    ]
    longest = max(_INTEGER_DIGITS[k] + (_DECIMALS if k == "money" else 0) for k in kinds) if kinds else 0
    options_at: dict[tuple[int, str], list[tuple[Value, int]]] = {}

    def numbers_at(at: int, kind: ValueKind) -> list[tuple[Value, int]]:
        """The numbers a cell of `kind` can be from `at` (never ending before a stray `.` or `,`)."""
        key = (at, kind)
        if key not in options_at:
            options_at[key] = [
                (v, end)
                for v, end in _numbers(text, at, kind)
                if end == len(text) or text[end] in (_BOUNDARY, _BLANK, "-") or text[end].isdigit()
            ]
        return options_at[key]

    # A total printed last, over parts that are counts (T3-row), is one of the numbers that end
    # the row (`finals`: value, start). While every identity must hold, a branch is cut unless
    # for one of them what the parts still lack is ≥ 0 and no more than the digits before its
    # start read as one number (pieces of a digit string never add up to more); the last part
    # must be exactly those digits. This only cuts branches that would find nothing.
    last_sum = next(
        ((a, b) for total, (a, b) in totals_after if total == width - 1 and all(kinds[c] == "count" for c in range(a, width))),
        None,
    )
    finals: list[tuple[int, int]] = []
    if last_sum is not None:
        finals = [(v, q) for q in range(len(text)) for v, end in numbers_at(q, "count") if end == len(text)]
        finals += [(0, len(text))] + ([(0, len(text) - 1)] if text.endswith(_BLANK) else [])  # printed blank
    digit_text = "".join(ch for ch in text if ch.isdigit())
    digits_before = [digits_after[0] - d for d in digits_after]  # digits in text[:i]

    # The other totals right after their parts (T4-total): the last part, whatever digits it
    # takes from here, must leave a number equal to the parts' sum (or a blank when it is 0).
    last_parts = {
        total - 1: a
        for total, (a, b) in totals_after
        if b == total < width - 1 and all(kinds[c] == "count" for c in range(a, total + 1))
    }

    def total_follows(at: int, parts: Value) -> bool:
        start = digits_before[at]
        for q in range(at, len(text) + 1):
            taken = digits_before[q] - start
            if taken > _INTEGER_DIGITS["count"]:
                return False
            total = parts + int(digit_text[start : start + taken] or 0)
            if total == 0 or any(v == total for v, _ in numbers_at(q, "count")):
                return True
        return False

    def reachable(at: int, parts: Value, last_part: bool) -> bool:
        """Whether the parts, adding up to `parts` so far, can still end in one of `finals`."""
        for total, start in finals:
            if start >= at and total >= parts:
                digits = int(digit_text[digits_before[at] : digits_before[start]] or 0)
                if total - parts == digits if last_part else total - parts <= digits:
                    return True
        return False

    total_steps = 0
    for allowed in range(len(instances) + 1):
        steps = 0
        found: list[Candidate] = []
        failed: set[str] = set()
        always: set[str] = {i.name for i in instances}
        values: list[Value] = []
        sums = [0]  # sums[k]: the first k cells added up, a blank as 0

        def broken_at(cell: int) -> tuple[str, ...]:
            """The instances completed by `cell` that do not hold."""
            out = tuple(
                name for name, (a, b), (c, d) in checks.get(cell, ())
                if abs((sums[b] - sums[a]) - (sums[d] - sums[c])) >= 1e-6 * max(1.0, abs(sums[b] - sums[a]))
            )
            return out + tuple(i.name for i in general.get(cell, ()) if not i.holds(values.__getitem__))

        def determined(cell: int) -> Value | str:
            """The value the identities completing at `cell` leave it, or "" where they leave it free."""
            for _, (a, b), (c, d) in checks.get(cell, ()):
                if b - a == 1 and a == cell:  # a total after its parts
                    return sums[d] - sums[c]
                if d - c == 1 and c == cell:
                    return sums[b] - sums[a]
            return ""

        def search(at: int, blanks: int, failures: tuple[str, ...]) -> bool:
            """False once the budget or the candidate limit ends the search."""
            nonlocal steps
            steps += 1
            if steps > BUDGET:
                return False
            while at < len(text) and text[at] == _BOUNDARY:
                at += 1
            cell = len(values)
            if cell == width:
                if at == len(text):
                    found.append(tuple(values))
                    failed.update(failures)
                    always.intersection_update(failures)
                return len(found) <= CANDIDATE_LIMIT
            left = width - cell
            if digits_after[at] > left * longest or blanks_after[at] > left:
                return True
            if not failures:
                for total, (a, b) in totals_after:
                    partial = int(sums[min(cell, b)] - sums[min(cell, a)])
                    if cell <= total and partial and len(str(partial)) > digits_after[at]:
                        return True  # (a zero total may be printed as nothing)
            if allowed == 0 and last_sum is not None and cell < width - 1:
                a, b = last_sum
                if not reachable(at, sums[min(cell, b)] - sums[min(cell, a)], cell == b - 1 == width - 2):
                    return True
            if allowed == 0 and cell in last_parts and not total_follows(at, sums[cell] - sums[last_parts[cell]]):
                return True
            if at < len(text) and text[at] == _BLANK:
                options: list[tuple[Value, int, int]] = [(None, at + 1, 0)]
            else:
                options = [(v, end, 0) for v, end in numbers_at(at, kinds[cell])]
                if blanks < MAX_BLANKS:
                    options.append((None, at, 1))
            target = determined(cell) if len(failures) == allowed else ""
            for value, end, used in options:
                if target != "" and not abs((value or 0) - target) < 1e-9:
                    continue
                values.append(value)
                sums.append(sums[-1] + (value or 0))
                broken = broken_at(cell)
                if len(failures) + len(broken) <= allowed and not search(end, blanks + used, failures + broken):
                    values.pop()
                    sums.pop()
                    return False
                values.pop()
                sums.pop()
            return True

        finished = search(0, 0, ())
        total_steps += steps
        if not finished and steps > BUDGET:
            return RowSplit(found, tuple(sorted(failed)), exhausted=True, steps=total_steps)
        if found:
            broken = tuple(sorted(always)) if allowed else ()
            return RowSplit(found, tuple(sorted(failed)), broken, steps=total_steps)
    return RowSplit([], tuple(i.name for i in instances), steps=total_steps)


def _span(cells: tuple) -> tuple[int, int] | None:
    """(first, end) where the cells are the indices first, first + 1, … end - 1; else None."""
    ordered = sorted(cells)
    return (ordered[0], ordered[-1] + 1) if ordered == list(range(ordered[0], ordered[-1] + 1)) else None


def solve_columns(
    rows: dict[str, list[Candidate]], instances: Sequence[SumInstance], fixed: dict[str, Candidate]
) -> dict[str, list[Candidate]] | None:
    """The candidates of each ambiguous row that appear in some choice of one candidate per row
    under which every instance holds. Instances name cells as (row key, column index); those
    over a row in neither `rows` nor `fixed` (unread) are left out. None: no choice satisfies
    them all, or the budget ran out."""
    known = set(rows) | set(fixed)
    usable = [i for i in instances if all(row in known for row, _ in i.cells)]
    order = sorted(rows, key=lambda r: len(rows[r]))
    chosen: dict[str, Candidate] = dict(fixed)
    # an instance is checked as soon as its last row is chosen
    position = {row: n for n, row in enumerate(order)}
    checks: dict[int, list[SumInstance]] = {}
    for instance in usable:
        last = max((position[r] for r, _ in instance.cells if r in position), default=-1)
        checks.setdefault(last, []).append(instance)
    if not all(i.holds(_cell(chosen)) for i in checks.get(-1, ())):
        return None
    survivors: dict[str, set[int]] = {row: set() for row in order}
    picks: list[int] = []
    steps = 0

    def search(n: int) -> bool:
        nonlocal steps
        steps += 1
        if steps > BUDGET:
            return False
        if n == len(order):
            for row, pick in zip(order, picks):
                survivors[row].add(pick)
            return True
        row = order[n]
        for k, candidate in enumerate(rows[row]):
            chosen[row] = candidate
            picks.append(k)
            if all(i.holds(_cell(chosen)) for i in checks.get(n, ())) and not search(n + 1):
                return False
            picks.pop()
        chosen.pop(row, None)
        return True

    if not search(0) or not all(survivors.values()) and order:
        return None
    return {row: [rows[row][k] for k in sorted(picks)] for row, picks in survivors.items()}


def _cell(chosen: dict[str, Candidate]):
    return lambda cell: chosen[cell[0]][cell[1]]
