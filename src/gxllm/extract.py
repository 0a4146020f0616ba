"""The rule-based pipeline: load → normalise → split → locate → parse → verify → result.

`extract_document` is a pure function of a loaded document; `extract_bytes` adds loading.
The result is the canonical dict of `../shared/spec/canonical-output.md` (schema_version 1)
plus `status`, `findings` and where the values came from.
"""

from __future__ import annotations

import re

from . import __version__
from . import template as T
from .document import Document
from .findings import Finding
from .layout import split_cells
from .load import load
from .locate import Token, locate, tokenize
from .metadata import find_agency, find_year
from .normalize import normalize_document, squeeze
from .parse import TableResult, active_disclosure_variant, applications_layout, parse_reviews, parse_table
from .validate import validate

SCHEMA_VERSION = 1
UNREAD = ("missing", "unreadable")  # finding kinds whose cells hold no reading at all


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


def extract_document(doc: Document) -> dict:
    doc = split_cells(normalize_document(doc))
    lines = [squeeze(line.text) for line in doc.lines]
    text = "\n".join(lines)
    year = find_year(lines)
    tokens = tokenize(doc)
    results, line_ranges, template = _parse_all(tokens, text, year)

    findings: list[Finding] = []
    out: dict = {
        "schema_version": SCHEMA_VERSION,
        "report": {"agency": find_agency(lines), "year": year, "template": template},
    }
    for key, result in results.items():
        values = {row: dict(columns) for row, columns in result.values.items()}
        for row, extra in result.extras.items():
            values[row].update(extra)
        out[key] = values
        findings += result.findings
        if result.found:
            unread = {c for f in result.findings if f.kind in UNREAD for c in f.cells}
            findings += validate(key, result.shape, result.values, unread)

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
    out["provenance"] = {k: _provenance(results[k], line_ranges[k], doc) for k in found}
    out["source"] = {
        "name": doc.source.name,
        "format": doc.source.format,
        "encoding": doc.source.encoding,
        "sha256": doc.source.sha256,
        "bytes": doc.source.size,
    }
    out["gxllm_version"] = __version__
    return out


def _provenance(result: TableResult, lines: str, doc: Document) -> dict:
    """Where a table's values were read: its line range and, per cell, the source line and the
    page (PDF) or table ordinal (HTML, DOCX, PDF) so a reviewer can find the printed number."""
    by_number = {line.number: line for line in doc.lines}
    cells = {}
    for path, number in result.lines.items():
        line = by_number[number]
        place = {"line": number, "page": line.page, "table": line.table}
        cells[path.split(".", 1)[1]] = {k: v for k, v in place.items() if v is not None}
    pages = sorted({place["page"] for place in cells.values() if "page" in place})
    out = {"method": "rules", "lines": lines}
    if pages:
        out["pages"] = f"{pages[0]}-{pages[-1]}" if len(pages) > 1 else str(pages[0])
    out["cells"] = cells
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


def extract_bytes(data: bytes, name: str, *, encoding: str | None = None) -> dict:
    """Extract one report from its bytes. Raises `InputError` for input that is not a report."""
    return extract_document(load(data, name, encoding))
