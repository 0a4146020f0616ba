"""The pipeline of one report: load → normalise → split → locate → parse → verify → result.

Two steps: `read_rules(doc) -> RuleReading` is the rule path (pure, CPU-bound), and
`complete(reading, llm=..., reader=...) -> Result` continues it with the LLM where the reading
leaves a table open (`RuleTable.needs_llm`). `extract_result` is both; `extract_document` and
`extract_bytes` (which adds loading) give the result as the canonical dict of
`../shared/spec/canonical-output.md` (schema_version 1): `Result.to_json()`.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import __version__
from . import template as T
from .document import Document, Line, OcrRead, placed_lines, shown_lines
from .findings import ASKS_LLM, UNREAD, Finding, finding
from .llm.request import region_text
from .load import load
from .tables.locate import Token, locate, normalized_document, read_lines
from .tables.metadata import find_agency, find_year
from .model import CellRef, LLMUsage, Provenance, ReportInfo, Result, TableReading
from .tables.parse import READERS, TableResult, Value, detected_shape, shown_split
from .llm.reconcile import reconcile
from .result_json import shape_of
from .tables.validate import holding_identities, number, validate

if TYPE_CHECKING:
    from .llm.request import LLMAnswer

SCHEMA_VERSION = 1


def _report_template(text: str, template: T.Template, detected: dict[str, T.Shape], year: int | None) -> str | None:
    """The tables whose shape says it best (表二); then the cited 通知; then the tables that hint
    at it (表三's (六) rows); then the year."""

    def told(evidence: str) -> str | None:
        return next((detected[t.key].variant for t in template.tables if t.evidence == evidence and t.key in detected), None)

    if variant := told("strong"):
        return variant
    for variant, citation in template.citations:
        if re.search(citation, text):
            return variant
    if variant := told("weak"):
        return variant
    if year:
        return "2021" if year >= 2021 else "2019" if year >= 2019 else None
    return None


def _absent(table: T.Table, shape: T.Shape) -> TableResult:
    kind = "absent" if table.required else "absent_optional"
    absent = finding(kind, [], tables=[table.key], number=table.number, title=table.title)
    return TableResult(table.key, None, shape.empty_values(), findings=[absent])


Span = tuple[tuple[int, int], tuple[int, int]]  # a table's first and last (line, piece)


def _parse_all(
    tokens: list[Token], text: str, year: int | None, template: T.Template
) -> tuple[dict[str, TableResult], dict[str, Span], str | None]:
    regions = locate(tokens, template)
    detected = {
        table.key: shape
        for table in template.tables
        if table.key in regions and (shape := detected_shape(table, tokens, regions[table.key])) is not None
    }
    variant = _report_template(text, template, detected, year)
    results: dict[str, TableResult] = {}
    for table in template.tables:
        region = regions.get(table.key)
        shape = detected.get(table.key) or table.default_shape(variant or "2021")
        if region is None:
            results[table.key] = _absent(table, shape)
            continue
        result = READERS[table.read](table, shape, tokens, region)
        if not result.lines and all(f.kind == "missing" for f in result.findings):
            # A heading followed by prose, not a table. (Labels with unreadable values stay:
            # a flattened table is there, just not readable by the rules.)
            result = _absent(table, shape)
        results[table.key] = result
    spans = {key: (tokens[r.start].place, tokens[r.end - 1].place) for key, r in regions.items() if results[key].found}
    return results, spans, variant


# A callable that reads one table with an LLM: (shape, table text) -> LLMAnswer. Injected so
# that this module stays free of I/O; `llm.client.TableReader.read` is the real one.
Reader = Callable[[T.Shape, str], "LLMAnswer"]


@dataclass(slots=True)
class RuleTable:
    """One table as the rules read and verified it."""

    result: TableResult
    findings: list[Finding]  # the parser's and the identities'
    unread: frozenset[CellRef]  # cells the parser could not read: identities over them prove nothing

    @property
    def needs_llm(self) -> bool:
        """The rules left cells unread or identities failing: `--llm auto` asks the LLM for it."""
        return self.result.found and any(f.kind in ASKS_LLM for f in self.findings)


@dataclass(slots=True)
class RuleReading:
    """Everything the rules read of one document, and all the LLM step needs to continue from
    it (picklable: a batch worker returns it and the LLM step goes on in the main process)."""

    printed: Document  # as loaded: the excerpts a reviewer reads
    simplified: bool  # read as traditional text, simplified (繁→简)
    report: ReportInfo
    spans: dict[str, Span]  # the found tables' first and last (line, piece)
    tables: dict[str, RuleTable]
    template: T.Template

    @property
    def needs_llm(self) -> bool:
        return any(t.needs_llm for t in self.tables.values())

    @property
    def doc(self) -> Document:
        """The document as the rules read it: normalised, cells split (`normalized_document`),
        made on demand (it is the LLM's text)."""
        return normalized_document(self.printed, self.simplified, self.template)

    def asks_llm(self, llm: str) -> bool:
        """Whether `complete` with this `--llm` mode would ask a reader for a table."""
        if llm == "always":
            return any(t.result.found for t in self.tables.values())
        return llm == "auto" and self.needs_llm


@contextmanager
def _collector_paused() -> Iterator[None]:
    """The cyclic garbage collector off for one report: a reading builds tens of thousands of
    small tuples that all stay alive until it ends, so the collector's passes over them (~8% of
    the time) find nothing. Whatever garbage a report leaves is collected after it."""
    if not gc.isenabled():  # already paused (a reading inside an extraction), or by the caller
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def read_rules(doc: Document, template: T.Template = T.NATIONAL) -> RuleReading:
    """The rule path of a loaded document: normalise, split, locate, parse, verify. Pure.
    `template`: the tables to find and read (the national template unless another is given)."""
    with _collector_paused():
        return _read_rules(doc, template)


def _read_rules(doc: Document, template: T.Template) -> RuleReading:
    lines, tokens, simplified = read_lines(doc, template)
    year = find_year(lines)
    results, spans, variant = _parse_all(tokens, "\n".join(lines), year, template)
    tables = {}
    for key, result in results.items():
        findings = list(result.findings)
        unread = frozenset(c for f in result.findings if f.kind in UNREAD for c in f.cells)
        if result.found:
            findings += validate(key, result.shape, result.values, unread)
        tables[key] = RuleTable(result, findings, unread)
    return RuleReading(doc, simplified, ReportInfo(find_agency(lines), year, variant), spans, tables, template)


@dataclass
class _Table:
    """One table through both paths: the rule result, then what the LLM changed."""

    result: TableResult
    values: dict[str, dict[str, Value]]
    findings: list[Finding]
    sources: dict[CellRef, str] = field(default_factory=dict)  # cell -> rules | llm | both | disagreement
    method: str = "rules"


def complete(reading: RuleReading, *, llm: str = "never", reader: Reader | None = None) -> Result:
    """The result of a rule reading, with the LLM asked where `llm` says (the reading itself is
    not changed, so it can be completed again with a reader).

    `llm`: "never" keeps the rules' reading; "auto" asks `reader` for the tables the rules could
    not fill or whose identities fail; "always" asks it for every table found and compares every
    cell. Without a reader, "auto" notes each table that needed the LLM (status review).
    """
    doc = reading.printed  # (the rules' normalised document only where an LLM reads it)
    normalized = None
    findings: list[Finding] = []
    calls: list[LLMAnswer] = []
    placed = placed_lines(doc.lines)
    tables: dict[str, TableReading | None] = {}
    template = reading.template
    for key, rule in reading.tables.items():
        result = rule.result
        table = _Table(result, {row: dict(columns) for row, columns in result.values.items()}, list(rule.findings))
        if result.found:
            needed = llm == "always" or (llm == "auto" and rule.needs_llm)
            if needed and reader is None:
                table.findings.append(_not_configured(template.table(key), llm, table.findings))
            elif needed:
                normalized = normalized or reading.doc
                answer = reader(result.shape, _llm_text(normalized, reading.spans[key], table.findings))
                calls.append(answer)
                _apply(table, answer, rule.unread, template)
            table.findings += _ocr_findings(table, _ocr_reads(result, doc), rule.unread, template)
        for row, extra in result.extras.items():
            table.values[row].update(extra)
        findings += table.findings
        tables[key] = _reading(table, reading, placed)
    if not any(t.result.found for t in reading.tables.values()):
        *others, last = [t.number for t in template.tables]
        findings.insert(0, finding("no_table", [], names=f"{', '.join(others)} or {last}" if others else last))
    source = {
        "name": doc.source.name,
        "format": doc.source.format,
        "encoding": doc.source.encoding,
        "sha256": doc.source.sha256,
        "bytes": doc.source.size,
    }
    if doc.ocr:  # the scanned pages the OCR found text on
        source["ocr_pages"] = len({read.page for read in doc.ocr.values()})
    usage = LLMUsage.of([answer.record() for answer in calls]) if calls else None
    return Result(reading.report, tables, findings, source, usage, __version__, SCHEMA_VERSION, template=template)


def extract_result(
    doc: Document, *, llm: str = "never", reader: Reader | None = None, template: T.Template = T.NATIONAL
) -> Result:
    """The typed result of a loaded document: `complete(read_rules(doc, template))`."""
    return complete(read_rules(doc, template), llm=llm, reader=reader)


def extract_document(
    doc: Document, *, llm: str = "never", reader: Reader | None = None, template: T.Template = T.NATIONAL
) -> dict:
    """The canonical result of a loaded document (see `read_rules` and `complete`)."""
    with _collector_paused():
        return extract_result(doc, llm=llm, reader=reader, template=template).to_json()


def _llm_text(doc: Document, span: Span, findings: list[Finding]) -> str:
    """The located table as the LLM reads it, with the splits the rules could not choose between:
    a flattened table's own pieces, not the whole line it was printed in."""
    first, last = span
    text = region_text([line for line in doc.lines if first <= (line.number, line.part or 0) <= last])
    choices = [f for f in findings if f.kind == "unreadable" and f.details.get("candidates")]
    if choices:
        text += "\n\nSplits of glued digits that keep the identities (the rules could not choose):\n" + "\n".join(
            f"{_row_keys(f.cells)}: " + " or ".join("|".join("null" if v is None else str(v) for v in c) for c in f.details["candidates"])
            for f in choices
        )
    return text


def _row_keys(cells: list[CellRef]) -> str:
    return " ".join(dict.fromkeys(cell.row for cell in cells))


def _not_configured(table: T.Table, llm: str, findings: list[Finding]) -> Finding:
    kinds = sorted({f.kind for f in findings if f.kind in ASKS_LLM})
    why = "--llm always reads it with the LLM too" if llm == "always" else f"the rules left {', '.join(kinds)} findings"
    return finding("llm_not_configured", [], number=table.number, why=why, details={"table": table.key})


def _apply(table: _Table, answer: LLMAnswer, unread: frozenset[CellRef], template: T.Template) -> None:
    """Fold one LLM answer into a table: reconcile cell by cell, then re-check every identity."""
    shape = table.result.shape
    title = template.table(shape.table).number
    if answer.budget:  # not asked (budget.BudgetedReader)
        why = (answer.error or "").removeprefix("not asked: ")
        table.findings.append(finding("budget", [], number=title, why=why, details={"table": shape.table}))
        return
    if answer.values is None:
        facts = ("attempts", "input_tokens", "output_tokens", "last_reply")
        details = {"table": shape.table} | {k: v for k, v in answer.record().items() if k in facts}
        table.findings.append(finding("llm_failed", [], number=title, error=answer.error, details=details))
        return
    not_splits = _not_splits(table.findings, answer.values)
    refused = {c for f in not_splits for c in f.cells}
    merged = reconcile(shape, table.result.values, unread, answer.values, refused, template)
    table.values = merged.values
    table.sources = merged.sources
    table.method = "llm" if set(merged.sources.values()) == {"llm"} else "rules+llm"
    # Rows the rules could not read are now read: their findings stay, as information; the
    # identities are checked again on the merged values.
    kept = [
        finding("read_by_llm", f.cells, message=f.message) if f.kind in UNREAD and not refused & set(f.cells) else f
        for f in table.findings
        if f.kind != "identity"
    ]
    table.findings = kept + not_splits + merged.findings + validate(shape.table, shape, merged.values, refused)


def _not_splits(findings: list[Finding], llm: dict) -> list[Finding]:
    """The LLM's readings of glued rows that are not a split of the printed digits: it changed or
    invented a digit, so its reading is refused and the row stays unread."""
    out = []
    for glued in findings:
        run = glued.details.get("run") if glued.kind == "unreadable" else None
        if run is None:
            continue
        values = [llm[cell.row][cell.column] for cell in glued.cells]
        read = "".join(number(v) for v in values if v is not None)
        if read != re.sub(r"[^\d.\-]", "", run):
            out.append(finding("llm_unverified", glued.cells, variant="split", read=shown_split(values), run=run))
    return out


def _ocr_reads(result: TableResult, doc: Document) -> dict[CellRef, OcrRead]:
    """How each cell of a table was read, where it was read by OCR from a scan."""
    if not doc.ocr:
        return {}
    reads = {}
    for cell, line in result.lines.items():
        read = doc.ocr.get((line, result.positions.get(cell)))
        if read is not None:
            reads[cell] = read
    return reads


def _ocr_findings(
    table: _Table, reads: dict[CellRef, OcrRead], unread: frozenset[CellRef], template: T.Template
) -> list[Finding]:
    """The OCR's doubtful numbers (low confidence, letters read as digits, nothing read where a
    number belongs) and whether the identities vouch for them. A doubtful cell is confirmed only
    when every identity over it holds and at least one does; one in a failing identity, or in
    none, or left empty, is `ocr_low_confidence` (review): it is the suspect to look at."""
    if not reads:
        return []
    shape = table.result.shape
    values = table.values
    confidence = {cell: read.confidence for cell, read in reads.items() if read.suspect}
    corrected = {cell for cell, read in reads.items() if read.corrected}
    # On a scan an empty cell is more likely a number the OCR missed than one printed blank.
    empty = {
        cell
        for cell in shape.cells
        if values[cell.row][cell.column] is None and (cell not in reads or reads[cell].confidence == 0.0)
    }
    confidence.update((cell, 0.0) for cell in empty)
    if not confidence:
        return []
    failing = {cell for f in table.findings if f.kind == "identity" for cell in f.cells}
    open_cells, confirmed = [], []
    for cell in confidence:
        vouched = cell not in failing and cell not in empty and holding_identities(shape, values, cell, unread)
        (confirmed if vouched else open_cells).append(cell)
    title = template.table(shape.table).number

    def listed(cells: list[CellRef]) -> str:
        return ", ".join(
            f"{cell.row}.{cell.column}={number(values[cell.row][cell.column])} ({confidence[cell]:.2f}"
            f"{', corrected' if cell in corrected else ''})"
            for cell in cells
        )

    out = []
    if open_cells:
        details = {"table": shape.table, "confidence": {p: confidence[p] for p in open_cells}}
        out.append(finding("ocr_low_confidence", open_cells, number=title, count=len(open_cells), listed=listed(open_cells),
                           details=details))  # fmt: skip
    if confirmed:
        out.append(finding("ocr_confirmed", confirmed, number=title, count=len(confirmed), listed=listed(confirmed),
                           details={"table": shape.table}))  # fmt: skip
    return out


def _reading(table: _Table, rules: RuleReading, placed: dict[int, Line]) -> TableReading:
    """A table as the result holds it: its values and where they were read: its line range and,
    per cell, the source line and the page (PDF) or table ordinal (HTML, DOCX, PDF) so a
    reviewer can find the printed number, and which path read it (rules, llm, both,
    disagreement) when the LLM was asked. `text` is the table's lines as printed, so a review
    needs no source file."""
    result = table.result
    key = result.key
    if not result.found:  # its null cells in the shape a reader of the JSON finds for them
        return TableReading(key, shape_of(key, table.values, rules.report.template, rules.template), table.values, False)
    doc, span = rules.printed, rules.spans[key]
    reading = TableReading(key, result.shape, table.values)
    cells: dict[CellRef, Provenance] = {}
    for ref, line_number in result.lines.items():
        line = placed.get(line_number)
        cells[ref] = Provenance(line_number) if line is None else Provenance(line_number, line.page, line.table)
    for ref in result.split:  # decided by the identities, not by printed boundaries
        cell = cells.setdefault(ref, Provenance())
        cell.source, cell.split = "rules", True
    # A scanned table a person must look at carries, per cell, the picture of where it was read.
    in_review = any(f.needs_review for f in table.findings)
    for ref, read in _ocr_reads(result, doc).items():
        cell = cells[ref]
        cell.source, cell.confidence, cell.corrected = "ocr", read.confidence, read.corrected
        if in_review or read.suspect:
            cell.crop = read.crop
    for ref, source in table.sources.items():
        cells.setdefault(ref, Provenance()).source = source
    pages = sorted({cell.page for cell in cells.values() if cell.page is not None})
    (first, _), (last, _) = span
    reading.cells, reading.method, reading.lines = cells, table.method, (first, last)
    reading.pages = (pages[0], pages[-1]) if pages else None
    reading.text = shown_lines(rules.printed.lines, first, last)
    return reading


def unreadable_result(
    name: str, message: str, kind: str = "unreadable_input", template: T.Template = T.NATIONAL
) -> Result:
    """The `failed` record of an input that is not a report, so a multi-file run loses no input."""
    tables: dict[str, TableReading | None] = {table.key: None for table in template.tables}
    return Result(ReportInfo(), tables, [Finding(kind, [], message)], {"name": name}, None, __version__, SCHEMA_VERSION,
                  located=False, template=template)  # fmt: skip


def unreadable_input(name: str, message: str, kind: str = "unreadable_input", template: T.Template = T.NATIONAL) -> dict:
    """`unreadable_result` as the canonical dict."""
    return unreadable_result(name, message, kind, template).to_json()


def extract_bytes(
    data: bytes,
    name: str,
    *,
    encoding: str | None = None,
    llm: str = "never",
    reader: Reader | None = None,
    template: T.Template = T.NATIONAL,
) -> dict:
    """Extract one report from its bytes. Raises `InputError` for input that is not a report."""
    with _collector_paused():  # its loaded lines too
        return extract_document(load(data, name, encoding), llm=llm, reader=reader, template=template)
