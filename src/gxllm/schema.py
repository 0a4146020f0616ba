"""The canonical JSON as a pydantic model, generated from the template declarations: the
schema `python -m gxllm.model` prints (kept in `schemas/report.schema.json`). Imported only for
the schema, so that reading a report imports no pydantic (`model` loads it on first use).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from . import template as T

Number = Optional[Union[int, float]]


def _row_model(name: str, columns: dict[str, T.Column], extra: dict[str, Any] | None = None) -> type[BaseModel]:
    fields: dict[str, Any] = {
        key: (Number, Field(None, description=column.label)) for key, column in columns.items()
    }
    fields.update(extra or {})
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


def _table_model(table: T.Table) -> type[BaseModel]:
    """A model whose fields are every row any shape of the table has; each row its columns."""
    rows: dict[str, T.Row] = {}
    columns: dict[str, dict[str, T.Column]] = {}
    required: set[str] | None = None
    for shape in table.shapes:
        keys = {r.key for r in shape.rows}
        required = keys if required is None else required & keys
        for row in shape.rows:
            rows.setdefault(row.key, row)
            columns.setdefault(row.key, {}).update({c.key: c for c in shape.columns_of(row)})
    title = "".join(part.title() for part in table.key.split("_"))
    fields: dict[str, Any] = {}
    models: dict[tuple[str, ...], type[BaseModel]] = {}  # rows with the same columns share one
    for key, row in rows.items():
        units = [c.unit_key for c in columns[key].values() if c.unit_key]
        extra = {u: (Optional[str], None) for u in units}
        signature = tuple(columns[key]) + tuple(extra or ())
        if signature not in models:
            models[signature] = _row_model(f"{title}Row_{key}", columns[key], extra)
        model = models[signature]
        fields[key] = (model, Field(..., description=row.label)) if key in required else (Optional[model], None)
    return create_model(title, __config__=ConfigDict(extra="forbid"), **fields)


class ReportInfo(BaseModel):
    agency: Optional[str] = None
    year: Optional[int] = None
    template: Optional[Literal["2021", "2019"]] = None


class FindingModel(BaseModel):
    kind: str
    cells: list[str]
    message: str
    identity: Optional[str] = None
    reported: Number = None
    computed: Number = None
    blank_as_zero: list[str] = []


class _ReportFields(BaseModel):
    """The fields of a report around its tables (which the template gives)."""

    model_config = ConfigDict(extra="allow")

    schema_version: Literal[1]
    report: ReportInfo
    status: Literal["ok", "review", "failed"]
    findings: list[FindingModel]
    table_shapes: dict[str, Literal["2021", "2019"]] = {}
    tables_absent: list[str] = []
    provenance: dict[str, dict[str, Any]] = {}
    source: dict[str, Any] = {}
    gxllm_version: Optional[str] = None


@lru_cache(maxsize=None)
def report_model(template: T.Template = T.NATIONAL) -> type[BaseModel]:
    """One report, as `gxllm extract` writes it (schema_version 1)."""
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in _ReportFields.model_fields.items()
    }
    head = {name: fields.pop(name) for name in ("schema_version", "report")}
    tables = {table.key: (_table_model(table), ...) for table in template.tables}
    return create_model(
        "Report",
        __config__=ConfigDict(extra="allow"),
        __doc__=report_model.__doc__,
        **head,
        **tables,
        **fields,
    )


Report = report_model()


def json_schema(template: T.Template = T.NATIONAL) -> str:
    return json.dumps(report_model(template).model_json_schema(), ensure_ascii=False, indent=2) + "\n"
