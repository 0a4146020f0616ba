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

from . import template as T
from .findings import INFORMATIONAL, KINDS, UNREAD
from .journal import report_id
from .output import shape_of
from .validate import number

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
    cells: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.identity} {self.where}"


@dataclass
class Conflict:
    report_id: str
    table: str
    row: str
    column: str
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
    def path(self) -> str:
        return f"{self.table}.{self.row}.{self.column}"


@dataclass
class ReportReview:
    """One report needing review: its conflicts, the other cells of failing identities, and the
    findings that name no cell."""

    result: dict
    report_id: str
    conflicts: list[Conflict]
    involved: set[str]  # cells of failing identities that are not suspects
    notes: list[dict]  # findings needing review that name no cell
    template: T.Template = T.NATIONAL  # the tables the result holds

    @property
    def report(self) -> dict:
        return self.result.get("report") or {}

    @property
    def source(self) -> str | None:
        return (self.result.get("source") or {}).get("name")


def report_id_of(result: dict) -> str:
    """The id a batch gave the result, or the same id computed for a single `extract` result."""
    source = result.get("source") or {}
    return result.get("report_id") or report_id(source.get("name") or "", source.get("sha256"))


def _is_cell(path: str) -> bool:
    return path.count(".") == 2


def _label(shape: T.Shape, row: str, column: str) -> tuple[str, str]:
    found = shape.cell(row, column)
    return (found[0].label, found[1].label) if found else (row, column)


def identity_failure(result: dict, finding: dict, template: T.Template = T.NATIONAL) -> IdentityFailure:
    """The arithmetic of one identity finding, from the values the result holds now."""
    cells = tuple(finding["cells"])
    table = cells[0].split(".")[0]
    shape = shape_of(result, table, template)
    values = result.get(table) or {}

    def value(path: str) -> Number:
        _, row, column = path.split(".")
        return (values.get(row) or {}).get(column)

    identity = next((i for i in template.identities if i.id == finding.get("identity")), None)
    if identity is None:  # counts: one cell that is not a count
        _, row, column = cells[0].split(".")
        row_label, column_label = _label(shape, row, column)
        return IdentityFailure(finding.get("identity") or "counts", f"{row_label} / {column_label}", finding["message"], cells)
    split = len(identity.lhs)
    _, row, column = cells[0].split(".")
    if identity.per == "row":
        where = _label(shape, row, column)[0]
        name = {c.key: c.label for c in shape.columns}
        term = lambda path: name.get(path.split(".")[2], path)  # noqa: E731
    else:
        where = next((c.label for c in shape.columns if c.key == column), column)
        name = {r.key: r.short_label for r in shape.rows}
        term = lambda path: name.get(path.split(".")[1], path)  # noqa: E731
    sides = identity.description.split(" = ")
    left = _side(sides[0], [(term(p), value(p)) for p in cells[:split]])
    right = _side(sides[-1], [(term(p), value(p)) for p in cells[split:]])
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


