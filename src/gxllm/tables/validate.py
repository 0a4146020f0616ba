"""The verify stage: one generic engine runs every identity the template declares.

Pure: values in, findings out. Blank (null) cells are read as 0 and each finding says so.
An identity is skipped where one of its cells could not be read (`unread`): the parser has
already said why, and a sum over an unknown cell proves nothing. Across reports, the cells the
template says carry over from one year to the next are compared for the same agency.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass

from .. import template as T
from ..findings import Finding, say
from ..model import VALUE_KINDS
from ..result_json import cell_path
from ..template import CellRef
from .normalize import normalize_text, squeeze

Values = Mapping[str, Mapping[str, int | float | None]]


def number(value: int | float | None) -> str:
    """A value as findings, reviews and decisions print it: 7, 96171.6, 1234567.89 or "blank";
    exact, so that what a reviewer copies back is the value (15 digits drop float noise)."""
    if value is None:
        return "blank"
    return str(int(value)) if float(value).is_integer() else f"{value:.15g}"


def check_sums(table: str, shape: T.Shape, values: Values, unread: Set[CellRef] = frozenset()) -> list[Finding]:
    findings = []
    for instance in shape.sum_instances:  # most hold: nothing is built for them
        if (unread and any(c in unread for c in instance.refs)) or instance.holds_in(values):
            continue
        cells = list(instance.refs)
        blank = [c for c in cells if values[c.row][c.column] is None]
        left = [values[r][c] or 0 for r, c in instance.lhs]
        right = [values[r][c] or 0 for r, c in instance.rhs]
        arithmetic = (
            f"{'+'.join(map(number, left))}={number(sum(left))} ≠ "
            f"{'+'.join(map(number, right))}={number(sum(right))}"
        )
        note = f" (blank read as 0: {', '.join(map(cell_path, blank))})" if blank else ""
        findings.append(
            Finding(
                "identity",
                cells,
                say("identity", instance=instance.name, description=shape.identity(instance.identity).description,
                    arithmetic=arithmetic, note=note),
                identity=instance.identity,
                reported=sum(left),
                computed=sum(right),
                blank_as_zero=blank,
            )
        )
    return findings


def holding_identities(shape: T.Shape, values: Values, cell: CellRef, unread: Set[CellRef] = frozenset()) -> list[str]:
    """The identities over `cell` that hold with these values, as `T3-row 自然人`-style names;
    instances over an unread cell prove nothing and are left out."""
    held = []
    for instance in shape.sum_instances:
        cells = instance.refs
        if cell not in cells or any(c in unread and c != cell for c in cells):
            continue
        if instance.holds_in(values):
            held.append(instance.name)
    return held


def check_counts(table: str, shape: T.Shape, values: Values) -> list[Finding]:
    findings = []
    for row, column in shape.cell_paths():
        value = values[row.key][column.key]
        if value is None or (type(value) is int and value >= 0):  # most cells: every kind holds it
            continue
        rule = VALUE_KINDS[column.kind]
        if not rule.holds(value):
            message = say("identity", "counts", row=row.label, column=column.label, value=number(value), expected=rule.expected)
            findings.append(
                Finding("identity", [CellRef(table, row.key, column.key)], message, identity=T.COUNTS_IDENTITY, reported=value)
            )
    return findings


def validate(table: str, shape: T.Shape, values: Values, unread: Set[CellRef] = frozenset()) -> list[Finding]:
    return check_counts(table, shape, values) + check_sums(table, shape, values, unread)


# --- across reports: what carries over from one year to the next ----------------------------


@dataclass
class Carry:
    """What the cross-year check reads of a report: its agency and year, and its carried cells."""

    report_id: str
    name: str | None  # the result's source name, for the message
    agency: str
    year: int
    cells: dict[tuple[str, str, str], int | float | None]  # (table, row, column) -> value


_AGENCY_NOISE = re.compile(r"人民|[()（）\s·、,，]")


def agency_key(name: str | None) -> str | None:
    """An agency name with the small differences between reports removed (人民, brackets, spaces)."""
    return _AGENCY_NOISE.sub("", squeeze(normalize_text(name))) if name else None


_SHORTEST_SUFFIX = 4  # a shorter name is only the same agency when equal (县, 市政府 …)


def _suffixes(key: str) -> list[str]:
    """The endings of `key` long enough to name an agency: itself included."""
    return [key[i:] for i in range(len(key) - _SHORTEST_SUFFIX + 1)]


class _AgencyIndex:
    """The reports of one year by agency key. Two keys name the same agency when they are equal,
    or when both have ≥ 4 characters and one ends with the other (某某市政府办公室 and 市政府办公室).
    Found by look-ups, not by comparing every pair of reports of two years (10⁸ pairs in a
    national run)."""

    def __init__(self, reports: list[tuple[str, Carry]]):
        self.reports = reports
        self.by_key: dict[str, list[int]] = {}
        self.by_suffix: dict[str, list[int]] = {}  # suffix of ≥ 4 characters -> reports whose key ends with it
        for n, (key, _) in enumerate(reports):
            self.by_key.setdefault(key, []).append(n)
            if len(key) >= _SHORTEST_SUFFIX:
                for suffix in _suffixes(key):
                    self.by_suffix.setdefault(suffix, []).append(n)

    def same_agency(self, key: str) -> list[Carry]:
        """The reports whose agency is `key`'s, in the order they were given."""
        found = set(self.by_key.get(key, ()))
        if len(key) >= _SHORTEST_SUFFIX:
            found.update(self.by_suffix.get(key, ()))  # theirs ends with `key`
            for suffix in _suffixes(key):  # `key` ends with theirs
                found.update(self.by_key.get(suffix, ()))
        return [self.reports[n][1] for n in sorted(found)]


