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
from .document import Document, Line, OcrRead
from .findings import UNREAD, Finding
from .llm.request import region_text
from .load import load
from .locate import Token, locate, read_lines
from .metadata import find_agency, find_year
from .parse import READERS, TableResult, Value, detected_shape, shown_split
from .reconcile import reconcile
from .validate import holding_identities, number, validate

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
    message = f"{table.number} {table.title} not found in the report; its cells are null"
    return TableResult(table.key, None, shape.empty_values(), findings=[Finding(kind, [table.key], message)])


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
LLM_FINDINGS = ("unreadable", "missing", "unassigned", "identity")  # what makes `auto` ask the LLM


@dataclass
class _Table:
    """One table through both paths: the rule result, then what the LLM changed."""

    result: TableResult
    values: dict[str, dict[str, Value]]
    findings: list[Finding]
    sources: dict[str, str] = field(default_factory=dict)  # "row.column" -> rules | llm | both | disagreement
    method: str = "rules"


def extract_document(
    doc: Document, *, llm: str = "never", reader: Reader | None = None, template: T.Template = T.NATIONAL
) -> dict:
    """The canonical result of a loaded document.

    `llm`: "never" reads with the rules only; "auto" asks `reader` for the tables the rules could
    not fill or whose identities fail; "always" asks it for every table found and compares every
    cell. Without a reader, "auto" notes each table that needed the LLM (status review).
    `template`: the tables to find and read (the national template unless another is given).
    """
    printed = doc  # as loaded: the excerpts a reviewer reads
    doc, lines, tokens = read_lines(doc)
    text = "\n".join(lines)
    year = find_year(lines)
    results, spans, variant = _parse_all(tokens, text, year, template)

    findings: list[Finding] = []
    calls: list[LLMAnswer] = []
    out: dict = {
        "schema_version": SCHEMA_VERSION,
        "report": {"agency": find_agency(lines), "year": year, "template": variant},
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
                answer = reader(result.shape, _llm_text(doc, spans[key], table.findings))
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
        *others, last = [t.number for t in template.tables]
        names = f"{', '.join(others)} or {last}" if others else last
        findings.insert(0, Finding("no_table", [], f"no {names} found; is this a 政府信息公开工作年度报告?"))
    elif any(f.needs_review for f in findings):
        status = "review"
    else:
        status = "ok"
    out["status"] = status
    out["findings"] = [f.to_dict() for f in findings]
    out["table_shapes"] = {k: results[k].shape.variant for k in found if len(template.table(k).shapes) > 1}
    out["tables_absent"] = [k for k in results if k not in found]
    by_number = {line.number: line for line in doc.lines}
    out["provenance"] = {k: _provenance(tables[k], spans[k], by_number, doc, printed) for k in found}
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


def _row_keys(cells: list[str]) -> str:
    return " ".join(dict.fromkeys(c.split(".")[1] for c in cells))


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
    not_splits = _not_splits(table.findings, answer.values)
    refused = {c for f in not_splits for c in f.cells}
    merged = reconcile(shape, table.result.values, unread, answer.values, refused)
    table.values = merged.values
    table.sources = merged.sources
    table.method = "llm" if set(merged.sources.values()) == {"llm"} else "rules+llm"
    # Rows the rules could not read are now read: their findings stay, as information; the
    # identities are checked again on the merged values.
    kept = [
        Finding("read_by_llm", f.cells, f"{f.message}; read by the LLM") if f.kind in UNREAD and not refused & set(f.cells) else f
        for f in table.findings
        if f.kind != "identity"
    ]
    table.findings = kept + not_splits + merged.findings + validate(shape.table, shape, merged.values, refused)


def _not_splits(findings: list[Finding], llm: dict) -> list[Finding]:
    """The LLM's readings of glued rows that are not a split of the printed digits: it changed or
    invented a digit, so its reading is refused and the row stays unread."""
    out = []
    for finding in findings:
        run = finding.details.get("run") if finding.kind == "unreadable" else None
        if run is None:
            continue
        values = [llm[row][column] for row, column in (c.split(".")[1:] for c in finding.cells)]
        read = "".join(number(v) for v in values if v is not None)
        if read != re.sub(r"[^\d.\-]", "", run):
            out.append(
                Finding(
                    "llm_unverified",
                    finding.cells,
                    f"the LLM read {shown_split(values)}, which is not a split of the printed digits 「{run}」; the cells stay unread",
                )
            )
    return out


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


def _provenance(table: _Table, span: Span, by_number: dict[int, Line], doc: Document, printed: Document) -> dict:
    """Where a table's values were read: its line range and, per cell, the source line and the
    page (PDF) or table ordinal (HTML, DOCX, PDF) so a reviewer can find the printed number,
    and which path read it (rules, llm, both, disagreement) when the LLM was asked. `text` is
    the table's lines as printed ([number, text] pairs), so a review needs no source file."""
    cells: dict[str, dict] = {}
    for path, number in table.result.lines.items():
        line = by_number[number]
        place = {"line": number, "page": line.page, "table": line.table}
        cells[path.split(".", 1)[1]] = {k: v for k, v in place.items() if v is not None}
    for path in table.result.split:  # decided by the identities, not by printed boundaries
        cells.setdefault(path.split(".", 1)[1], {}).update(source="rules", split=True)
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
    (first, _), (last, _) = span
    out = {"method": table.method, "lines": f"{first}-{last}"}
    if pages:
        out["pages"] = f"{pages[0]}-{pages[-1]}" if len(pages) > 1 else str(pages[0])
    out["cells"] = cells
    # loaders number lines 1, 2, 3…: the table's lines are a slice
    out["text"] = [
        [line.number, text]
        for line in printed.lines[first - 1 : last]
        if first <= line.number <= last and (text := line.pipe_text).strip()
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
    data: bytes,
    name: str,
    *,
    encoding: str | None = None,
    llm: str = "never",
    reader: Reader | None = None,
    template: T.Template = T.NATIONAL,
) -> dict:
    """Extract one report from its bytes. Raises `InputError` for input that is not a report."""
    return extract_document(load(data, name, encoding), llm=llm, reader=reader, template=template)
