"""The review: which cells of which reports a person has to decide, and why.

Pure: results in, conflicts out. A conflict is one cell, with every finding that names it:
the two paths read it differently (`disagreement`), the rules could not read it (`unreadable`,
`missing`, `unassigned`), it differs from the other year's report (`cross_year`), or an
identity over it fails. An identity names all its cells, most of them innocent; the suspects
are the cells that lie in the most failing identities (a misread cell breaks its row and its
column; a total the agency printed wrongly breaks one identity, and then all its cells are
suspects). Every failing identity has at least one suspect, so nothing that fails is left
without a cell to decide.

Findings that name no cell (the LLM failed or was not configured, a table is absent) are
notes on their report, and so is `llm_unverified` (a table only the LLM read, whose identities
fail): its cells to decide are the suspects of those identities.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field

from .. import template as T
from ..findings import KINDS, UNREAD, Finding
from ..model import CellRef, ReportInfo, Result, report_id
from ..result_json import as_result, cell_path
from ..tables.validate import number

Number = int | float | None
# A table the LLM read alone with an identity failing names every cell it read; the cells to
# decide are the suspects of the failing identities, so the finding is a note on the table.
TABLE_NOTES = ("llm_unverified",)

# The columns of review.csv, in order; `apply` reads report_id, cell, resolved_value and note.
CONFLICT_FIELDS = (
    "report_id", "agency", "year", "source", "table", "row_label", "column_label", "cell", "value",
    "rules_value", "llm_value", "kinds", "identity_failures", "candidates", "resolved_value", "note",
)  # fmt: skip

# How each kind is named for a reviewer (Chinese first).
KIND_LABELS = {key: kind.shown for key, kind in KINDS.items()}


@dataclass(frozen=True)
class IdentityFailure:
    """One failing instance of an identity, with its arithmetic as a reviewer checks it."""

    identity: str  # T3-flow …
    where: str  # the row or column it runs along (总计, 自然人…)
    arithmetic: str  # 一+二: 6+1=7 ≠ 三(七)+四: 6+0=6
    cells: tuple[CellRef, ...]

    @property
    def name(self) -> str:
        return f"{self.identity} {self.where}"


@dataclass
class Conflict:
    report_id: str
    cell: CellRef
    row_label: str
    column_label: str
    value: Number  # what the result holds now
    rules_value: Number | str  # "" where the rules did not read the cell
    llm_value: Number | str  # "" where the LLM was not asked or did not answer
    table_label: str  # 表三 …
    kinds: list[str] = field(default_factory=list)
    identities: list[IdentityFailure] = field(default_factory=list)  # failing instances over this cell
    rules_satisfies: list[str] = field(default_factory=list)
    llm_satisfies: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)  # the non-identity findings' own words
    # Glued digits the rules could not split: what this cell is in each split that keeps the
    # identities (at most five listed per row).
    candidates: list[Number] = field(default_factory=list)

    @property
    def table(self) -> str:
        return self.cell.table

    @property
    def row(self) -> str:
        return self.cell.row

    @property
    def column(self) -> str:
        return self.cell.column

    @property
    def path(self) -> str:
        """The cell as review.csv and the page name it (`table.row.column`)."""
        return cell_path(self.cell)


@dataclass
class ReportReview:
    """One report needing review: its conflicts, the other cells of failing identities, and the
    findings that name no cell."""

    result: Result
    report_id: str
    conflicts: list[Conflict]
    involved: set[CellRef]  # cells of failing identities that are not suspects
    notes: list[Finding]  # findings needing review that name no cell

    @property
    def template(self) -> T.Template:
        """The tables the result holds."""
        return self.result.template

    @property
    def report(self) -> ReportInfo:
        return self.result.report

    @property
    def source(self) -> str | None:
        return self.result.source_name


def report_id_of(result: Result | dict) -> str:
    """The id a batch gave the result, or the same id computed for a single `extract` result."""
    if isinstance(result, dict):  # as the CLI holds it
        rid, source = result.get("report_id"), result.get("source") or {}
    else:
        rid, source = result.report_id, result.source or {}
    return rid or report_id(source.get("name") or "", source.get("sha256"))


def _label(shape: T.Shape, cell: CellRef) -> tuple[str, str]:
    found = shape.cell(cell.row, cell.column)
    return (found[0].label, found[1].label) if found else (cell.row, cell.column)


def identity_failure(result: Result, finding: Finding) -> IdentityFailure:
    """The arithmetic of one identity finding, from the values the result holds now."""
    cells = tuple(finding.cells)
    first = cells[0]
    shape = result.tables[first.table].shape
    value = result.value
    identity = next((i for i in result.template.identities if i.id == finding.identity), None)
    if identity is None:  # counts: one cell that is not a count
        row_label, column_label = _label(shape, first)
        return IdentityFailure(finding.identity or "counts", f"{row_label} / {column_label}", finding.message, cells)
    split = len(identity.lhs)
    if identity.per == "row":
        where = _label(shape, first)[0]
        name = {c.key: c.label for c in shape.columns}
        term = lambda cell: name.get(cell.column, cell_path(cell))  # noqa: E731
    else:
        where = next((c.label for c in shape.columns if c.key == first.column), first.column)
        name = {r.key: r.short_label for r in shape.rows}
        term = lambda cell: name.get(cell.row, cell_path(cell))  # noqa: E731
    sides = identity.description.split(" = ")
    left = _side(sides[0], [(term(c), value(c)) for c in cells[:split]])
    right = _side(sides[-1], [(term(c), value(c)) for c in cells[split:]])
    return IdentityFailure(identity.id, where, f"{left} ≠ {right}", cells)


def _side(description: str, terms: list[tuple[str, Number]]) -> str:
    """`一+二: 6+1=7`; a long side shows its non-zero terms by name."""
    total = number(sum(v or 0 for _, v in terms))
    if len(terms) == 1:
        return f"{terms[0][0]}: {number(terms[0][1])}"
    if len(terms) <= 6:
        return f"{'+'.join(n for n, _ in terms)}: {'+'.join(number(v) for _, v in terms)}={total}"
    shown = [f"{n} {number(v)}" for n, v in terms if v]
    return f"{description.replace(' ', '')}: {' + '.join(shown) or '0'} = {total}"


def review_report(result: Result | dict, template: T.Template = T.NATIONAL) -> ReportReview | None:
    """The conflicts of one result (one in JSON read with `template`), or None when it needs no review."""
    result = as_result(result, template)
    if result.status != "review":
        return None
    rid = report_id_of(result)
    findings = [f for f in result.findings if f.needs_review]
    failures = [identity_failure(result, f) for f in findings if f.kind == "identity" and f.cells]
    # How many failing identities run through each cell: the suspects are each identity's maxima.
    weight: dict[CellRef, int] = {}
    for failure in failures:
        for cell in set(failure.cells):
            weight[cell] = weight.get(cell, 0) + 1
    suspects: set[CellRef] = set()
    # On a scan, the cells the OCR read with doubt are the suspects of the identities they break.
    doubtful = {c for f in findings if f.kind == "ocr_low_confidence" for c in f.cells}
    for failure in failures:
        if doubtful.intersection(failure.cells):
            suspects.update(doubtful.intersection(failure.cells))
            continue
        most = max(weight[c] for c in failure.cells)
        suspects.update(c for c in failure.cells if weight[c] == most)

    conflicts: dict[CellRef, Conflict] = {}

    def conflict(cell: CellRef) -> Conflict:
        if cell not in conflicts:
            reading = result.tables[cell.table]
            row_label, column_label = _label(reading.shape, cell)
            value = reading.value(cell)
            where = reading.cells.get(cell)
            source = where.source if where else None
            rules_value = "" if source == "llm" else value
            llm_value = value if source in ("llm", "both") else ""
            number = result.template.table(cell.table).number
            conflicts[cell] = Conflict(rid, cell, row_label, column_label, value, rules_value, llm_value, number)
        return conflicts[cell]

    notes = []
    for finding in findings:
        cells = finding.cells
        if not cells or finding.kind in TABLE_NOTES:
            notes.append(finding)
            continue
        if finding.kind == "identity":
            continue
        for cell in cells:
            item = conflict(cell)
            if finding.kind not in item.kinds:
                item.kinds.append(finding.kind)
            item.messages.append(finding.message)
            for split in finding.details.get("candidates", []):
                value = split[cells.index(cell)] if len(split) == len(cells) else ""
                if value != "" and value not in item.candidates:
                    item.candidates.append(value)
            if finding.kind == "disagreement":
                details = finding.details
                item.rules_value, item.llm_value = details.get("rules_value"), details.get("llm_value")
                item.rules_satisfies = list(details.get("rules_satisfies", []))
                item.llm_satisfies = list(details.get("llm_satisfies", []))
    for item in conflicts.values():  # a null the rules could not read is no reading, not a blank cell
        if item.rules_value is None and set(item.kinds) & {*UNREAD, "unassigned"}:
            item.rules_value = ""
    order = _template_order(result)
    for cell in sorted(suspects, key=order):
        conflict(cell).kinds.append("identity")
    for failure in failures:
        for cell in failure.cells:
            if cell in conflicts:
                conflicts[cell].identities.append(failure)
    ordered = sorted(conflicts.values(), key=lambda c: order(c.cell))
    involved = {c for f in failures for c in f.cells} - set(conflicts)
    return ReportReview(result, rid, ordered, involved, notes)


def _template_order(result: Result):
    """A sort key that puts cells in the order the template prints them."""
    order: dict[CellRef, int] = {}
    for reading in result.tables.values():
        if reading is not None:
            for row, column in reading.shape.cell_paths():
                order[CellRef(reading.key, row.key, column.key)] = len(order)
    return lambda cell: order.get(cell, len(order))


def review(results: list[Result] | list[dict], template: T.Template = T.NATIONAL) -> list[ReportReview]:
    return [r for r in (review_report(result, template) for result in results) if r is not None]


def template_of(reviews: list[ReportReview]) -> T.Template:
    """The tables results in JSON are read with: those of the reviews, else the national ones."""
    return reviews[0].template if reviews else T.NATIONAL


def summary(results: list[Result] | list[dict], reviews: list[ReportReview]) -> dict:
    """What the top of the review shows: counts by status, conflicts by kind and identity, cost."""
    template = template_of(reviews)
    results = [as_result(r, template) for r in results]
    statuses = Counter(result.status for result in results)
    by_kind: dict[str, int] = {}
    by_identity: dict[str, int] = {}
    for item in reviews:
        for c in item.conflicts:
            for kind in c.kinds:
                by_kind[kind] = by_kind.get(kind, 0) + 1
        for f in item.result.findings:
            if f.kind == "identity":
                by_identity[f.identity] = by_identity.get(f.identity, 0) + 1
        for note in item.notes:
            by_kind[note.kind] = by_kind.get(note.kind, 0) + 1
    calls = [c for r in results if r.llm for c in r.llm.calls]
    return {
        "reports": len(results),
        "status": {s: statuses[s] for s in ("ok", "review", "failed")},
        "conflicting_cells": sum(len(r.conflicts) for r in reviews),
        "by_kind": dict(sorted(by_kind.items(), key=lambda kv: -kv[1])),
        "by_identity": dict(sorted(by_identity.items())),
        "llm_calls": len(calls),
        "input_tokens": sum(c.get("input_tokens", 0) for c in calls),
        "output_tokens": sum(c.get("output_tokens", 0) for c in calls),
        "cost": round(sum(c.get("cost", 0.0) for c in calls), 6),
        "failed": [(r.source_name, r.findings[0].message if r.findings else "") for r in results if r.status == "failed"],
    }


def _cell_value(value: Number | str) -> str:
    """"" where there is no reading, "blank" where the reading is a blank cell."""
    return value if isinstance(value, str) else "blank" if value is None else number(value)


def conflict_rows(reviews: list[ReportReview]) -> list[dict]:
    """One dict per conflicting cell, keyed by CONFLICT_FIELDS: the rows of review.csv."""
    rows = []
    for item in reviews:
        for c in item.conflicts:
            rows.append(
                {
                    "report_id": item.report_id,
                    "agency": item.report.agency or "",
                    "year": item.report.year or "",
                    "source": item.source or "",
                    "table": c.table_label,
                    "row_label": c.row_label,
                    "column_label": c.column_label,
                    "cell": c.path,
                    "value": "" if c.value is None else number(c.value),
                    "rules_value": _cell_value(c.rules_value),
                    "llm_value": _cell_value(c.llm_value),
                    "kinds": " ".join(c.kinds),
                    "identity_failures": "; ".join(f"{f.name}: {f.arithmetic}" for f in c.identities),
                    "candidates": " | ".join(_cell_value(v) for v in c.candidates),
                    "resolved_value": "",
                    "note": "",
                }
            )
    return rows


def to_csv(reviews: list[ReportReview]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CONFLICT_FIELDS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(conflict_rows(reviews))
    return buffer.getvalue()


def _md(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def to_markdown(results: list[Result] | list[dict], reviews: list[ReportReview]) -> str:
    s = summary(results, reviews)
    status = s["status"]
    lines = [
        "# gxllm review",
        "",
        f"{s['reports']} reports: {status['ok']} ok, {status['review']} review, {status['failed']} failed; "
        f"{s['conflicting_cells']} conflicting cells.",
    ]
    if s["by_kind"]:
        lines.append("By kind: " + ", ".join(f"{k} {n}" for k, n in s["by_kind"].items()) + ".")
    if s["by_identity"]:
        lines.append("Failing identities: " + ", ".join(f"{k} {n}" for k, n in s["by_identity"].items()) + ".")
    if s["llm_calls"]:
        lines.append(f"LLM: {s['llm_calls']} calls, {s['input_tokens']}+{s['output_tokens']} tokens, cost {s['cost']}.")
    for name, message in s["failed"]:
        lines.append(f"- failed: {_md(name)}: {_md(message)}")
    header = ("表 table", "行 row", "列 column", "cell", "现值 value", "规则 rules", "LLM", "问题 kinds", "未通过的勾稽关系 failing identities")
    for item in reviews:
        report = item.report
        lines += ["", f"## {_md(report.agency or '(agency unknown)')} {report.year or ''}".rstrip(), ""]
        lines.append(f"`{item.report_id}` · {_md(item.source or '')}")
        for note in item.notes:
            lines.append(f"- {note.kind}: {_md(note.message)}")
        if item.conflicts:
            lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            for row in conflict_rows([item]):
                cells = (row["table"], row["row_label"], row["column_label"], f"`{row['cell']}`", row["value"],
                         row["rules_value"], row["llm_value"], row["kinds"], row["identity_failures"])  # fmt: skip
                lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
