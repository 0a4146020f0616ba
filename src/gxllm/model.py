"""The result of reading one report, typed: what every stage after extraction works on.

`Result` holds the report's metadata, one `TableReading` per declared table, the findings, the
LLM usage and the source. Cells are `CellRef`s and line ranges are pairs of numbers here; the
strings of the canonical JSON ("table.row.column", "73-101") exist only in `result_json`, the
one place that writes and reads that JSON (`Result.to_json`, `result_json.from_json`).

Cheap on purpose (slotted dataclasses, no pydantic): a result is built for every report in the
hot path. The pydantic model of the same JSON, for its schema, is in `schema.py` and is imported
on first use of `model.Report` or `model.json_schema`; `python -m gxllm.model` prints the schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import template as T
from .findings import Finding
from .template import CellRef

Value = int | float | None


# Sentinel: a provenance without a `previous` value (None is a value: the cell was blank).
NO_VALUE: Any = type("NoValue", (), {"__repr__": lambda self: "NO_VALUE"})()


@dataclass(slots=True)
class Provenance:
    """Where one cell's value came from: the line (and page of a PDF, table ordinal of an HTML,
    DOCX or PDF) it was printed on, which path read it (rules, llm, both, disagreement, ocr,
    human), whether the identities split it from glued digits, and for a scan the OCR's
    confidence and picture. A person's decision adds the value it replaced and their note."""

    line: int | None = None
    page: int | None = None
    table: int | None = None
    source: str | None = None
    split: bool = False
    confidence: float | None = None
    corrected: bool = False
    crop: Any = None
    previous: Any = NO_VALUE
    note: str | None = None
    # The JSON keeps each key where it was first written: a person's decision on a cell no
    # path had named writes `source` after `previous`.
    source_after_previous: bool = False
    extra: dict | None = None  # keys a newer or older gxllm wrote that this one does not know


@dataclass(slots=True)
class TableReading:
    """One table of one report: its declared shape, its values (row -> column -> value, with
    the printed unit beside an amount), and where they were read."""

    key: str
    shape: T.Shape
    values: dict[str, dict[str, Any]]
    found: bool = True
    cells: dict[CellRef, Provenance] = field(default_factory=dict)
    method: str | None = None  # rules | llm | rules+llm | human; None: no provenance written
    lines: tuple[int, int] | None = None  # the first and last line of the table
    pages: tuple[int, int] | None = None
    text: list[tuple[int, str]] | None = None  # the table's lines as printed, (number, text)

    def value(self, cell: CellRef) -> Value:
        return (self.values.get(cell.row) or {}).get(cell.column)


@dataclass(slots=True)
class ReportInfo:
    agency: str | None = None
    year: int | None = None
    template: str | None = None


@dataclass(slots=True)
class LLMUsage:
    """The LLM calls made for one report (each as `LLMAnswer.record` gives it) and their sums."""

    calls: list[dict]
    input_tokens: int
    output_tokens: int
    cost: float

    @classmethod
    def of(cls, calls: list[dict]) -> LLMUsage:
        return cls(
            calls,
            sum(c.get("input_tokens", 0) for c in calls),
            sum(c.get("output_tokens", 0) for c in calls),
            round(sum(c.get("cost", 0.0) for c in calls), 6),
        )


@dataclass(slots=True)
class Result:
    """One report as read. `tables` has every declared table in template order; a table is
    None only in the record of an input that could not be read at all."""

    report: ReportInfo
    tables: dict[str, TableReading | None]
    findings: list[Finding]
    source: dict | None = None  # name, format, encoding, sha256, bytes[, ocr_pages]
    llm: LLMUsage | None = None
    version: str | None = None  # gxllm_version
    schema_version: int | None = None
    located: bool = True  # writes where its tables were found: table_shapes, tables_absent, provenance
    report_id: str | None = None  # given by a batch run
    extra: dict = field(default_factory=dict)  # other top-level keys, kept as they are
    template: T.Template = T.NATIONAL  # the tables it was read with

    @property
    def status(self) -> str:
        """failed: no table found; review: a finding needs a person; else ok."""
        if not any(t is not None and t.found for t in self.tables.values()):
            return "failed"
        return "review" if any(f.needs_review for f in self.findings) else "ok"

    @property
    def found(self) -> list[TableReading]:
        return [t for t in self.tables.values() if t is not None and t.found]

    @property
    def source_name(self) -> str | None:
        return (self.source or {}).get("name")

    def value(self, cell: CellRef) -> Value:
        reading = self.tables.get(cell.table)
        return reading.value(cell) if reading is not None else None

    def to_json(self) -> dict:
        """The canonical dict (`../shared/spec/canonical-output.md`)."""
        from .result_json import to_json

        return to_json(self)


@dataclass(frozen=True, slots=True)
class ValueRule:
    """What a column of one value kind (`template.ValueKind`) holds, declared once: validate
    checks read values with it, apply a reviewer's values, and the review page (serialised into
    its script) what a reviewer types."""

    kind: str
    whole: bool  # a whole number
    negative: bool  # may be below zero
    expected: str  # how a finding names what the value should be
    refusal: str  # why apply refuses a decided value: a template of {cell} and {value}
    page_error: str  # why the review page refuses it, as a reviewer reads it

    def holds(self, value: int | float) -> bool:
        return not ((self.whole and not float(value).is_integer()) or (not self.negative and value < 0))


VALUE_KINDS = {
    rule.kind: rule
    for rule in (
        ValueRule("count", True, False, "a non-negative integer", "{cell} is a count; {value} is not a non-negative whole number",
                  "计数须为非负整数 a count must be a non-negative whole number"),
        ValueRule("signed", True, True, "an integer", "{cell} is a whole number; {value} is not", "须为整数 must be a whole number"),
        ValueRule("money", False, False, "a non-negative amount", "{cell} is an amount; {value} is negative",
                  "金额不能为负 an amount cannot be negative"),
    )
}  # fmt: skip


def report_id(source: str, sha256: str | None) -> str:
    """A short stable id: the content hash, or for an unreadable input the hash of its name."""
    import hashlib

    return (sha256 or hashlib.sha256(source.encode("utf-8")).hexdigest())[:16]


def json_schema(*template: T.Template) -> str:
    """The JSON schema of a report (`schema.json_schema`)."""
    from .schema import json_schema

    return json_schema(*template)


def __getattr__(name: str) -> Any:
    # The pydantic model (`Report`, `report_model`, `FindingModel`), built on first use.
    if name in ("Report", "report_model", "FindingModel"):
        from . import schema

        return getattr(schema, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


if __name__ == "__main__":
    print(json_schema(), end="")
