"""The rule-based pipeline: load → normalise → split → locate → parse → verify → result.

`extract_document` is a pure function of a loaded document; `extract_bytes` adds loading.
The result is the canonical dict of `../shared/spec/canonical-output.md` (schema_version 1)
plus `status`, `findings` and where the values came from.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import __version__
from . import template as T
from .document import Document, OcrRead
from .findings import UNREAD, Finding
from .layout import split_cells
from .load import load
from .locate import Token, locate, tokenize
from .metadata import find_agency, find_year
from .normalize import normalize_document, squeeze
from .llm_request import region_text
from .parse import TableResult, Value, active_disclosure_variant, applications_layout, parse_reviews, parse_table
from .reconcile import reconcile
from .validate import holding_identities, number, validate

if TYPE_CHECKING:
    from .llm_client import LLMAnswer

SCHEMA_VERSION = 1


def _report_template(text: str, t2: str | None, t3: str | None, year: int | None) -> str | None:
    """表二 says it best; then the cited 通知; then 表三's (六) rows; then the year."""
    if t2:
        return t2
    for variant, citation in T.TEMPLATE_CITATIONS.items():
        if re.search(citation, text):
            return variant
    if t3:
        return t3
    if year:
        return "2021" if year >= 2021 else "2019" if year >= 2019 else None
    return None


def _absent(table: T.Table, shape: T.Shape) -> TableResult:
    kind = "absent" if table.required else "absent_optional"
    message = f"{table.number} {table.title} not found in the report; its cells are null"
    return TableResult(table.key, None, shape.empty_values(), findings=[Finding(kind, [table.key], message)])


def _parse_all(tokens: list[Token], text: str, year: int | None) -> tuple[dict[str, TableResult], dict[str, str], str | None]:
    regions = locate(tokens)
    t2_variant = active_disclosure_variant(tokens, regions["active_disclosure"]) if "active_disclosure" in regions else None
    t3_layout = applications_layout(tokens, regions["applications"]) if "applications" in regions else None
    template = _report_template(text, t2_variant, t3_layout[0] if t3_layout else None, year)
    fallback = template or "2021"
    shapes = {
        "active_disclosure": T.active_disclosure_shape(t2_variant or fallback),
        "applications": T.applications_shape(*(t3_layout or (fallback, False))),
        "reviews_and_lawsuits": T.REVIEWS_SHAPE,
    }
    results: dict[str, TableResult] = {}
    for table in T.TABLES:
        region = regions.get(table.key)
        shape = shapes[table.key]
        if region is None:
            results[table.key] = _absent(table, shape)
        elif table.key == "reviews_and_lawsuits":
            results[table.key] = parse_reviews(tokens, region)
        else:
            results[table.key] = parse_table(table.key, shape, tokens, region)
        result = results[table.key]
        if result.found and not result.lines and all(f.kind == "missing" for f in result.findings):
            # A heading followed by prose, not a table. (Labels with unreadable values stay:
            # a flattened table is there, just not readable by the rules.)
            results[table.key] = _absent(table, shape)
    line_ranges = {
        key: f"{tokens[r.start].line}-{tokens[r.end - 1].line}" for key, r in regions.items() if results[key].found
    }
    return results, line_ranges, template


# A callable that reads one table with an LLM: (shape, table text) -> LLMAnswer. Injected so
# that this module stays free of I/O; `llm_client.TableReader.read` is the real one.
Reader = Callable[[T.Shape, str], "LLMAnswer"]
LLM_FINDINGS = ("unreadable", "missing", "unassigned", "identity")  # what makes `auto` ask the LLM


@dataclass
class _Table:
    """One table through both paths: the rule result, then what the LLM changed."""

    result: TableResult
    values: dict[str, dict[str, Value]]
    findings: list[Finding]
    sources: dict[str, str] = field(default_factory=dict)  # "row.column" -> rules | llm | both | disagreement
    method: str = "rules"


