"""The canonical JSON of a result (`../shared/spec/canonical-output.md`), written and read here
only: `to_json(result) -> dict` and `from_json(dict) -> Result`, and a finding's `finding_json`
and `finding_of`. The strings of the JSON (cell paths "table.row.column", "row.column" keys, line
ranges "73-101") exist only in this module.

`from_json(to_json(r))` gives `r` again, and `to_json(from_json(d)) == d` for every result gxllm
writes, key order included: the bytes of a result read and written back do not change.
"""

from __future__ import annotations

from typing import Any

from . import template as T
from .findings import Finding
from .model import NO_VALUE, CellRef, LLMUsage, Provenance, ReportInfo, Result, TableReading

_PROVENANCE_KEYS = frozenset(Provenance.__slots__) - {"source_after_previous", "extra"}


# --- cells and ranges -------------------------------------------------------------------------


def cell_path(cell: CellRef) -> str:
    return f"{cell.table}.{cell.row}.{cell.column}"


def parse_cell(path: str) -> CellRef | None:
    """The cell a "table.row.column" path names; None for anything else (a table key, "")."""
    cell = _CELLS.get(path)
    if cell is None:
        parts = path.split(".")
        if len(parts) != 3:
            return None
        cell = _CELLS[path] = CellRef(*parts)
    return cell


def _row_column(cell: CellRef) -> str:
    """A cell's key in its table's provenance: "row.column"."""
    key = _KEYS.get(cell)
    if key is None:
        key = _KEYS[cell] = f"{cell.row}.{cell.column}"
    return key


# Every report names the same few hundred cells: each path is split (and each key joined) once.
_CELLS: dict[str, CellRef] = {}
_KEYS: dict[CellRef, str] = {}


def line_range(pair: tuple[int, int]) -> str:
    return f"{pair[0]}-{pair[1]}"


def page_range(pair: tuple[int, int]) -> str:
    return line_range(pair) if pair[0] != pair[1] else str(pair[0])


def _parse_range(text: str) -> tuple[int, int]:
    first, _, last = text.partition("-")
    return int(first), int(last or first)


# --- findings ---------------------------------------------------------------------------------


def finding_paths(finding: Finding) -> list[str]:
    """What a finding names, as its JSON's `cells`: the tables it names, then its cells' paths."""
    return [*finding.tables, *map(cell_path, finding.cells)]


def finding_json(finding: Finding) -> dict:
    """A finding's dict, each key where gxllm first writes it."""
    out: dict = {"kind": finding.kind, "cells": finding_paths(finding), "message": finding.message}
    if finding.identity is not None:
        out.update(identity=finding.identity, reported=finding.reported, computed=finding.computed)
    if finding.blank_as_zero:
        out["blank_as_zero"] = [cell_path(c) for c in finding.blank_as_zero]
    for key, value in finding.details.items():  # a detail by cell (ocr confidence) is keyed by path
        out[key] = {cell_path(k): v for k, v in value.items()} if _by_cell(value, CellRef) else value
    return out


def finding_of(data: dict) -> Finding:
    """A finding as `finding_json` wrote it."""
    details = {k: _cells_keyed(v) for k, v in data.items() if k not in _FINDING_KEYS}
    cells, tables = [], []
    for path in data["cells"]:
        cell = parse_cell(path)
        if cell is None:
            tables.append(path)
        else:
            cells.append(cell)
    blank = [parse_cell(path) for path in data.get("blank_as_zero", ())]
    if "identity" in data:
        return Finding(data["kind"], cells, data["message"], data["identity"], data.get("reported"), data.get("computed"),
                       blank, details, tables)  # fmt: skip
    return Finding(data["kind"], cells, data["message"], blank_as_zero=blank, details=details, tables=tables)


_FINDING_KEYS = frozenset(("kind", "cells", "message", "identity", "reported", "computed", "blank_as_zero"))


def _by_cell(value: Any, key_type: type) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(k, key_type) for k in value)


def _cells_keyed(value: Any) -> Any:
    """A detail keyed by cell paths, keyed by cells; any other detail as it is."""
    if _by_cell(value, str) and all(parse_cell(k) is not None for k in value):
        return {parse_cell(k): v for k, v in value.items()}
    return value


# --- writing ----------------------------------------------------------------------------------


def provenance_json(cell: Provenance) -> dict:
    """A cell's provenance, each key where gxllm first writes it (an `if` a key: this runs for
    every cell of every report)."""
    out: dict[str, Any] = {}
    if cell.line is not None:
        out["line"] = cell.line
    if cell.page is not None:
        out["page"] = cell.page
    if cell.table is not None:
        out["table"] = cell.table
    if cell.source is not None and not cell.source_after_previous:
        out["source"] = cell.source
    if cell.split:
        out["split"] = True
    if cell.confidence is not None:
        out["confidence"] = cell.confidence
    if cell.corrected:
        out["corrected"] = True
    if cell.crop is not None:
        out["crop"] = cell.crop
    if cell.previous is not NO_VALUE:
        out["previous"] = cell.previous
    if cell.source is not None and cell.source_after_previous:
        out["source"] = cell.source
    if cell.note is not None:
        out["note"] = cell.note
    if cell.extra:
        out.update(cell.extra)
    return out


