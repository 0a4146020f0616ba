from pathlib import Path

from gxllm import template as T
from gxllm.model import Report, json_schema

SCHEMA = Path(__file__).parent.parent / "schemas" / "report.schema.json"


def test_schema_file_is_current():
    assert SCHEMA.read_text("utf-8") == json_schema(), "regenerate: python -m gxllm.model > schemas/report.schema.json"


def test_model_fields_come_from_the_template():
    fields = Report.model_fields["applications"].annotation.model_fields
    rows = {r.key for shape in T.shapes_of("applications") for r in shape.rows}
    assert set(fields) == rows
    assert len(rows) == 25 + 1  # 2021 sub-rows and the 2019 single (六) row
