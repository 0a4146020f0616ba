"""The verify stage: one generic engine runs every identity the template declares.

Pure: values in, findings out. Blank (null) cells are read as 0 and each finding says so.
An identity is skipped where one of its cells could not be read (`unread`): the parser has
already said why, and a sum over an unknown cell proves nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Set

from . import template as T
from .findings import Finding, say
from .model import VALUE_KINDS

Values = Mapping[str, Mapping[str, int | float | None]]


def number(value: int | float | None) -> str:
    """A value as findings, reviews and decisions print it: 7, 96171.6, 1234567.89 or "blank";
    exact, so that what a reviewer copies back is the value (15 digits drop float noise)."""
    if value is None:
        return "blank"
    return str(int(value)) if float(value).is_integer() else f"{value:.15g}"


def check_sums(table: str, shape: T.Shape, values: Values, unread: Set[str] = frozenset()) -> list[Finding]:
    findings = []
    for instance in T.sum_instances(shape):
        cells = list(instance.paths)
        if (unread and any(c in unread for c in cells)) or instance.holds(lambda cell: values[cell[0]][cell[1]]):
            continue
        blank = [f"{table}.{r}.{c}" for r, c in instance.cells if values[r][c] is None]
        left = [values[r][c] or 0 for r, c in instance.lhs]
        right = [values[r][c] or 0 for r, c in instance.rhs]
        arithmetic = (
            f"{'+'.join(map(number, left))}={number(sum(left))} ≠ "
            f"{'+'.join(map(number, right))}={number(sum(right))}"
        )
        note = f" (blank read as 0: {', '.join(blank)})" if blank else ""
        findings.append(
            Finding(
                "identity",
                cells,
                say("identity", instance=instance.name, description=T.IDENTITY_BY_ID[instance.identity].description,
                    arithmetic=arithmetic, note=note),
                identity=instance.identity,
                reported=sum(left),
                computed=sum(right),
                blank_as_zero=blank,
            )
        )
    return findings


def holding_identities(shape: T.Shape, values: Values, path: str, unread: Set[str] = frozenset()) -> list[str]:
    """The identities over `path` (a "table.row.column" cell) that hold with these values, as
    `T3-row 自然人`-style names; instances over an unread cell prove nothing and are left out."""
    held = []
    for instance in T.sum_instances(shape):
        cells = instance.paths
        if path not in cells or any(c in unread and c != path for c in cells):
            continue
        if instance.holds(lambda cell: values[cell[0]][cell[1]]):
            held.append(instance.name)
    return held


def check_counts(table: str, shape: T.Shape, values: Values) -> list[Finding]:
    findings = []
    for row, column in shape.cell_paths():
        value = values[row.key][column.key]
        if value is None:
            continue
        rule = VALUE_KINDS[column.kind]
        if not rule.holds(value):
            message = say("identity", "counts", row=row.label, column=column.label, value=number(value), expected=rule.expected)
            findings.append(
                Finding("identity", [f"{table}.{row.key}.{column.key}"], message, identity=T.COUNTS_IDENTITY, reported=value)
            )
    return findings


def validate(table: str, shape: T.Shape, values: Values, unread: Set[str] = frozenset()) -> list[Finding]:
    return check_counts(table, shape, values) + check_sums(table, shape, values, unread)