def extract_document(doc: Document, *, llm: str = "never", reader: Reader | None = None) -> dict:
    """The canonical result of a loaded document.

    `llm`: "never" reads with the rules only; "auto" asks `reader` for the tables the rules could
    not fill or whose identities fail; "always" asks it for every table found and compares every
    cell. Without a reader, "auto" notes each table that needed the LLM (status review).
    """
    printed = doc  # as loaded: the excerpts a reviewer reads
    doc = split_cells(normalize_document(doc))
    lines = [squeeze(line.text) for line in doc.lines]
    text = "\n".join(lines)
    year = find_year(lines)
    tokens = tokenize(doc)
    results, line_ranges, template = _parse_all(tokens, text, year)

    findings: list[Finding] = []
    calls: list[LLMAnswer] = []
    out: dict = {
        "schema_version": SCHEMA_VERSION,
        "report": {"agency": find_agency(lines), "year": year, "template": template},
    }
    tables: dict[str, _Table] = {}
    for key, result in results.items():
        table = _Table(result, {row: dict(columns) for row, columns in result.values.items()}, list(result.findings))
        if result.found:
            unread = {c for f in result.findings if f.kind in UNREAD for c in f.cells}
            table.findings += validate(key, result.shape, result.values, unread)
            needed = llm == "always" or (llm == "auto" and any(f.kind in LLM_FINDINGS for f in table.findings))
            if needed and reader is None:
                table.findings.append(_not_configured(key, llm, table.findings))
            elif needed:
                answer = reader(result.shape, region_text(_region_lines(doc, line_ranges[key])))
                calls.append(answer)
                _apply(table, answer, unread)
            table.findings += _ocr_findings(table, _ocr_reads(result, doc), unread)
        tables[key] = table
        values = table.values
        for row, extra in result.extras.items():
            values[row].update(extra)
        out[key] = values
        findings += table.findings

    found = [k for k, r in results.items() if r.found]
    if not found:
        status = "failed"
        findings.insert(0, Finding("no_table", [], "no 表二, 表三 or 表四 found; is this a 政府信息公开工作年度报告?"))
    elif any(f.needs_review for f in findings):
        status = "review"
    else:
        status = "ok"
    out["status"] = status
    out["findings"] = [f.to_dict() for f in findings]
    out["table_shapes"] = {k: results[k].shape.variant for k in found if k != "reviews_and_lawsuits"}
    out["tables_absent"] = [k for k in results if k not in found]
    out["provenance"] = {k: _provenance(tables[k], line_ranges[k], doc, printed) for k in found}
    if calls:
        out["llm"] = {
            "calls": [answer.record() for answer in calls],
            "input_tokens": sum(a.input_tokens for a in calls),
            "output_tokens": sum(a.output_tokens for a in calls),
            "cost": round(sum(a.cost for a in calls), 6),
        }
    out["source"] = {
        "name": doc.source.name,
        "format": doc.source.format,
        "encoding": doc.source.encoding,
        "sha256": doc.source.sha256,
        "bytes": doc.source.size,
    }
    if doc.ocr:  # the scanned pages the OCR found text on
        out["source"]["ocr_pages"] = len({read.page for read in doc.ocr.values()})
    out["gxllm_version"] = __version__
    return out


def _region_lines(doc: Document, lines: str) -> list:
    first, last = (int(n) for n in lines.split("-"))
    return [line for line in doc.lines if first <= line.number <= last]


def _not_configured(key: str, llm: str, findings: list[Finding]) -> Finding:
    kinds = sorted({f.kind for f in findings if f.kind in LLM_FINDINGS})
    why = "--llm always reads it with the LLM too" if llm == "always" else f"the rules left {', '.join(kinds)} findings"
    return Finding(
        "llm_not_configured",
        [],
        f"{T.TABLE_BY_KEY[key].number}: {why}, but no LLM is configured; "
        "set OPENAI_API_KEY (and OPENAI_BASE_URL), or use --llm-endpoint local",
        details={"table": key},
    )


def _apply(table: _Table, answer: LLMAnswer, unread: set[str]) -> None:
    """Fold one LLM answer into a table: reconcile cell by cell, then re-check every identity."""
    shape = table.result.shape
    if answer.budget:  # not asked (budget.BudgetedReader)
        why = (answer.error or "").removeprefix("not asked: ")
        message = f"{T.TABLE_BY_KEY[shape.table].number}: not read by the LLM: {why}; the rule values are kept"
        table.findings.append(Finding("budget", [], message, details={"table": shape.table}))
        return
    if answer.values is None:
        table.findings.append(
            Finding(
                "llm_failed",
                [],
                f"{T.TABLE_BY_KEY[shape.table].number}: the LLM could not read it ({answer.error}); the rule values are kept",
                details={"table": shape.table}
                | {k: v for k, v in answer.record().items() if k in ("attempts", "input_tokens", "output_tokens", "last_reply")},
            )
        )
        return
    merged = reconcile(shape, table.result.values, unread, answer.values)
    table.values = merged.values
    table.sources = merged.sources
    table.method = "llm" if set(merged.sources.values()) == {"llm"} else "rules+llm"
    # Rows the rules could not read are now read: their findings stay, as information; the
    # identities are checked again on the merged values.
    kept = [
        Finding("read_by_llm", f.cells, f"{f.message}; read by the LLM") if f.kind in UNREAD else f
        for f in table.findings
        if f.kind != "identity"
    ]
    table.findings = kept + merged.findings + validate(shape.table, shape, merged.values)


def _ocr_reads(result: TableResult, doc: Document) -> dict[str, OcrRead]:
    """How each cell of a table was read, by cell path, where it was read by OCR from a scan."""
    if not doc.ocr:
        return {}
    reads = {}
    for path, line in result.lines.items():
        read = doc.ocr.get((line, result.positions.get(path)))
        if read is not None:
            reads[path] = read
    return reads


