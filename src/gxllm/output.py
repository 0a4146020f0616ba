"""Writers for extraction results: JSON, JSON Lines and long-format CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from . import template as T

CSV_FIELDS = ("file", "table", "row", "column", "label", "value", "status")


def to_json(results: list[dict]) -> str:
    payload = results[0] if len(results) == 1 else results
    return json.dumps(payload, ensure_ascii=False, indent=2) + "\n"


def to_jsonl(result: dict) -> str:
    return json.dumps(result, ensure_ascii=False) + "\n"


def shape_of(result: dict, table: str, template: T.Template = T.NATIONAL) -> T.Shape:
    """The declared shape of one table of a result (by its variant, rows and columns)."""
    rows = result.get(table) or {}
    variant = result.get("table_shapes", {}).get(table) or result["report"].get("template")
    columns = {c for row in rows.values() for c in row if c != T.AMOUNT_UNIT_KEY}
    return template.shape_for(table, variant, set(rows), columns)


def cells(result: dict) -> Iterator[dict]:
    """One record per cell, in template order, with the Chinese labels."""
    for table in T.TABLES:
        rows = result.get(table.key) or {}
        shape = shape_of(result, table.key)
        for row in shape.rows:
            if row.key not in rows:
                continue
            for column in shape.columns_of(row):
                if column.key not in rows[row.key]:
                    continue
                yield {
                    "file": result.get("source", {}).get("name"),
                    "table": table.key,
                    "row": row.key,
                    "column": column.key,
                    "label": f"{table.number} {row.label} / {column.label}",
                    "value": rows[row.key][column.key],
                    "status": result["status"],
                }


def csv_header() -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(CSV_FIELDS)
    return buffer.getvalue()


def to_csv_rows(result: dict) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_FIELDS, lineterminator="\n")
    for record in cells(result):
        writer.writerow({**record, "value": "" if record["value"] is None else record["value"]})
    return buffer.getvalue()
