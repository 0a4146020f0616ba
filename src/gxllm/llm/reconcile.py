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
from ..findings import Finding
from ..tables.validate import Values, holding_identities, number, validate


@dataclass
class Reconciled:
    values: dict[str, dict[str, int | float | None]]
    sources: dict[str, str]  # "row.column" -> rules | llm | both | disagreement
    findings: list[Finding] = field(default_factory=list)


def reconcile(shape: T.Shape, rules: Values, unread: Set[str], llm: Values, refused: Set[str] = frozenset()) -> Reconciled:
    """`refused`: unread cells whose LLM reading was refused (not a split of the printed digits):
    they stay unread."""
    table = shape.table
    values = {row: dict(columns) for row, columns in rules.items()}
    sources: dict[str, str] = {}
    findings: list[Finding] = []
    from_llm = []
    for row, column in shape.cell_paths():
        path = f"{table}.{row.key}.{column.key}"
        ours, theirs = rules[row.key][column.key], llm[row.key][column.key]
        if path in refused:
            continue
        if path in unread:
            values[row.key][column.key] = theirs
            sources[f"{row.key}.{column.key}"] = "llm"
            from_llm.append(path)
        elif ours == theirs:
            sources[f"{row.key}.{column.key}"] = "both"
        else:
            sources[f"{row.key}.{column.key}"] = "disagreement"
            with_llm = {r: dict(c) for r, c in rules.items()}
            with_llm[row.key][column.key] = theirs
            rules_hold = holding_identities(shape, rules, path, unread)
            llm_hold = holding_identities(shape, with_llm, path, unread)
            findings.append(
                Finding(
                    "disagreement",
                    [path],
                    f"{T.TABLE_BY_KEY[table].number} {row.label} / {column.label}: rules read {number(ours)}, "
                    f"the LLM {number(theirs)}; the rule value is kept. Identities holding with the rule value: "
                    f"{', '.join(rules_hold) or 'none'}; with the LLM value: {', '.join(llm_hold) or 'none'}",
                    details={
                        "rules_value": ours,
                        "llm_value": theirs,
                        "rules_satisfies": rules_hold,
                        "llm_satisfies": llm_hold,
                    },
                )
            )
    if from_llm:
        failing = validate(table, shape, values, refused)
        if failing:
            findings.append(
                Finding(
                    "llm_unverified",
                    from_llm,
                    f"{T.TABLE_BY_KEY[table].number}: {len(from_llm)} cell(s) read only by the LLM, and "
                    f"{len(failing)} identity check(s) fail with them; check them against the source",
                )
            )
    return Reconciled(values, sources, findings)