def check_carry(earlier: Carry, later: Carry, identities: Iterable[T.CarryIdentity]) -> dict[str, list[Finding]]:
    """The `cross_year` findings, per report id, of two reports of one agency in consecutive
    years: each carried cell printed in both that differs, named on both reports."""
    found: dict[str, list[Finding]] = {later.report_id: [], earlier.report_id: []}
    for identity in identities:
        for column in identity.columns:
            before = earlier.cells.get((identity.table, identity.row, column.key))
            now = later.cells.get((identity.table, identity.next_row, column.key))
            if before is None or now is None or before == now:
                continue
            message = say("cross_year", column=column.label, next_row=identity.next_row_name, year=later.year,
                          later=later.name, now=now, row=identity.row_name, earlier_year=earlier.year,
                          earlier=earlier.name, before=before)  # fmt: skip
            for carry, row in ((later, identity.next_row), (earlier, identity.row)):
                found[carry.report_id].append(
                    Finding("cross_year", [CellRef(identity.table, row, column.key)], message,
                            details={"this_year": now, "previous_year": before})  # fmt: skip
                )
    return {rid: findings for rid, findings in found.items() if findings}


def check_cross_year(carries: Iterable[Carry], identities: Iterable[T.CarryIdentity] = T.CARRY_IDENTITIES) -> dict[str, list[Finding]]:
    """`check_carry` over every pair of reports of the same agency in consecutive years."""
    identities = tuple(identities)
    by_year: dict[int, list[tuple[str, Carry]]] = {}
    for carry in carries:
        key = agency_key(carry.agency)
        if key:
            by_year.setdefault(carry.year, []).append((key, carry))
    # Each report's carried rows as one tuple, made once: a pair whose rows are equal (most
    # pairs) has no finding, and only the others are compared cell by cell.
    forward = {carry.report_id: _row_values(carry, identities, "row") for reports in by_year.values() for _, carry in reports}
    found: dict[str, list[Finding]] = {}
    for year, reports in by_year.items():
        if year - 1 not in by_year:
            continue
        earlier_year = _AgencyIndex(by_year[year - 1])
        for key, later in reports:
            over = _row_values(later, identities, "next_row")
            for earlier in earlier_year.same_agency(key):
                if forward[earlier.report_id] == over:
                    continue
                for rid, findings in check_carry(earlier, later, identities).items():
                    found.setdefault(rid, []).extend(findings)
    return found


def _row_values(carry: Carry, identities: tuple[T.CarryIdentity, ...], row: str) -> tuple:
    """A report's values of each identity's `row` (or `next_row`), column by column."""
    return tuple(tuple(carry.cells.get((i.table, getattr(i, row), c.key)) for c in i.columns) for i in identities)