def _ocr_findings(table: _Table, reads: dict[str, OcrRead], unread: set[str]) -> list[Finding]:
    """The OCR's doubtful numbers (low confidence, letters read as digits, nothing read where a
    number belongs) and whether the identities vouch for them. A doubtful cell is confirmed only
    when every identity over it holds and at least one does; one in a failing identity, or in
    none, or left empty, is `ocr_low_confidence` (review): it is the suspect to look at."""
    if not reads:
        return []
    shape = table.result.shape
    values = table.values
    confidence = {path: read.confidence for path, read in reads.items() if read.suspect}
    corrected = {path for path, read in reads.items() if read.corrected}
    # On a scan an empty cell is more likely a number the OCR missed than one printed blank.
    empty = {
        path
        for row, column in shape.cell_paths()
        if values[row.key][column.key] is None
        and ((path := f"{shape.table}.{row.key}.{column.key}") not in reads or reads[path].confidence == 0.0)
    }
    confidence.update((path, 0.0) for path in empty)
    if not confidence:
        return []
    failing = {cell for f in table.findings if f.kind == "identity" for cell in f.cells}
    open_cells, confirmed = [], []
    for path in confidence:
        vouched = path not in failing and path not in empty and holding_identities(shape, values, path, unread)
        (confirmed if vouched else open_cells).append(path)
    title = T.TABLE_BY_KEY[shape.table].number

    def listed(paths: list[str]) -> str:
        return ", ".join(
            f"{p.split('.', 1)[1]}={number(values[p.split('.')[1]][p.split('.')[2]])} ({confidence[p]:.2f}"
            f"{', corrected' if p in corrected else ''})"
            for p in paths
        )

    out = []
    if open_cells:
        out.append(Finding(
            "ocr_low_confidence", open_cells,
            f"{title}: {len(open_cells)} cell(s) the OCR read with doubt or not at all, and no holding identity "
            f"confirms: {listed(open_cells)}",
            details={"table": shape.table, "confidence": {p: confidence[p] for p in open_cells}},
        ))
    if confirmed:
        out.append(Finding(
            "ocr_confirmed", confirmed,
            f"{title}: {len(confirmed)} cell(s) the OCR read with doubt, confirmed by the identities: {listed(confirmed)}",
            details={"table": shape.table},
        ))
    return out


def _provenance(table: _Table, lines: str, doc: Document, printed: Document) -> dict:
    """Where a table's values were read: its line range and, per cell, the source line and the
    page (PDF) or table ordinal (HTML, DOCX, PDF) so a reviewer can find the printed number,
    and which path read it (rules, llm, both, disagreement) when the LLM was asked. `text` is
    the table's lines as printed ([number, text] pairs), so a review needs no source file."""
    by_number = {line.number: line for line in doc.lines}
    cells: dict[str, dict] = {}
    for path, number in table.result.lines.items():
        line = by_number[number]
        place = {"line": number, "page": line.page, "table": line.table}
        cells[path.split(".", 1)[1]] = {k: v for k, v in place.items() if v is not None}
    # A scanned table a person must look at carries, per cell, the picture of where it was read.
    in_review = any(f.needs_review for f in table.findings)
    for path, read in _ocr_reads(table.result, doc).items():
        cell = cells[path.split(".", 1)[1]]
        cell.update(source="ocr", confidence=read.confidence)
        if read.corrected:
            cell["corrected"] = True
        if in_review or read.suspect:
            cell["crop"] = read.crop
    for cell, source in table.sources.items():
        cells.setdefault(cell, {})["source"] = source
    pages = sorted({place["page"] for place in cells.values() if "page" in place})
    out = {"method": table.method, "lines": lines}
    if pages:
        out["pages"] = f"{pages[0]}-{pages[-1]}" if len(pages) > 1 else str(pages[0])
    out["cells"] = cells
    first, last = (int(n) for n in lines.split("-"))
    out["text"] = [
        [line.number, text] for line in printed.lines if first <= line.number <= last and (text := line.pipe_text).strip()
    ]
    return out


def unreadable_input(name: str, message: str, kind: str = "unreadable_input") -> dict:
    """The `failed` record of an input that is not a report, so a multi-file run loses no input."""
    return {
        "schema_version": SCHEMA_VERSION,
        "report": {"agency": None, "year": None, "template": None},
        **{table.key: None for table in T.TABLES},
        "status": "failed",
        "findings": [Finding(kind, [], message).to_dict()],
        "source": {"name": name},
        "gxllm_version": __version__,
    }


def extract_bytes(
    data: bytes, name: str, *, encoding: str | None = None, llm: str = "never", reader: Reader | None = None
) -> dict:
    """Extract one report from its bytes. Raises `InputError` for input that is not a report."""
    return extract_document(load(data, name, encoding), llm=llm, reader=reader)
