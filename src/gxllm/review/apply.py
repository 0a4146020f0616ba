"""`gxllm apply`: a reviewer's decisions back into the results, then every identity again.

Pure: decisions text and results in, new results out. A decision is a row of review.csv with a
`resolved_value`; rows left blank are still open and are skipped. Every row is checked before
anything changes (the report and cell exist, the value is a number the column can hold, no two
rows decide one cell differently), and every bad row is reported, so a file with one bad row
changes nothing.

A decided cell takes the value with provenance `human` (and the note, and the value it had); the
findings about that cell are settled, and the identities of its table are checked again, so a
report is `ok` only if the decided values make every identity hold.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import io
import unicodedata
from dataclasses import dataclass

from .. import template as T
from ..errors import GxllmError
from ..findings import UNREAD
from ..model import VALUE_KINDS, CellRef, Provenance, Result
from ..result_json import as_result, from_json, parse_cell
from ..tables.validate import number, validate
from .conflicts import CONFLICT_FIELDS, report_id_of

REQUIRED = ("report_id", "cell", "resolved_value")
BLANK_WORDS = ("blank", "空", "空白")  # a resolved value meaning "the source cell is blank"
# Findings that stand for the LLM path of a whole table: settled once a person has decided
# that table's cells and its identities hold.
LLM_TABLE_KINDS = ("llm_failed", "llm_not_configured", "budget")


class DecisionError(GxllmError):
    """Bad rows in a decisions file; `problems` has one line each, with its line number."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


@dataclass(frozen=True)
class Decision:
    line: int
    report_id: str
    cell: str  # table.row.column, as the reviewer's file names it
    value: int | float | None
    note: str

    @property
    def ref(self) -> CellRef | None:
        return parse_cell(self.cell)


def _number(text: str) -> int | float | None:
    """A reviewer's number: 12, 1,234, １２, 96171.6, -3; blank/空 for an empty source cell."""
    text = unicodedata.normalize("NFKC", text).strip().replace(",", "")
    if text.lower() in BLANK_WORDS:
        return None
    try:
        return int(text)
    except ValueError:
        value = float(text)  # ValueError: not a number
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(text) from None
        return int(value) if value.is_integer() else value


def read_decisions(text: str, name: str, results: list[Result] | list[dict]) -> list[Decision]:
    """The filled-in rows of a review CSV, each checked against the results it is meant for;
    raises DecisionError listing every bad row."""
    text = text.removeprefix("\ufeff")  # Excel saves CSV with a BOM
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or ())]
    if missing:
        raise DecisionError(
            [f"{name}: no {', '.join(missing)} column; start from the CSV of gxllm review --format csv "
             f"(columns {', '.join(CONFLICT_FIELDS)})"]
        )  # fmt: skip
    by_id = {report_id_of(r): r for r in map(as_result, results)}
    decisions: dict[tuple[str, str], Decision] = {}
    problems = []
    line = 2  # the header is line 1
    for row in reader:
        start, line = line, reader.line_num + 1
        resolved = (row.get("resolved_value") or "").strip()
        if not resolved:
            continue
        rid, cell = (row["report_id"] or "").strip(), (row["cell"] or "").strip()
        try:
            decision = Decision(start, rid, cell, _number(resolved), (row.get("note") or "").strip())
        except ValueError:
            problems.append(f"{name} line {start}: resolved_value {resolved!r} is not a number (write 12, 96171.6 or blank)")
            continue
        problem = _misfit(decision, by_id.get(rid))
        earlier = decisions.setdefault((rid, cell), decision)
        if not problem and earlier.value != decision.value:
            problem = f"{cell} of report {rid} is decided differently on line {earlier.line}"
        if problem:
            problems.append(f"{name} line {start}: {problem}")
    if problems:
        raise DecisionError(problems)
    return list(decisions.values())


def _misfit(d: Decision, result: Result | None) -> str | None:
    """Why a decision does not fit its report, or None."""
    if result is None:
        return f"no report {d.report_id!r} in these results"
    column = _column(result, d.cell)
    if column is None:
        return f"report {d.report_id} has no cell {d.cell!r}"
    rule = VALUE_KINDS[column.kind]
    if d.value is None or rule.holds(d.value):
        return None
    return rule.refusal.format(cell=d.cell, value=number(d.value))


def _column(result: Result, cell: str) -> T.Column | None:
    ref = parse_cell(cell)
    if ref is None or result.status == "failed":
        return None
    reading = result.tables.get(ref.table)
    found = reading.shape.cell(ref.row, ref.column) if reading is not None else None
    return found[1] if found and ref.row in reading.values else None


def apply(results: list[dict], decisions: list[Decision]) -> list[dict]:
    """The results with the decisions applied and re-validated; returns the ones that changed
    (the list is updated in place)."""
    by_report: dict[str, list[Decision]] = {}
    for d in decisions:
        by_report.setdefault(d.report_id, []).append(d)
    changed = []
    for index, data in enumerate(results):
        result = from_json(data)
        mine = by_report.get(report_id_of(result))
        if not mine:
            continue
        updated = decide(result, mine, copied=True).to_json()
        if updated != data:
            results[index] = updated
            changed.append(updated)
    return changed


def decide(result: Result | dict, decisions: list[Decision], *, copied: bool = False) -> Result:
    """One result with its decisions applied, findings settled and identities checked again.
    The result given is not changed (`copied`: it is a copy already)."""
    out = as_result(result) if copied or isinstance(result, dict) else copy.deepcopy(result)
    decided = set()
    for d in decisions:
        ref = d.ref
        reading = out.tables[ref.table]
        if reading.method is None:
            reading.method = "human"
        place = reading.cells.get(ref)
        if place is None:
            place = reading.cells[ref] = Provenance()
        if place.source != "human":
            place.previous = reading.values[ref.row][ref.column]
            place.source_after_previous = place.source is None
        reading.values[ref.row][ref.column] = d.value
        place.source = "human"
        place.note = d.note or None
        decided.add(ref)
    return revalidate(out, decided)


def revalidate(result: Result, decided: set[CellRef]) -> Result:
    """Settle the findings about decided cells and check the identities of their tables again."""
    tables = {cell.table for cell in decided}
    findings = []
    for finding in result.findings:
        table = finding.table
        if finding.kind == "identity" and table in tables:
            continue  # checked again below
        if any(c in decided for c in finding.cells):
            cells = [c for c in finding.cells if c not in decided]
            if not cells:
                continue
            finding = dataclasses.replace(finding, cells=cells)
        findings.append(finding)
    for table in sorted(tables):
        reading = result.tables[table]
        unread = {c for f in findings if f.kind in UNREAD and f.table == table for c in f.cells}
        failing = validate(table, reading.shape, reading.values, unread)
        findings += failing
        if not failing:  # llm_unverified says identities fail with the LLM's cells; they hold now
            findings = [f for f in findings if not (f.table == table and f.kind == "llm_unverified")]
        open_cells = any(
            f.table == table and f.needs_review and f.kind not in LLM_TABLE_KINDS for f in findings
        )
        if not open_cells:  # what the LLM was asked for (or could not do) a person has done
            findings = [f for f in findings if not (f.table == table and f.kind in LLM_TABLE_KINDS)]
    result.findings = findings
    return result