def review_report(result: dict, template: T.Template = T.NATIONAL) -> ReportReview | None:
    """The conflicts of one result, or None when it needs no review."""
    if result.get("status") != "review":
        return None
    rid = report_id_of(result)
    findings = [f for f in result.get("findings", []) if f["kind"] not in INFORMATIONAL]
    identity_findings = [f for f in findings if f["kind"] == "identity" and f["cells"]]
    failures = [identity_failure(result, f, template) for f in identity_findings]
    # How many failing identities run through each cell: the suspects are each identity's maxima.
    weight: dict[str, int] = {}
    for failure in failures:
        for cell in set(failure.cells):
            weight[cell] = weight.get(cell, 0) + 1
    suspects: set[str] = set()
    # On a scan, the cells the OCR read with doubt are the suspects of the identities they break.
    doubtful = {c for f in findings if f["kind"] == "ocr_low_confidence" for c in f["cells"]}
    for failure in failures:
        if doubtful.intersection(failure.cells):
            suspects.update(doubtful.intersection(failure.cells))
            continue
        most = max(weight[c] for c in failure.cells)
        suspects.update(c for c in failure.cells if weight[c] == most)

    conflicts: dict[str, Conflict] = {}

    def conflict(path: str) -> Conflict:
        if path not in conflicts:
            table, row, column = path.split(".")
            row_label, column_label = _label(shape_of(result, table, template), row, column)
            value = ((result.get(table) or {}).get(row) or {}).get(column)
            source = (result.get("provenance", {}).get(table, {}).get("cells", {}).get(f"{row}.{column}") or {}).get("source")
            rules_value = "" if source == "llm" else value
            llm_value = value if source in ("llm", "both") else ""
            conflicts[path] = Conflict(
                rid, table, row, column, row_label, column_label, value, rules_value, llm_value, template.table(table).number
            )
        return conflicts[path]

    notes = []
    for finding in findings:
        cells = [c for c in finding["cells"] if _is_cell(c)]
        if not cells or finding["kind"] in TABLE_NOTES:
            notes.append(finding)
            continue
        if finding["kind"] == "identity":
            continue
        for path in cells:
            item = conflict(path)
            if finding["kind"] not in item.kinds:
                item.kinds.append(finding["kind"])
            item.messages.append(finding["message"])
            for split in finding.get("candidates", []):
                value = split[cells.index(path)] if len(split) == len(cells) else ""
                if value != "" and value not in item.candidates:
                    item.candidates.append(value)
            if finding["kind"] == "disagreement":
                item.rules_value, item.llm_value = finding.get("rules_value"), finding.get("llm_value")
                item.rules_satisfies = list(finding.get("rules_satisfies", []))
                item.llm_satisfies = list(finding.get("llm_satisfies", []))
    for item in conflicts.values():  # a null the rules could not read is no reading, not a blank cell
        if item.rules_value is None and set(item.kinds) & {*UNREAD, "unassigned"}:
            item.rules_value = ""
    order = _template_order(result, template)
    for path in sorted(suspects, key=order):
        conflict(path).kinds.append("identity")
    for failure in failures:
        for path in failure.cells:
            if path in conflicts:
                conflicts[path].identities.append(failure)
    ordered = sorted(conflicts.values(), key=lambda c: order(c.path))
    involved = {c for f in failures for c in f.cells} - set(conflicts)
    return ReportReview(result, rid, ordered, involved, notes, template)


def _template_order(result: dict, template: T.Template):
    """A sort key that puts cells in the order the template prints them."""
    order: dict[str, int] = {}
    for table in template.tables:
        for row, column in shape_of(result, table.key, template).cell_paths():
            order[f"{table.key}.{row.key}.{column.key}"] = len(order)
    return lambda path: order.get(path, len(order))


def review(results: list[dict], template: T.Template = T.NATIONAL) -> list[ReportReview]:
    return [r for r in (review_report(result, template) for result in results) if r is not None]


def summary(results: list[dict], reviews: list[ReportReview]) -> dict:
    """What the top of the review shows: counts by status, conflicts by kind and identity, cost."""
    statuses = Counter(result.get("status", "failed") for result in results)
    by_kind: dict[str, int] = {}
    by_identity: dict[str, int] = {}
    for item in reviews:
        for c in item.conflicts:
            for kind in c.kinds:
                by_kind[kind] = by_kind.get(kind, 0) + 1
        for f in item.result.get("findings", []):
            if f["kind"] == "identity":
                by_identity[f.get("identity")] = by_identity.get(f.get("identity"), 0) + 1
        for note in item.notes:
            by_kind[note["kind"]] = by_kind.get(note["kind"], 0) + 1
    calls = [c for r in results for c in (r.get("llm") or {}).get("calls", [])]
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
        "failed": [
            ((r.get("source") or {}).get("name"), (r.get("findings") or [{"message": ""}])[0]["message"])
            for r in results
            if r.get("status") == "failed"
        ],
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
                    "agency": item.report.get("agency") or "",
                    "year": item.report.get("year") or "",
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


def to_markdown(results: list[dict], reviews: list[ReportReview]) -> str:
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
        lines += ["", f"## {_md(report.get('agency') or '(agency unknown)')} {report.get('year') or ''}".rstrip(), ""]
        lines.append(f"`{item.report_id}` · {_md(item.source or '')}")
        for note in item.notes:
            lines.append(f"- {note['kind']}: {_md(note['message'])}")
        if item.conflicts:
            lines += ["", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
            for row in conflict_rows([item]):
                cells = (row["table"], row["row_label"], row["column_label"], f"`{row['cell']}`", row["value"],
                         row["rules_value"], row["llm_value"], row["kinds"], row["identity_failures"])  # fmt: skip
                lines.append("| " + " | ".join(_md(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"