def _table_provenance(reading: TableReading) -> dict:
    out: dict[str, Any] = {"method": reading.method}
    if reading.lines is not None:
        out["lines"] = line_range(reading.lines)
    if reading.pages is not None:
        out["pages"] = page_range(reading.pages)
    keys = _KEYS  # every cell of every report: its key joined once, looked up here without a call
    out["cells"] = {keys.get(ref) or _row_column(ref): provenance_json(cell) for ref, cell in reading.cells.items()}
    if reading.text is not None:
        out["text"] = list(map(list, reading.text))  # [number, text]
    return out


def to_json(result: Result) -> dict:
    """The canonical dict of a result. It shares the tables' value dicts with the result."""
    out: dict[str, Any] = {}
    if result.schema_version is not None:
        out["schema_version"] = result.schema_version
    info = result.report
    out["report"] = {"agency": info.agency, "year": info.year, "template": info.template}
    for key, reading in result.tables.items():
        out[key] = None if reading is None else reading.values
    out["status"] = result.status
    out["findings"] = [finding_json(f) for f in result.findings]
    found = result.found
    if result.located:
        out["table_shapes"] = {t.key: t.shape.variant for t in found if len(result.template.table(t.key).shapes) > 1}
        out["tables_absent"] = [k for k, t in result.tables.items() if t is None or not t.found]
    described = [t for t in result.tables.values() if t is not None and t.method is not None]
    if result.located or described:
        out["provenance"] = {t.key: _table_provenance(t) for t in described}
    if result.llm is not None:
        usage = result.llm
        out["llm"] = {"calls": usage.calls, "input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens,
                      "cost": usage.cost}  # fmt: skip
    tail = (("source", result.source), ("gxllm_version", result.version), ("report_id", result.report_id))
    out.update((key, value) for key, value in tail if value is not None)
    out.update(result.extra)
    return out


# --- reading ----------------------------------------------------------------------------------

_KNOWN = frozenset(
    ("schema_version", "report", "status", "findings", "table_shapes", "tables_absent", "provenance", "llm", "source",
     "gxllm_version", "report_id")
)  # fmt: skip


def provenance_of(data: dict) -> Provenance:
    keys = list(data)
    extra = {k: v for k, v in data.items() if k not in _PROVENANCE_KEYS}
    return Provenance(
        data.get("line"), data.get("page"), data.get("table"), data.get("source"), bool(data.get("split")),
        data.get("confidence"), bool(data.get("corrected")), data.get("crop"), data.get("previous", NO_VALUE),
        data.get("note"),
        "previous" in data and "source" in data and keys.index("previous") < keys.index("source"),
        extra or None,
    )  # fmt: skip


def shape_of(key: str, values: dict, variant: str | None, template: T.Template = T.NATIONAL) -> T.Shape:
    """The declared shape a table of a stored result has (by its variant, rows and columns)."""
    columns = {c for row in values.values() for c in row if c != T.AMOUNT_UNIT_KEY}
    return template.shape_for(key, variant, set(values), columns)


def from_json(data: dict, template: T.Template = T.NATIONAL) -> Result:
    """The result a canonical dict holds (read with `template`'s tables); raises KeyError or
    ValueError for one gxllm did not write."""
    meta = data.get("report") or {}
    findings = [finding_of(f) for f in data.get("findings", [])]
    located = "tables_absent" in data
    if located:
        absent = set(data["tables_absent"])
    else:  # a golden excerpt: the absent tables are the ones a finding says are absent
        absent = {f.tables[0] for f in findings if f.kind in ("absent", "absent_optional") and len(f.tables) == 1}
    shapes = data.get("table_shapes") or {}
    provenance = data.get("provenance") or {}
    tables: dict[str, TableReading | None] = {}
    for table in template.tables:
        stored = data.get(table.key)
        if stored is None:
            tables[table.key] = None
            continue
        values = {row: dict(columns) for row, columns in stored.items()}
        reading = TableReading(
            table.key, shape_of(table.key, values, shapes.get(table.key) or meta.get("template"), template), values,
            table.key not in absent,
        )  # fmt: skip
        where = provenance.get(table.key)
        if where is not None:
            reading.method = where.get("method")
            reading.lines = _parse_range(where["lines"]) if "lines" in where else None
            reading.pages = _parse_range(where["pages"]) if "pages" in where else None
            reading.cells = {
                parse_cell(f"{table.key}.{path}"): provenance_of(cell) for path, cell in where.get("cells", {}).items()
            }
            reading.text = [(number, text) for number, text in where["text"]] if "text" in where else None
        tables[table.key] = reading
    llm = data.get("llm")
    return Result(
        ReportInfo(meta.get("agency"), meta.get("year"), meta.get("template")),
        tables,
        findings,
        data.get("source"),
        LLMUsage(llm["calls"], llm["input_tokens"], llm["output_tokens"], llm["cost"]) if llm is not None else None,
        data.get("gxllm_version"),
        data.get("schema_version"),
        located,
        data.get("report_id"),
        {k: v for k, v in data.items() if k not in _KNOWN and k not in tables},
        template,
    )


def as_result(result: Result | dict, template: T.Template = T.NATIONAL) -> Result:
    """A result typed: as it is, or read from its canonical dict (with `template`'s tables)."""
    return result if isinstance(result, Result) else from_json(result, template)
