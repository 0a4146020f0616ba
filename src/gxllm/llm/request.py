"""What the LLM is asked, and how its answer is read back: pure functions of the template.

The response model is generated from the same table shapes the parser and validator use, in a
compact form (one array of numbers per row, in column order) so that a whole 表三 costs a few
hundred output tokens. The instruction is a versioned file in `prompts/`; its version is part of
the response-cache key, so editing the prompt means bumping the file name.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any, Optional, Union

from .. import template as T
from ..document import Line

if TYPE_CHECKING:  # pydantic loads only when a request is built: a rules-only run never needs it
    from pydantic import BaseModel

PROMPT_FILE = "extract_table.v1.md"
PROMPT_VERSION = PROMPT_FILE.removesuffix(".md")

Number = Optional[Union[int, float]]
TableValues = dict[str, dict[str, Number]]


@dataclass
class LLMAnswer:
    """One table as the LLM read it (`values`, None when it failed or was not asked), with what the
    call took: tokens, cost, attempts, seconds; `error` says why there are no values."""

    table: str
    model: str
    mode: str
    values: TableValues | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0
    attempts: int = 0
    seconds: float = 0.0
    cached: bool = False
    error: str | None = None
    last_reply: str | None = None
    budget: bool = False  # not asked: the budget would be exceeded (budget.BudgetedReader)

    def record(self) -> dict:
        """What the result shows of this call (values are in the tables themselves)."""
        out = {k: v for k, v in asdict(self).items() if k != "values" and not (k == "budget" and not v)}
        return {k: v for k, v in out.items() if v is not None}


def _without_titles(schema: dict[str, Any]) -> None:
    for field in schema.get("properties", {}).values():
        field.pop("title", None)


@lru_cache(maxsize=None)
def instruction() -> str:
    import importlib.resources

    return importlib.resources.files("gxllm").joinpath("prompts", PROMPT_FILE).read_text("utf-8")


def _columns(shape: T.Shape, row: T.Row) -> str:
    return "[" + ", ".join(c.label for c in shape.columns_of(row)) + "]"


@lru_cache(maxsize=None)
def response_model(shape: T.Shape, template: T.Template = T.NATIONAL) -> type[BaseModel]:
    """One field per row key: a list of exactly as many numbers (or nulls) as the row has columns.

    Field descriptions are the printed row labels; the column order is said once in the request
    (per row only for 表二, whose rows have their own columns), to keep the schema small.
    """
    from pydantic import ConfigDict, Field, WithJsonSchema, create_model

    # JSON "number" takes integers too (counts are turned back into ints); the compact type list
    # instead of anyOf keeps the tool schema of a whole 表三 small.
    cell = Annotated[Optional[float], WithJsonSchema({"type": ["number", "null"]})]
    fields: dict[str, Any] = {}
    for row in shape.rows:
        width = len(shape.columns_of(row))
        cells = Annotated[list[cell], Field(min_length=width, max_length=width)]
        label = row.label if shape.columns else f"{row.label} {_columns(shape, row)}"
        fields[row.key] = (cells, Field(..., description=label))
    title = template.table(shape.table)
    return create_model(
        f"{shape.table}_{shape.variant}_{len(shape.columns)}",
        __config__=ConfigDict(extra="forbid", title=shape.table, json_schema_extra=_without_titles),
        __doc__=f"{title.number} {title.title}: each row's printed numbers in column order (null = blank).",
        **fields,
    )


def region_text(lines: list[Line]) -> str:
    """The located table as compact text: one source line per line, cells separated by " | "."""
    return "\n".join(line.pipe_text for line in lines if line.cells)


def messages(shape: T.Shape, text: str, template: T.Template = T.NATIONAL) -> list[dict[str, str]]:
    table = template.table(shape.table)
    columns = f"Columns of every row, in order: {_columns(shape, shape.rows[0])}\n" if shape.columns else ""
    return [
        {"role": "system", "content": instruction()},
        {"role": "user", "content": f"{table.number} {table.title}\n{columns}\nTable text:\n{text}"},
    ]


def values_of(answer: BaseModel, shape: T.Shape) -> TableValues:
    """The answer as {row: {column: value}}, the shape `TableResult.values` has."""
    data = answer.model_dump()
    return {
        row.key: {column.key: _typed(value, column) for column, value in zip(shape.columns_of(row), data[row.key])}
        for row in shape.rows
    }


def _typed(value: float | None, column: T.Column) -> Number:
    if value is None or column.kind == "money" or not float(value).is_integer():
        return value
    return int(value)
