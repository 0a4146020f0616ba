"""Two paths, one verdict: the rule reading and the LLM reading of a table, cell by cell.

Pure. The printed numbers the rules read are the data: where both paths read a cell and agree,
the cell is confirmed (`both`); where they differ, the rule value is kept and a `disagreement`
finding gives both values and which identities each satisfies. Cells only the LLM could read
are taken from it (`llm`); a table read by the LLM alone is accepted only if every identity
holds, otherwise it is kept with an `llm_unverified` finding (review).
"""

from __future__ import annotations

from collections.abc import Set
from dataclasses import dataclass, field

from .. import template as T
from ..findings import Finding, finding
from ..tables.validate import Values, holding_identities, number, validate
from ..template import CellRef


@dataclass
class Reconciled:
    values: dict[str, dict[str, int | float | None]]
    sources: dict[CellRef, str]  # cell -> rules | llm | both | disagreement
    findings: list[Finding] = field(default_factory=list)


def reconcile(
    shape: T.Shape, rules: Values, unread: Set[CellRef], llm: Values, refused: Set[CellRef] = frozenset(),
    template: T.Template = T.NATIONAL,
) -> Reconciled:
    """`refused`: unread cells whose LLM reading was refused (not a split of the printed digits):
    they stay unread. `template`: where the table's number is read from."""
    table = shape.table
    title = template.table(table).number
    values = {row: dict(columns) for row, columns in rules.items()}
    sources: dict[CellRef, str] = {}
    findings: list[Finding] = []
    from_llm = []
    for (row, column), cell in zip(shape.cell_paths(), shape.cells):
        ours, theirs = rules[row.key][column.key], llm[row.key][column.key]
        if cell in refused:
            continue
        if cell in unread:
            values[row.key][column.key] = theirs
            sources[cell] = "llm"
            from_llm.append(cell)
        elif ours == theirs:
            sources[cell] = "both"
        else:
            sources[cell] = "disagreement"
            with_llm = {r: dict(c) for r, c in rules.items()}
            with_llm[row.key][column.key] = theirs
            rules_hold = holding_identities(shape, rules, cell, unread)
            llm_hold = holding_identities(shape, with_llm, cell, unread)
            details = {"rules_value": ours, "llm_value": theirs, "rules_satisfies": rules_hold, "llm_satisfies": llm_hold}
            findings.append(
                finding("disagreement", [cell], number=title, row=row.label, column=column.label, rules=number(ours),
                        llm=number(theirs), rules_hold=", ".join(rules_hold) or "none",
                        llm_hold=", ".join(llm_hold) or "none", details=details)  # fmt: skip
            )
    if from_llm:
        failing = validate(table, shape, values, refused)
        if failing:
            findings.append(finding("llm_unverified", from_llm, number=title, count=len(from_llm), failing=len(failing)))
    return Reconciled(values, sources, findings)
