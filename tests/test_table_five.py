"""A table is data: a made-up 表五 declared in a test-only template is located, read, verified,
printed on the review page and in the JSON schema, without touching any module."""

import dataclasses
import json

import pytest
from layouts import render_pipe_rows, sample_report

from gxllm import template as T
from gxllm.errors import TemplateError
from gxllm.pipeline import extract_bytes
from gxllm.model import json_schema, report_model
from gxllm.review.conflicts import review_report
from gxllm.review.page import render_html

COLUMNS = (T.Column("times", "收费次数"), T.Column("amount", "收费金额", "money"))
ROWS = (
    T.Row("copying", "复制费", r"复制费"),
    T.Row("postage", "邮寄费", r"邮寄费"),
    T.Row("total", "合计", r"合计"),
)
FEES_TOTAL = T.SumIdentity("T5-total", "fees", "column", ("total",), ("copying", "postage"), "合计 = 复制费 + 邮寄费")
FEES = T.Table(
    "fees", "表五", "政府信息公开收费情况", r"政府信息公开收费情况", False,
    (T.Shape("fees", "2021", ROWS, COLUMNS, (FEES_TOTAL,)),), ends=T.LATER_SECTIONS,
)  # fmt: skip
WITH_FEES = dataclasses.replace(T.NATIONAL, tables=T.NATIONAL.tables + (FEES,))

FEES_READ = {
    "copying": {"times": 3, "amount": 12.5},
    "postage": {"times": 2, "amount": 8},
    "total": {"times": 5, "amount": 20.5},
}
REPORT = sample_report(3)
LATER = "五、存在的主要问题"


def report_text(heading: str, total: str = "5 | 20.5") -> str:
    """A text report with 表五 printed after 表四, the sections after it numbered on."""
    fees = f"{heading}\n收费项目 | 收费次数 | 收费金额\n复制费 | 3 | 12.5\n邮寄费 | 2 | 8\n合计 | {total}\n"
    text = render_pipe_rows(REPORT).replace("六、其他需要报告", "七、其他需要报告")
    assert LATER in text
    return text.replace(LATER, fees + "六、存在的主要问题")


def extract(text: str, template: T.Template = WITH_FEES) -> dict:
    return extract_bytes(text.encode("utf-8"), "report.txt", template=template)


def line_of(text: str, start: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if line.startswith(start))


@pytest.mark.parametrize("heading", ["五、政府信息公开收费情况", "附表 政府信息公开收费情况"])
def test_fifth_table_is_located_read_and_verified(heading):
    text = report_text(heading)
    result = extract(text)

    assert result["status"] == "ok", result["findings"]
    assert result["fees"] == FEES_READ
    fees_start = line_of(text, heading)
    assert result["provenance"]["fees"]["lines"] == f"{fees_start}-{line_of(text, '合计')}"
    # 表四 ends where 表五 begins, and reads as it does without 表五.
    t4_end = int(result["provenance"]["reviews_and_lawsuits"]["lines"].split("-")[1])
    assert t4_end < fees_start
    for table in ("active_disclosure", "applications", "reviews_and_lawsuits"):
        assert result[table] == REPORT[table]
    assert "fees" not in result["table_shapes"]  # one shape
    report_model(WITH_FEES).model_validate(result)


def test_fifth_table_flattened_into_one_line_is_cut_at_its_own_labels():
    printed = "五、政府信息公开收费情况\n收费项目 | 收费次数 | 收费金额\n复制费 | 3 | 12.5\n邮寄费 | 2 | 8\n合计 | 5 | 20.5\n"
    text = report_text("五、政府信息公开收费情况").replace(printed, "五、政府信息公开收费情况收费项目收费次数收费金额复制费312.5邮寄费28合计520.5\n")
    result = extract(text)

    assert result["status"] == "ok", result["findings"]
    assert result["fees"] == FEES_READ
    (split,) = [f for f in result["findings"] if f["kind"] == "digits_split"]
    assert split["table"] == "fees" and split["rows"] == ["copying", "postage", "total"]
    assert result["provenance"]["fees"]["cells"]["copying.amount"]["split"] is True


def test_fifth_table_is_absent_where_not_printed():
    result = extract(render_pipe_rows(REPORT))
    assert result["status"] == "ok"
    assert result["tables_absent"] == ["fees"]
    assert result["fees"] == {row.key: dict.fromkeys(("times", "amount")) for row in ROWS}
    assert [f["kind"] for f in result["findings"]] == ["absent_optional"]


def test_fifth_table_identity_failing_is_a_finding_and_on_the_review_page():
    result = extract(report_text("五、政府信息公开收费情况", total="6 | 20.5"))

    assert result["status"] == "review"
    (finding,) = [f for f in result["findings"] if f["kind"] == "identity"]
    assert finding["identity"] == "T5-total"
    assert (finding["reported"], finding["computed"]) == (6, 5)
    assert finding["cells"] == ["fees.total.times", "fees.copying.times", "fees.postage.times"]
    assert finding["message"] == "T5-total 收费次数: 合计 = 复制费 + 邮寄费: 6=6 ≠ 3+2=5"

    item = review_report(result, WITH_FEES)
    # One failing identity: each of its cells is a suspect, in the order the table prints them.
    assert [c.path for c in item.conflicts] == ["fees.copying.times", "fees.postage.times", "fees.total.times"]
    assert {c.table_label for c in item.conflicts} == {"表五"}
    html = render_html([result], [item])
    block = html.split("<h3>表五 政府信息公开收费情况</h3>")[1].split("</table>")[0]
    assert [label in block for label in ("收费次数", "收费金额", "复制费", "邮寄费", "合计")] == [True] * 5
    assert ">12.5<" in block and ">20.5<" in block


def test_fifth_table_is_in_the_schema_of_its_template_only():
    schema = json.loads(json_schema(WITH_FEES))
    assert list(schema["properties"])[2:6] == ["active_disclosure", "applications", "reviews_and_lawsuits", "fees"]
    assert "fees" in schema["required"]
    assert set(schema["$defs"]["Fees"]["properties"]) == {"copying", "postage", "total"}
    assert "fees" not in json.loads(json_schema())["properties"]


def test_a_table_the_template_does_not_declare_is_an_error():
    with pytest.raises(TemplateError):
        T.shapes_of("fees")
    with pytest.raises(TemplateError):
        T.shape_for("fees", "2021")
    assert WITH_FEES.shapes_of("fees") == FEES.shapes
